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

deploy/setup.sh --tests
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
  BULWARK_FUZZ_JOBS=${BULWARK_FUZZ_JOBS:-$(nproc)} tests/fuzz/run.sh "$fuzz_seconds"
fi
# halt_on_error keeps a sanitizer report from scrolling past as a mere warning.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --preset "$preset" "$@"
