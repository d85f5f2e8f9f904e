#!/usr/bin/env bash
# Bulwark at scale: resident memory and CPU of the Bulwark process
#   1. idle, just started;
#   2. with M tools/call requests in flight at once (default 1,000), each an SSE stream of
#      progress notifications (25 over 5 s) before its result;
#   3. holding N idle MCP sessions (default 10,000), each an initialize, a
#      notifications/initialized and a GET SSE stream left open (so 2 sockets per session in
#      Bulwark: the client's and the upstream's).
# The upstream is tests/bench/scale_upstream.mjs, the client tests/bench/scale_client.mjs (Node),
# both bounded. Memory is VmRSS and VmHWM (peak, reset before each phase) from /proc/PID/status
# and process_resident_memory_bytes from /metrics; CPU is utime+stime from /proc/PID/stat.
#
# Exit status: 0 when every session and call succeeded, 1 otherwise, 2 on a usage error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

usage() {
  cat <<'EOF'
usage: tests/bench/scale.sh [options]
  --sessions N    idle sessions with an open GET stream (default 10000; fewer when the
                  open-file limit cannot be raised to 2 per session, with a warning)
  --calls M       tools/call requests in flight at once, with progress (default 1000)
  --hold S        seconds the idle sessions are held while measuring (default 10)
  --config FILE   Bulwark's config (default: none, Bulwark's defaults)
  --keep          keep the work directory
Environment: BULWARK_BIN (default build/release/proxy/bulwark, built if needed; BENCH_BUILD=0
skips the build). Raises the open-file limit to 65536 (root, or a hard limit that allows it).
EOF
}
sessions=10000
calls=1000
hold=10
config=
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sessions) need_value "$@"; sessions=$2; shift 2 ;;
    --calls) need_value "$@"; calls=$2; shift 2 ;;
    --hold) need_value "$@"; hold=$2; shift 2 ;;
    --config) need_value "$@"; config=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "scale.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for v in sessions calls hold; do
  is_uint "${!v}" || { echo "scale.sh: $v must be a non-negative integer" >&2; exit 2; }
done
[ "$hold" -ge 2 ] || { echo "scale.sh: --hold must be at least 2 seconds" >&2; exit 2; }

for tool in node curl; do command -v "$tool" >/dev/null || die "$tool not found"; done
use_bulwark_binary

# Every session holds two sockets in Bulwark and one in each of the client and the upstream.
# Raise the soft limit as far as the hard one allows; where even that is too low (a container
# without CAP_SYS_RESOURCE), run as many sessions as fit and say so.
want_files=$((2 * sessions + 100))
if [ "$(ulimit -n)" -lt "$want_files" ]; then
  ulimit -n "$want_files" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
requested_sessions=$sessions
if [ "$(ulimit -n)" -lt "$want_files" ]; then
  sessions=$(( ($(ulimit -n) - 100) / 2 ))
  echo "bench: WARNING: the open-file limit is $(ulimit -n) and cannot be raised here; running $sessions sessions instead of $requested_sessions (Bulwark needs 2 sockets per session)" >&2
fi

start_work_dir
node "$here/scale_upstream.mjs" >"$work/upstream.out" 2>"$work/upstream.err" &
upstream_pid=$!
pids+=("$upstream_pid")
for _ in $(seq 100); do grep -q '^listening on' "$work/upstream.out" && break; sleep 0.1; done
upstream_port=$(awk '/^listening on/ {print $3}' "$work/upstream.out")
[ -n "$upstream_port" ] || die "the scale upstream did not start: $(cat "$work/upstream.err")"

read -r port admin_port <<<"$(free_ports 2)"
bulwark_args=(--upstream "http://127.0.0.1:$upstream_port/mcp" --listen "127.0.0.1:$port"
              --admin "127.0.0.1:$admin_port" --log-level warn)
[ -z "$config" ] || bulwark_args+=(--config "$config")
"$bulwark_bin" "${bulwark_args[@]}" >"$work/bulwark.log" 2>&1 &
bulwark_pid=$!
pids+=("$bulwark_pid")
wait_ready bulwark "$bulwark_pid" "http://127.0.0.1:$admin_port/healthz"
url=http://127.0.0.1:$port/mcp

kib() { awk -v k="$1" '/^'"$1"':/ {print $2}' "/proc/$bulwark_pid/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
metrics_rss() {
  curl -s -m 5 "http://127.0.0.1:$admin_port/metrics" |
    awk '/^process_resident_memory_bytes / { printf "%.1f", $2 / 1048576 }'
}
reset_peak() { echo 5 >"/proc/$bulwark_pid/clear_refs" 2>/dev/null || true; }
fds() { find "/proc/$bulwark_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
cpu_ms() { echo $(( $(cpu_ticks "$bulwark_pid") * 1000 / clk_tck )); }

rows=()
row() { # phase rss_mib peak_mib metrics_mib fds cpu_ms note
  rows+=("$(printf '%-34s %9s %9s %12s %7s %9s  %s' "$@")")
}

echo "bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet HEAD -- 2>/dev/null || echo +dirty), $(nproc) CPUs, node $(node --version), open-file limit $(ulimit -n)"

# 1. Idle: started, one request through so the pools and parsers exist.
curl -s -o /dev/null -m 5 -H 'content-type: application/json' \
  -H 'accept: application/json, text/event-stream' \
  --data '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "$url" || die "first request failed"
sleep 1
idle_rss=$(kib VmRSS)
cpu0=$(cpu_ms)
sleep $((hold - 2))
row "idle (started, one request served)" "$(mib "$idle_rss")" "$(mib "$(kib VmHWM)")" \
  "$(metrics_rss)" "$(fds)" "$(( $(cpu_ms) - cpu0 ))" "CPU over $((hold - 2)) s idle"

failures=0
# 2. Calls in flight with progress.
if [ "$calls" -gt 0 ]; then
  reset_peak
  cpu0=$(cpu_ms)
  client_out=$work/calls.out
  node "$here/scale_client.mjs" calls --url "$url" --calls "$calls" --timeout-ms 120000 \
    >"$client_out" 2>&1 &
  client_pid=$!
  pids+=("$client_pid")
  for _ in $(seq 600); do
    grep -q '^inflight' "$client_out" && break
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.1
  done
  inflight_rss=$(mib "$(kib VmRSS)")
  inflight_fds=$(fds)
  inflight_metrics=$(metrics_rss)
  wait "$client_pid" || { echo "bench: calls client failed: $(tail -2 "$client_out")" >&2; failures=$((failures + 1)); }
  cpu1=$(cpu_ms)
  summary=$(tail -1 "$client_out")
  events=$(sed -n 's/.*"progressEvents":\([0-9]*\).*/\1/p' <<<"$summary")
  row "$calls calls in flight, SSE progress" "$inflight_rss" "$(mib "$(kib VmHWM)")" \
    "$inflight_metrics" "$inflight_fds" "$((cpu1 - cpu0))" \
    "$(awk -v c=$((cpu1 - cpu0)) -v e="${events:-0}" -v n="$calls" 'BEGIN { printf "%d progress events; %.1f us CPU per event incl. calls", e, (e > 0 ? 1000 * c / (e + n) : 0) }')"
  echo "bench: calls client: $summary"
fi

# 3. Idle sessions (last: glibc keeps the memory they used, so it would hide the calls' peak).
if [ "$sessions" -gt 0 ]; then
  reset_peak
  cpu0=$(cpu_ms)
  client_out=$work/idle.out
  node "$here/scale_client.mjs" idle --url "$url" --sessions "$sessions" --concurrency 100 \
    --hold-ms $(( (hold + 5) * 1000 )) --timeout-ms $(( (hold + 300) * 1000 )) >"$client_out" 2>&1 &
  client_pid=$!
  pids+=("$client_pid")
  for _ in $(seq 3000); do
    grep -q '^ready' "$client_out" && break
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '^ready' "$client_out" || die "the idle client did not get ready: $(tail -3 "$client_out")"
  cpu1=$(cpu_ms)
  row "opening $sessions sessions" "" "" "" "" "$((cpu1 - cpu0))" \
    "$(awk -v c=$((cpu1 - cpu0)) -v n="$sessions" 'BEGIN { printf "%.0f us CPU per session", 1000 * c / n }')"
  sleep 1
  cpu1=$(cpu_ms)
  sleep $((hold - 2))
  cpu2=$(cpu_ms)
  held_fds=$(fds)
  held_rss=$(kib VmRSS)
  streams=$(curl -s -m 5 "http://127.0.0.1:$upstream_port/stats" | sed -n 's/.*"getStreams":\([0-9]*\).*/\1/p')
  opened=$(awk '/^ready/ {print $2}' "$client_out")
  row "$opened idle sessions, GET streams open" \
    "$(mib "$held_rss")" "$(mib "$(kib VmHWM)")" "$(metrics_rss)" "$held_fds" "$((cpu2 - cpu1))" \
    "$(awk -v a="$held_rss" -v b="$idle_rss" -v n="$opened" 'BEGIN { printf "%.1f KiB per session", (a - b) / (n > 0 ? n : 1) }'); CPU over $((hold - 2)) s held; upstream sees ${streams:-?} GET streams"
  wait "$client_pid" || { echo "bench: idle client failed: $(tail -2 "$client_out")" >&2; failures=$((failures + 1)); }
  echo "bench: idle client: $(tail -1 "$client_out")"
  for _ in $(seq 100); do [ "$(fds)" -lt 100 ] && break; sleep 0.1; done
  sleep 1
  row "after the sessions closed" "$(mib "$(kib VmRSS)")" "" "$(metrics_rss)" "$(fds)" "" ""
fi

echo
printf '%-34s %9s %9s %12s %7s %9s  %s\n' phase "RSS MiB" "peak MiB" "metrics MiB" fds "CPU ms" note
printf '%s\n' "${rows[@]}"
echo "(RSS: VmRSS; peak: VmHWM since the phase began; metrics: process_resident_memory_bytes; fds: Bulwark's open files)"
[ "$failures" -eq 0 ] || { echo "bench: FAILED: $failures client runs failed" >&2; exit 1; }
echo "bench: ok"
