#!/usr/bin/env bash
# Bulwark benchmark: small JSON-RPC tools/call requests sent by h2load (HTTP/1.1) to one fast
# upstream (nginx) directly, through HAProxy, through nginx as a proxy and through Bulwark (default
# config, a realistic policy config, and a config that answers from its cache; on request also in
# an MCP session it owns, without and with shared_state on a local Redis), in one run, with
# JSON and SSE replies, saturated and at a fixed rate. Prints medians of several interleaved
# rounds, the ratios, the latency each proxy adds, and the CPU each process spent per request.
# See tests/bench/README.md.
#
# Everything it starts listens on 127.0.0.1 on free ports, lives in a temporary directory and is
# stopped by PID when the script exits. Exit status: 0 on success, 1 if any request failed or a
# target answered wrongly, 2 on a usage error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

usage() {
  cat <<'EOF'
usage: tests/bench/run.sh [options]
  --targets LIST     comma list of direct,haproxy,nginx,bulwark,bulwark-policy,bulwark-cache,
                     bulwark-session,bulwark-shared (BENCH_TARGETS, default the first six;
                     the last two need redis-server)
  --replies LIST     comma list of json,sse                  (BENCH_REPLIES, default both)
  --rounds R         measured rounds per target and reply    (BENCH_ROUNDS, default 3)
  --requests N       requests per measured run               (BENCH_REQUESTS, default 100000)
  --clients C        concurrent connections, 1 request each  (BENCH_CLIENTS, default 32)
  --warmup N         warm-up requests per target and reply   (BENCH_WARMUP, default 10000)
  --rate RPS         fixed-rate phase at RPS req/s total, 0 = none (BENCH_RATE, default 2000)
  --rate-seconds S   length of each fixed-rate run           (BENCH_RATE_SECONDS, default 4)
  --rate-clients C   connections in the fixed-rate phase     (BENCH_RATE_CLIENTS, default 4)
  --keep             keep the work directory (configs, logs, raw results)  (BENCH_KEEP=1)
Other environment:
  BULWARK_BIN        binary to test (default build/release/proxy/bulwark, built if needed)
  BULWARK_ARGS       extra arguments for every bulwark target
  BENCH_BUILD=0      do not (re)build the default Bulwark binary
  BENCH_PIN=0        do not pin processes to CPUs
  BENCH_LOADGEN_CPU  CPU list for h2load (default 0)
  BENCH_SERVER_CPU   CPU list for nginx and the proxy under test (default 1)
  BENCH_TIMEOUT      seconds after which one h2load run is killed (default 60)
EOF
}

targets=${BENCH_TARGETS:-direct,haproxy,nginx,bulwark,bulwark-policy,bulwark-cache}
replies=${BENCH_REPLIES:-json,sse}
rounds=${BENCH_ROUNDS:-3}
requests=${BENCH_REQUESTS:-100000}
clients=${BENCH_CLIENTS:-32}
warmup=${BENCH_WARMUP:-10000}
rate=${BENCH_RATE:-2000}
rate_seconds=${BENCH_RATE_SECONDS:-4}
rate_clients=${BENCH_RATE_CLIENTS:-4}
keep=${BENCH_KEEP:-0}
run_timeout=${BENCH_TIMEOUT:-60}
pin=${BENCH_PIN:-1}
loadgen_cpu=${BENCH_LOADGEN_CPU:-0}
server_cpu=${BENCH_SERVER_CPU:-1}
bulwark_args=${BULWARK_ARGS:-}

while [ $# -gt 0 ]; do
  case "$1" in
    --targets) need_value "$@"; targets=$2; shift 2 ;;
    --replies) need_value "$@"; replies=$2; shift 2 ;;
    --rounds) need_value "$@"; rounds=$2; shift 2 ;;
    --requests) need_value "$@"; requests=$2; shift 2 ;;
    --clients) need_value "$@"; clients=$2; shift 2 ;;
    --warmup) need_value "$@"; warmup=$2; shift 2 ;;
    --rate) need_value "$@"; rate=$2; shift 2 ;;
    --rate-seconds) need_value "$@"; rate_seconds=$2; shift 2 ;;
    --rate-clients) need_value "$@"; rate_clients=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

for v in rounds requests clients warmup rate rate_seconds rate_clients run_timeout; do
  is_uint "${!v}" || { echo "run.sh: $v must be a non-negative integer, got '${!v}'" >&2; exit 2; }
done
[ "$rounds" -ge 1 ] && [ "$requests" -ge 1 ] && [ "$clients" -ge 1 ] && [ "$rate_clients" -ge 1 ] ||
  { echo "run.sh: rounds, requests and clients must be at least 1" >&2; exit 2; }

IFS=, read -r -a target_list <<<"$targets"
IFS=, read -r -a reply_list <<<"$replies"
for t in "${target_list[@]}"; do
  case "$t" in direct|haproxy|nginx|bulwark|bulwark-policy|bulwark-cache|bulwark-session|bulwark-shared) ;; *) echo "run.sh: unknown target '$t'" >&2; exit 2 ;; esac
done
for r in "${reply_list[@]}"; do
  case "$r" in json|sse) ;; *) echo "run.sh: unknown reply type '$r'" >&2; exit 2 ;; esac
done
has_target() { [[ ",$targets," == *",$1,"* ]]; }
has_bulwark() { [[ ",$targets," == *",bulwark"* ]]; }
# bulwark-cache answers every call from its cache in the form the client accepts first (JSON),
# whatever the upstream would have sent, so it has no SSE row.
applies() { [ "$1" != bulwark-cache ] || [ "$2" != sse ]; }

for tool in h2load curl taskset timeout; do
  command -v "$tool" >/dev/null || die "$tool not found (deploy/setup.sh --bench installs it)"
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || die "nginx not found (Debian package nginx-light)"
if has_target haproxy; then
  haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
  [ -x "$haproxy_bin" ] || die "haproxy not found (Debian package haproxy)"
fi

# --- Bulwark binary ----------------------------------------------------------------------------
has_bulwark && use_bulwark_binary

# --- CPU placement -----------------------------------------------------------------------------
# h2load gets one core, the upstream and the proxy under test share the other, so a proxy's
# throughput is limited by its own CPU cost per request plus nginx's, never by the load generator
# stealing its core. The same placement is used for every target.
loadgen_pin=()
server_pin=()
if [ "$pin" != 0 ]; then
  if [ "$(nproc)" -ge 2 ]; then
    loadgen_pin=(taskset -c "$loadgen_cpu")
    server_pin=(taskset -c "$server_cpu")
  else
    echo "bench: warning: only $(nproc) CPU available, running unpinned" >&2
    pin=0
  fi
fi


start_work_dir

read -r nginx_port haproxy_port nginx_proxy_port last_port <<<"$(free_ports 4)"
[ -n "$last_port" ] || die "could not pick free ports (node missing?)"


render() { # template output
  sed -e "s|@PREFIX@|$work|g" -e "s|@NGINX_PORT@|$nginx_port|g" \
      -e "s|@HAPROXY_PORT@|$haproxy_port|g" -e "s|@NGINX_PROXY_PORT@|$nginx_proxy_port|g" \
      -e "s|@REPLY_JSON@|$reply_json|g" "$1" >"$2"
}


# --- Start the servers -------------------------------------------------------------------------
start_upstream_nginx "$nginx_port" "${server_pin[@]}"

declare -A url proxy_pid admin_url
url[direct]=http://127.0.0.1:$nginx_port/mcp
proxy_pid[direct]=

if has_target haproxy; then
  render "$here/haproxy.cfg.in" "$work/haproxy.cfg"
  "${server_pin[@]}" "$haproxy_bin" -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  proxy_pid[haproxy]=$!
  pids+=("${proxy_pid[haproxy]}")
  url[haproxy]=http://127.0.0.1:$haproxy_port/mcp
  wait_ready haproxy "${proxy_pid[haproxy]}" "${url[haproxy]}" POST
fi

if has_target nginx; then
  render "$here/nginx-proxy.conf.in" "$work/nginx-proxy.conf"
  "${server_pin[@]}" "$nginx_bin" -p "$work" -c "$work/nginx-proxy.conf" \
    -e "$work/nginx-proxy-error.log" >"$work/nginx-proxy.out" 2>&1 &
  nginx_proxy_master=$!
  pids+=("$nginx_proxy_master")
  url[nginx]=http://127.0.0.1:$nginx_proxy_port/mcp
  wait_ready nginx-proxy "$nginx_proxy_master" "${url[nginx]}" POST
  # The worker does the proxying; the master only waits.
  read -r proxy_pid[nginx] _ <<<"$(children "$nginx_proxy_master" | tr '\n' ' ')"
  [ -n "${proxy_pid[nginx]}" ] || die "cannot find the proxying nginx's worker process"
fi

# start_bulwark TARGET [ARG...]: one Bulwark per target, each on its own ports. The upstream
# path is /mcp, or $upstream_path when set (the session targets).
start_bulwark() {
  local target=$1 port admin_port path=${upstream_path:-/mcp}
  shift
  read -r port admin_port <<<"$(free_ports 2)"
  # shellcheck disable=SC2086 # BULWARK_ARGS is a list of words on purpose
  "${server_pin[@]}" "$bulwark_bin" --upstream "http://127.0.0.1:$nginx_port$path" \
    --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin_port" "$@" $bulwark_args \
    >"$work/$target.log" 2>&1 &
  proxy_pid[$target]=$!
  pids+=("${proxy_pid[$target]}")
  url[$target]=http://127.0.0.1:$port$path
  admin_url[$target]=http://127.0.0.1:$admin_port
  wait_ready "$target" "${proxy_pid[$target]}" "http://127.0.0.1:$admin_port/healthz"
}
has_target bulwark && start_bulwark bulwark
has_target bulwark-policy && start_bulwark bulwark-policy --config "$here/policies.yaml"
has_target bulwark-cache && start_bulwark bulwark-cache --config "$here/cache.yaml"

# The session targets: policies.yaml, every request in one MCP session that Bulwark opened (and
# so owns), without and with shared_state on a local redis-server: the cost of shared_state on
# the hot path, which should be none (an owned session makes no Redis round trip).
declare -A session_header
if has_target bulwark-session || has_target bulwark-shared; then
  upstream_path=/mcp-owned
  if has_target bulwark-session; then
    start_bulwark bulwark-session --config "$here/policies.yaml"
  fi
  if has_target bulwark-shared; then
    command -v redis-server >/dev/null || die "redis-server not found (Debian package redis-server)"
    read -r redis_port <<<"$(free_ports 1)"
    redis_password=bench-$RANDOM$RANDOM
    "${server_pin[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
      --appendonly no --requirepass "$redis_password" >"$work/redis.log" 2>&1 &
    pids+=("$!")
    { cat "$here/policies.yaml"
      printf 'shared_state:\n  redis: redis://127.0.0.1:%s\n  password_env: BENCH_REDIS_PASSWORD\n' "$redis_port"
      printf '  key_secret_env: BENCH_CACHE_KEY_SECRET\n  key_prefix: "bench:"\n'
    } >"$work/shared_state.yaml"
    BENCH_REDIS_PASSWORD=$redis_password BENCH_CACHE_KEY_SECRET=bench-secret-$RANDOM \
      start_bulwark bulwark-shared --config "$work/shared_state.yaml"
  fi
  upstream_path=
  for t in bulwark-session bulwark-shared; do
    has_target "$t" || continue
    # Opens the session through Bulwark: nginx names it in its reply to `initialize` (id 1, as
    # in nginx's fixed reply). Then Bulwark must count it as one of its own.
    curl -s -m 5 -o /dev/null -H 'content-type: application/json' \
      -H 'accept: application/json, text/event-stream' \
      --data-binary '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
      "${url[$t]}" || die "$t: initialize failed"
    opened=0
    for _ in $(seq 50); do
      curl -s -m 5 "${admin_url[$t]}/metrics" | grep -q '^bulwark_sessions_active 1' && { opened=1; break; }
      sleep 0.1
    done
    [ "$opened" = 1 ] || die "$t: the session did not open through Bulwark (logs in $work/$t.log)"
    session_header[$t]="mcp-session-id: bench-owned-session"
  done
fi

# --- Check every target answers exactly what nginx sends ---------------------------------------
expected_body() {
  if [ "$1" = sse ]; then printf 'event: message\ndata: %s\n\n' "$reply_json"; else printf '%s' "$reply_json"; fi
}
expected_type() { if [ "$1" = sse ]; then echo text/event-stream; else echo application/json; fi; }
for t in "${target_list[@]}"; do
  for r in "${reply_list[@]}"; do
    applies "$t" "$r" || continue
    meta=$(curl -s -m 5 -o "$work/check.body" -w '%{http_code} %{content_type}' \
      -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
      -H "x-bench-reply: $r" ${session_header[$t]:+-H "${session_header[$t]}"} \
      --data-binary @"$request_file" "${url[$t]}") ||
      die "$t ($r): request failed"
    if [ "$t" = bulwark-cache ]; then
      # A cache hit is Bulwark's own rendering of the stored result, with the request's id.
      [[ $meta == "200 application/json"* ]] || die "$t: got status/content-type '$meta'"
      grep -q '"text":"hello"' "$work/check.body" || die "$t: unexpected body: $(head -c 300 "$work/check.body")"
      continue
    fi
    [[ $meta == "200 $(expected_type "$r")"* ]] || die "$t ($r): got status/content-type '$meta'"
    cmp -s "$work/check.body" <(expected_body "$r") ||
      die "$t ($r): body differs from the upstream's: $(head -c 300 "$work/check.body")"
  done
done

# --- Measurement -------------------------------------------------------------------------------

results=$work/results.tsv
printf 'phase\treply\ttarget\tround\trps\tmean_us\tp50_us\tp99_us\tp999_us\trequests\tok\terrors\tproxy_ticks\tnginx_ticks\n' >"$results"
failures=0

# run_h2load PHASE REPLY TARGET ROUND N CLIENTS [RPS_PER_CLIENT]; ROUND 0 is the warm-up.
run_h2load() {
  local phase=$1 reply=$2 target=$3 round=$4 n=$5 c=$6 rps=${7:-} tag out log
  local p0 n0 p1 n1 status=0
  tag=$phase-$reply-$target-$round
  out=$work/h2load-$tag.out
  log=$work/h2load-$tag.log
  local args=(--h1 -t 1 -c "$c" -m 1 -n "$n" --data "$request_file"
              -H 'content-type: application/json' -H 'accept: application/json, text/event-stream'
              -H "x-bench-reply: $reply" --log-file="$log")
  [ -n "${session_header[$target]:-}" ] && args+=(-H "${session_header[$target]}")
  [ -n "$rps" ] && args+=(--rps "$rps")
  p0=$(cpu_ticks "${proxy_pid[$target]}")
  n0=$(cpu_ticks "$nginx_worker")
  # In the background and waited for, so that a signal to this script is handled at once.
  timeout -k 5 "$run_timeout" "${loadgen_pin[@]}" h2load "${args[@]}" "${url[$target]}" \
    >"$out" 2>&1 &
  fg_pid=$!
  wait "$fg_pid" || status=$?
  fg_pid=
  p1=$(cpu_ticks "${proxy_pid[$target]}")
  n1=$(cpu_ticks "$nginx_worker")
  [ "$status" -eq 124 ] || [ "$status" -eq 137 ] &&
    die "h2load against $target ($reply) timed out after ${run_timeout}s (output: $out)"
  [ "$status" -eq 0 ] || die "h2load against $target ($reply) exited with $status: $(tail -3 "$out")"
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "a server exited during the run (pid $pid; logs in $work)"
  done

  # h2load's summary: "finished in 1.80s, 55613.98 req/s, ...", "requests: N total, N started,
  # N done, N succeeded, N failed, N errored, N timeout", "status codes: N 2xx, N 3xx, ...".
  local rps_measured total succeeded failed errored timedout ok2xx errors
  rps_measured=$(awk '/^finished in/ {print $4}' "$out")
  read -r total succeeded failed errored timedout < <(
    awk '/^requests:/ {print $2, $8, $10, $12, $14}' "$out")
  ok2xx=$(awk '/^status codes:/ {print $3}' "$out")
  [ -n "$rps_measured" ] && [ -n "$total" ] && [ -n "$ok2xx" ] ||
    die "cannot parse h2load output: $out"
  # h2load counts a non-2xx reply as failed, and errored and timed-out requests as failed too; a
  # request that never finished is neither. So a request went wrong if it did not end as a 2xx,
  # or if h2load failed it even though a 2xx status had arrived.
  errors=$((total - ok2xx))
  [ "$((failed + errored + timedout))" -le "$errors" ] || errors=$((failed + errored + timedout))
  [ "$succeeded" -le "$ok2xx" ] || errors=$((errors + succeeded - ok2xx))

  # Latency from the per-request log: third column is microseconds until the response ended.
  local stats
  stats=$(cut -f3 "$log" | sort -n | awk '
    { v[NR] = $1; sum += $1 }
    function pct(p,  i) { i = int(p * NR); if (i < p * NR) i++; if (i < 1) i = 1; return v[i] }
    END { if (NR == 0) print "0 0 0 0"; else printf "%.0f %d %d %d\n", sum / NR, pct(0.50), pct(0.99), pct(0.999) }')
  rm -f "$log"
  [ "$round" -eq 0 ] && return 0

  local mean p50 p99 p999
  read -r mean p50 p99 p999 <<<"$stats"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$reply" "$target" \
    "$round" "$rps_measured" "$mean" "$p50" "$p99" "$p999" "$total" "$ok2xx" "$errors" \
    "$((p1 - p0))" "$((n1 - n0))" >>"$results"
  printf '  %-5s %-4s %-14s round %d: %9.0f req/s  mean %5d us  p50 %5d us  p99 %6d us%s\n' \
    "$phase" "$reply" "$target" "$round" "$rps_measured" "$mean" "$p50" "$p99" \
    "$([ "$errors" -eq 0 ] || echo "  ERRORS: $errors")"
  [ "$errors" -eq 0 ] || failures=$((failures + errors))
}

# Round r visits the targets in an order rotated by r, so slow drift (thermal, noisy neighbours)
# and "who runs first" fall on every target alike.
rotated_targets() {
  local r=$1 n=${#target_list[@]} i
  for ((i = 0; i < n; i++)); do echo "${target_list[(i + r) % n]}"; done
}

git_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD -- 2>/dev/null || git_rev="$git_rev+dirty"
echo "bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $git_rev, $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
echo "bench: $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), $( (has_target haproxy && "$haproxy_bin" -v | head -1 | awk '{print "HAProxy " $3}') || echo "no HAProxy"), $(h2load --version | head -1)"
if [ "$pin" != 0 ]; then
  echo "bench: h2load pinned to CPU $loadgen_cpu; nginx and proxies pinned to CPU $server_cpu"
else
  echo "bench: processes not pinned"
fi
echo "bench: targets $targets; replies $replies; $rounds rounds of $requests requests, $clients connections, 1 in flight each"

# Anything else running (a compiler, another benchmark) skews every figure; say so up front.
machine_busy_percent() {
  local a b
  a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
    busy = y[1] - x[1]; all = busy + y[2] - x[2]; printf "%d\n", (all > 0 ? 100 * busy / all : 0) }'
}
busy=$(machine_busy_percent)
if [ "$busy" -ge 10 ]; then
  echo "bench: WARNING: the machine was ${busy}% busy before the benchmark started; figures will be noisy" >&2
fi

# CPU used by this script's own processes (servers, h2load and the shell), in clock ticks, and
# the machine's busy and total ticks, to tell how much of the run other processes took.
# Sets own_ticks_now; not called as $(...), where `times` would see a subshell's children.
own_ticks() {
  local sum=0 pid
  for pid in "${pids[@]}" "$nginx_worker"; do sum=$((sum + $(cpu_ticks "$pid"))); done
  # `times`: this shell's and its reaped children's (h2load's) user and system time.
  # Written to a file: in a pipe it would run in a subshell with no children.
  times >"$work/times"
  sum=$((sum + $(tr ' ' '\n' <"$work/times" | awk -v tck="$clk_tck" '
    NF { split($1, t, "m"); s += (t[1] * 60 + t[2]) * tck } END { printf "%d", s }')))
  own_ticks_now=$sum
}
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
own_ticks
own0=$own_ticks_now
read -r busy0 all0 <<<"$(machine_ticks)"

echo "bench: warm-up ($warmup requests per target and reply)"
if [ "$warmup" -gt 0 ]; then
  for r in "${reply_list[@]}"; do
    for t in "${target_list[@]}"; do
      applies "$t" "$r" && run_h2load load "$r" "$t" 0 "$warmup" "$clients"
    done
  done
fi

echo "bench: throughput phase (closed loop: each connection sends its next request on reply)"
for ((round = 1; round <= rounds; round++)); do
  for r in "${reply_list[@]}"; do
    for t in $(rotated_targets "$round"); do
      applies "$t" "$r" && run_h2load load "$r" "$t" "$round" "$requests" "$clients"
    done
  done
done

if [ "$rate" -gt 0 ]; then
  per_client=$(( (rate + rate_clients - 1) / rate_clients ))
  rate_requests=$((per_client * rate_clients * rate_seconds))
  echo "bench: fixed-rate phase ($((per_client * rate_clients)) req/s over $rate_clients connections, $rate_requests requests per run)"
  for ((round = 1; round <= rounds; round++)); do
    for r in "${reply_list[@]}"; do
      for t in $(rotated_targets "$round"); do
        applies "$t" "$r" || continue
        run_h2load rate "$r" "$t" "$round" "$rate_requests" "$rate_clients" "$per_client"
      done
    done
  done
fi

own_ticks
own1=$own_ticks_now
read -r busy1 all1 <<<"$(machine_ticks)"
read -r own_pct other_pct <<<"$(awk -v o=$((own1 - own0)) -v b=$((busy1 - busy0)) -v a=$((all1 - all0)) \
  'BEGIN { if (a <= 0) a = 1; x = b - o; if (x < 0) x = 0; printf "%d %d\n", 100 * o / a, 100 * x / a }')"

# --- Report ------------------------------------------------------------------------------------
# Medians over rounds per (phase, reply, target); CPU is the total over the measured rounds
# divided by the requests, in microseconds of CPU per request.
summary=$work/summary.tsv
awk -F'\t' -v tck="$clk_tck" '
  NR == 1 { next }
  {
    k = $1 SUBSEP $2 SUBSEP $3
    if (!(k in cnt)) order[++nk] = k
    cnt[k]++
    for (c = 5; c <= 9; c++) val[k, c, cnt[k]] = $c
    reqs[k] += $10; errs[k] += $12; pt[k] += $13; nt[k] += $14
    secs[k] += $10 / ($5 > 0 ? $5 : 1)
  }
  function median(k, c,   n, i, j, t, a) {
    n = cnt[k]
    for (i = 1; i <= n; i++) a[i] = val[k, c, i] + 0
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= nk; i++) {
      k = order[i]; split(k, p, SUBSEP)
      printf "%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.0f\t%d\n", p[1], p[2], p[3],
        median(k, 5), median(k, 6), median(k, 7), median(k, 8), median(k, 9),
        pt[k] / tck * 1e6 / reqs[k], nt[k] / tck * 1e6 / reqs[k],
        100 * pt[k] / tck / secs[k], errs[k]
    }
  }' "$results" >"$summary"

lookup() { # phase reply target column -> value or empty
  awk -F'\t' -v a="$1" -v b="$2" -v c="$3" -v col="$4" '$1 == a && $2 == b && $3 == c { print $col }' "$summary"
}
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (y > 0) printf "%.2fx", x / y; else print "n/a" }'; }
delta() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%+d us", x - y }'; }

print_phase() {
  local phase=$1 title=$2 r t rps mean p50 p99 p999 pcpu ncpu pct errs
  grep -q "^$phase	" "$summary" || return 0
  echo
  echo "$title"
  printf '%-5s %-15s %10s %8s %8s %8s %9s %14s %14s %9s %7s\n' reply target "req/s" "mean us" "p50 us" \
    "p99 us" "p99.9 us" "proxy CPU/req" "nginx CPU/req" "proxy CPU" errors
  for r in "${reply_list[@]}"; do
    for t in "${target_list[@]}"; do
      IFS=$'\t' read -r _ _ _ rps mean p50 p99 p999 pcpu ncpu pct errs < <(
        awk -F'\t' -v a="$phase" -v b="$r" -v c="$t" '$1 == a && $2 == b && $3 == c' "$summary") || continue
      if [ "$t" = direct ]; then pcpu=-; pct=-; else pcpu="$pcpu us"; pct="$pct%"; fi
      printf '%-5s %-15s %10s %8s %8s %8s %9s %14s %14s %9s %7s\n' "$r" "$t" "$rps" "$mean" "$p50" \
        "$p99" "$p999" "$pcpu" "$ncpu us" "$pct" "$errs"
    done
  done
  local b base
  for r in "${reply_list[@]}"; do
    if [ "$phase" = load ]; then
      local line=""
      for b in bulwark bulwark-policy bulwark-cache; do
        for base in haproxy nginx direct; do
          [ "$b" = bulwark-cache ] && [ "$base" != direct ] && continue
          [ -n "$(lookup "$phase" "$r" "$b" 4)" ] && [ -n "$(lookup "$phase" "$r" "$base" 4)" ] &&
            line+="  $b/$base $(ratio "$(lookup "$phase" "$r" "$b" 4)" "$(lookup "$phase" "$r" "$base" 4)")"
        done
      done
      for base in haproxy nginx; do
        [ -n "$(lookup "$phase" "$r" "$base" 4)" ] && [ -n "$(lookup "$phase" "$r" direct 4)" ] &&
          line+="  $base/direct $(ratio "$(lookup "$phase" "$r" "$base" 4)" "$(lookup "$phase" "$r" direct 4)")"
      done
      [ -n "$(lookup "$phase" "$r" bulwark-shared 4)" ] && [ -n "$(lookup "$phase" "$r" bulwark-session 4)" ] &&
        line+="  bulwark-shared/bulwark-session $(ratio "$(lookup "$phase" "$r" bulwark-shared 4)" "$(lookup "$phase" "$r" bulwark-session 4)")"
      [ -n "$line" ] && echo "$r throughput:$line"
    fi
    if [ -n "$(lookup "$phase" "$r" direct 4)" ]; then
      for t in "${target_list[@]}"; do
        [ "$t" != direct ] && [ -n "$(lookup "$phase" "$r" "$t" 4)" ] || continue
        echo "$r latency $t adds over direct: p50 $(delta "$(lookup "$phase" "$r" "$t" 6)" "$(lookup "$phase" "$r" direct 6)")," \
          "p99 $(delta "$(lookup "$phase" "$r" "$t" 7)" "$(lookup "$phase" "$r" direct 7)")," \
          "p99.9 $(delta "$(lookup "$phase" "$r" "$t" 8)" "$(lookup "$phase" "$r" direct 8)")"
      done
    fi
  done
  return 0
}

echo
echo "Results: medians of $rounds rounds; CPU columns are totals over the rounds per request."
print_phase load "Throughput: $requests requests per run, $clients connections, closed loop"
[ "$rate" -gt 0 ] && print_phase rate "Fixed rate: $((per_client * rate_clients)) req/s over $rate_clients connections, $rate_seconds s per run"
echo
echo "bench: during the measurement the benchmark's processes used ${own_pct}% of the machine's CPU time, other processes ${other_pct}%"
if [ "$other_pct" -ge 10 ]; then
  echo "bench: WARNING: other processes took ${other_pct}% of the CPU during the run; these figures are noisy, rerun on a quiet machine" >&2
fi

if [ "$failures" -gt 0 ]; then
  echo "bench: FAILED: $failures requests failed or got a non-2xx status:" >&2
  awk -F'\t' '$12 > 0 { printf "  %s %s %s: %d errors\n", $1, $2, $3, $12 }' "$summary" >&2
  echo "bench: h2load outputs are in $work" >&2
  exit 1
fi
echo "bench: ok, no failed requests"
