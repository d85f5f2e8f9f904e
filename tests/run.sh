#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every test: unit, integration and conformance,
# built with AddressSanitizer and UndefinedBehaviorSanitizer.
#   tests/run.sh                 # everything
#   tests/run.sh -L unit         # extra arguments go to ctest
#   BULWARK_PRESET=dev tests/run.sh   # an unsanitized build instead
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
preset=${BULWARK_PRESET:-asan}

deploy/setup.sh --tests
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
# halt_on_error keeps a sanitizer report from scrolling past as a mere warning.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --preset "$preset" "$@"
