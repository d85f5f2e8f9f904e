#!/usr/bin/env bash
# Builds the libFuzzer targets (the fuzz preset: clang, ASan + UBSan) and runs each one for a
# bounded time from its seed corpus in tests/fuzz/corpus/<target>/.
#   tests/fuzz/run.sh              # 60 s per target
#   tests/fuzz/run.sh 600          # a longer run
#   tests/fuzz/run.sh 60 sse       # only the named targets
# New inputs go to a temporary working corpus that is deleted afterwards; the repository's seed
# corpus is only read. A crash stops that target, its input is kept as build/fuzz/crashes/...,
# and the script exits non-zero. Environment:
#   BULWARK_FUZZ_SEED=N   fixed libFuzzer seed (CI sets one so that a run can be repeated)
#   BULWARK_FUZZ_JOBS=N   targets run side by side (default 1)
#   BULWARK_FUZZ_KEEP=DIR keep the working corpora in DIR instead of deleting them
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
seconds=${1:-60}
shift || true
all_targets=(http_request sse upstream_response config cache_json)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
case "$seconds" in
  ''|*[!0-9]*) echo "usage: tests/fuzz/run.sh [seconds-per-target] [target...]" >&2; exit 2 ;;
esac

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

build=$root/build/fuzz
crashes=$build/crashes
mkdir -p "$crashes"
work=${BULWARK_FUZZ_KEEP:-$(mktemp -d)}
[ -n "${BULWARK_FUZZ_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"

# detect_leaks: the loop-based targets must free everything per input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_target() {
  local target=$1
  local binary=$build/tests/fuzz/bulwark_fuzz_$target
  local corpus=$work/$target
  local log=$work/$target.log
  mkdir -p "$corpus" "$crashes/$target"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384
              -print_final_stats=1 -artifact_prefix="$crashes/$target/")
  [ -z "${BULWARK_FUZZ_SEED:-}" ] || args+=(-seed="$BULWARK_FUZZ_SEED")
  local rc=0
  # libFuzzer stops itself after max_total_time; timeout is for a target that stops answering.
  timeout --kill-after=10 $((seconds + 60)) "$binary" "${args[@]}" "$corpus" \
    "tests/fuzz/corpus/$target" >"$log" 2>&1 || rc=$?
  [ "$rc" -ne 124 ] || echo "fuzz $target: still running $((seconds + 60)) s after its start; stopped" >>"$log"
  local execs rate cov ft
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ "$rc" -eq 0 ]; then
    printf 'fuzz %-18s ok    %10s execs %7s/s  cov %5s  ft %6s  corpus %s\n' "$target" \
      "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$(ls "$corpus" | wc -l)"
  else
    printf 'fuzz %-18s CRASH %10s execs (exit %s); input in %s\n' "$target" "${execs:-?}" "$rc" \
      "$crashes/$target/"
    # The report: the check or sanitizer message and its stack.
    grep -v '^#\|^INFO:\|^MS:\|^base64:\|^0x\|NEW_FUNC' "$log" | head -60
  fi
  return "$rc"
}

jobs=${BULWARK_FUZZ_JOBS:-1}
failed=0
passed=0
pids=()
names=()
for target in "${targets[@]}"; do
  if [ ! -x "$build/tests/fuzz/bulwark_fuzz_$target" ]; then
    echo "fuzz: unknown target '$target' (known: ${all_targets[*]})" >&2
    exit 2
  fi
  run_target "$target" > "$work/$target.summary" &
  pids+=($!)
  names+=("$target")
  if [ ${#pids[@]} -ge "$jobs" ]; then
    if wait "${pids[0]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    cat "$work/${names[0]}.summary"
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  cat "$work/${names[$i]}.summary"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
