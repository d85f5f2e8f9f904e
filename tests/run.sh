#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every test: unit, integration and conformance,
# built with AddressSanitizer and UndefinedBehaviorSanitizer.
#   tests/run.sh                 # everything
#   tests/run.sh -L unit         # extra arguments go to ctest
#   BULWARK_PRESET=dev tests/run.sh   # an unsanitized build instead
# The full run (no ctest arguments) also fuzzes the tests/fuzz targets for 30 s each with their own
# clang build; BULWARK_FUZZ_SECONDS=N changes that (0 skips it, and any N>0 fuzzes even with
# ctest arguments). Every ctest run replays the fuzz corpora (label `fuzz`) either way.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
preset=${BULWARK_PRESET:-asan}

# Each phase is announced with the time since the start, so that a slow or stuck run shows where.
started=$SECONDS
phase() {
  local elapsed=$((SECONDS - started))
  printf 'run.sh [%02d:%02d] %s\n' $((elapsed / 60)) $((elapsed % 60)) "$*"
}

phase "setup (deploy/setup.sh --tests)"
deploy/setup.sh --tests
phase "build ($preset preset)"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
if [ -n "${BULWARK_FUZZ_SECONDS:-}" ]; then
  fuzz_seconds=$BULWARK_FUZZ_SECONDS
elif [ $# -eq 0 ]; then
  fuzz_seconds=30
else
  fuzz_seconds=0
fi
if [ "$fuzz_seconds" -gt 0 ]; then
  # Before ctest, so that ctest's summary stays the last thing printed.
  phase "fuzz (${fuzz_seconds} s per target)"
  BULWARK_FUZZ_JOBS=${BULWARK_FUZZ_JOBS:-$(nproc)} tests/fuzz/run.sh "$fuzz_seconds"
fi
# halt_on_error keeps a sanitizer report from scrolling past as a mere warning.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
phase "ctest"
# --timeout only bounds a test registered without its own TIMEOUT (every one has one today).
ctest --preset "$preset" --timeout 600 "$@"
phase "done"
