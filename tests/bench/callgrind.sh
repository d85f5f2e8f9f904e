#!/usr/bin/env bash
# Instructions per proxied request: Bulwark runs under valgrind --tool=callgrind in front of the
# bench upstream (nginx, canned reply); h2load sends requests one at a time over one kept-alive
# connection; callgrind counts only while the measured requests run (instrumentation is switched
# on and the counters zeroed after a warm-up, and the counts dumped right after). Instruction
# counts do not depend on how busy the machine is, so they compare commit to commit where
# wall-clock figures cannot. See tests/bench/README.md.
#
# Exit status: 0 on success, 1 on a failed request or a tool error, 2 on a usage error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

usage() {
  cat <<'EOF'
usage: tests/bench/callgrind.sh [options]
  --configs LIST   comma list of default,policy,cache,haproxy (Bulwark without a config,
                   tests/bench/policies.yaml, tests/bench/cache.yaml; HAProxy with
                   tests/bench/haproxy.cfg.in, counted the same way; default: default,policy)
  --replies LIST   comma list of json,sse (default both; cache has json only)
  --requests N     measured requests per configuration and reply (default 2000)
  --warmup N       requests before counting starts (default 200)
  --top K          functions listed by their own (exclusive) instructions (default 25; 0: none)
  --keep           keep the work directory with the callgrind.out files
Environment: BULWARK_BIN (default build/release/proxy/bulwark, built if needed; BENCH_BUILD=0
skips the build).
EOF
}

configs=default,policy
replies=json,sse
requests=2000
warmup=200
top=25
keep=0

while [ $# -gt 0 ]; do
  case "$1" in
    --configs) need_value "$@"; configs=$2; shift 2 ;;
    --replies) need_value "$@"; replies=$2; shift 2 ;;
    --requests) need_value "$@"; requests=$2; shift 2 ;;
    --warmup) need_value "$@"; warmup=$2; shift 2 ;;
    --top) need_value "$@"; top=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "callgrind.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for v in requests warmup top; do
  is_uint "${!v}" || { echo "callgrind.sh: $v must be a non-negative integer" >&2; exit 2; }
done
[ "$requests" -ge 1 ] || { echo "callgrind.sh: --requests must be at least 1" >&2; exit 2; }
IFS=, read -r -a config_list <<<"$configs"
IFS=, read -r -a reply_list <<<"$replies"
declare -A config_args=([default]="" [policy]="--config $here/policies.yaml"
                        [cache]="--config $here/cache.yaml" [haproxy]="")
for c in "${config_list[@]}"; do
  [ -n "${config_args[$c]+x}" ] || { echo "callgrind.sh: unknown config '$c'" >&2; exit 2; }
done
for r in "${reply_list[@]}"; do
  case "$r" in json|sse) ;; *) echo "callgrind.sh: unknown reply type '$r'" >&2; exit 2 ;; esac
done

for tool in valgrind callgrind_control callgrind_annotate h2load curl; do
  command -v "$tool" >/dev/null || die "$tool not found (deploy/setup.sh --bench installs it)"
done
use_bulwark_binary

start_work_dir
read -r nginx_port <<<"$(free_ports 1)"
start_upstream_nginx "$nginx_port"

# h2load_once URL REPLY N: N requests, one connection, one at a time; fails unless all got 2xx.
h2load_once() {
  local out=$work/h2load.out ok
  run_fg timeout -k 5 600 h2load --h1 -t 1 -c 1 -m 1 -n "$3" --data "$request_file" \
    -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H "x-bench-reply: $2" "$1" >"$out" 2>&1 || die "h2load failed: $(tail -3 "$out")"
  ok=$(awk '/^status codes:/ {print $3}' "$out")
  [ "$ok" = "$3" ] || die "only ${ok:-0} of $3 requests got a 2xx: $(grep -E '^(requests|status)' "$out" | tr '\n' ' ')"
}

# Total instructions (Ir) in a callgrind dump: its "totals:" (or "summary:") line.
dump_total() { awk '/^(totals|summary):/ {print $2; exit}' "$1"; }

# Heap allocations in a callgrind dump: the calls into libc's allocator entry points (operator new
# calls malloc, so each allocation is counted once). Function names are compressed in the dump:
# "cfn=(12) malloc" names id 12 once, later lines say only "cfn=(12)".
dump_allocations() {
  awk '
    function remember(spec,   id, name) {
      if (match(spec, /^\([0-9]+\)/)) {
        id = substr(spec, RSTART, RLENGTH); name = substr(spec, RLENGTH + 2)
        if (name != "") names[id] = name
        return (id in names) ? names[id] : ""
      }
      return spec
    }
    /^fn=/  { remember(substr($0, 4)); next }
    /^cfn=/ { callee = remember(substr($0, 5)); next }
    /^calls=/ {
      if (callee ~ /^(malloc|calloc|realloc|aligned_alloc|posix_memalign|memalign)$/) {
        n = substr($1, 7); total += n
      }
      next
    }
    END { print total + 0 }' "$1"
}

echo "bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet HEAD -- 2>/dev/null || echo +dirty), $(valgrind --version), $warmup warm-up and $requests measured requests per row, one connection, one request at a time"
results=()
first_dump=
for c in "${config_list[@]}"; do
  read -r port admin_port <<<"$(free_ports 2)"
  out_prefix=$work/callgrind.$c
  if [ "$c" = haproxy ]; then
    # The baseline proxy, counted exactly like Bulwark: same upstream, client and counting window.
    haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
    [ -x "$haproxy_bin" ] || die "haproxy not found (deploy/setup.sh --bench installs it)"
    sed -e "s|@NGINX_PORT@|$nginx_port|g" -e "s|@HAPROXY_PORT@|$port|g" \
      "$here/haproxy.cfg.in" >"$work/haproxy.cfg"
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out_prefix.out" \
      "$haproxy_bin" -db -f "$work/haproxy.cfg" >"$work/haproxy-$c.log" 2>&1 &
    vg_pid=$!
    pids+=("$vg_pid")
    wait_ready "haproxy under valgrind" "$vg_pid" "http://127.0.0.1:$port/mcp" POST 60
  else
    # shellcheck disable=SC2086 # config_args holds words on purpose
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out_prefix.out" \
      "$bulwark_bin" --upstream "http://127.0.0.1:$nginx_port/mcp" --listen "127.0.0.1:$port" \
      --admin "127.0.0.1:$admin_port" ${config_args[$c]} >"$work/bulwark-$c.log" 2>&1 &
    vg_pid=$!
    pids+=("$vg_pid")
    wait_ready "bulwark ($c) under valgrind" "$vg_pid" "http://127.0.0.1:$admin_port/healthz" GET 60
  fi
  url=http://127.0.0.1:$port/mcp
  dump=0
  for r in "${reply_list[@]}"; do
    [ "$c" = cache ] && [ "$r" = sse ] && continue
    [ "$warmup" -eq 0 ] || h2load_once "$url" "$r" "$warmup"
    callgrind_control -i on "$vg_pid" >/dev/null 2>&1 || die "callgrind_control -i on failed"
    callgrind_control -z "$vg_pid" >/dev/null 2>&1 || die "callgrind_control -z failed"
    h2load_once "$url" "$r" "$requests"
    callgrind_control -d "$c-$r" "$vg_pid" >/dev/null 2>&1 || die "callgrind_control -d failed"
    callgrind_control -i off "$vg_pid" >/dev/null 2>&1 || die "callgrind_control -i off failed"
    dump=$((dump + 1))
    file=$out_prefix.out.$dump
    [ -f "$file" ] || die "no callgrind dump at $file"
    total=$(dump_total "$file")
    [ -n "$total" ] || die "no instruction total in $file"
    allocations=$(dump_allocations "$file")
    results+=("$(printf '%-8s %-5s %12s %10s %12s' "$c" "$r" "$total" "$((total / requests))" \
      "$(awk -v a="$allocations" -v n="$requests" 'BEGIN { printf "%.1f", a / n }')")")
    [ -n "$first_dump" ] || first_dump=$file
  done
  kill -TERM "$vg_pid" 2>/dev/null || true
  wait "$vg_pid" 2>/dev/null || true
done

echo
printf '%-8s %-5s %12s %10s %12s\n' config reply "instructions" "per request" "allocs/req"
printf '%s\n' "${results[@]}"
echo "(user-space instructions of the proxy process while it served the measured requests: parsing, policies, metrics, libc and system-call wrappers; the kernel's share is not counted; allocs/req: calls into malloc, calloc, realloc and the aligned allocators per request)"

if [ "$top" -gt 0 ] && [ -n "$first_dump" ]; then
  echo
  echo "Where the instructions go ($(basename "$first_dump"), exclusive, top $top):"
  callgrind_annotate --inclusive=no "$first_dump" 2>/dev/null |
    awk -v n="$top" -v req="$requests" '
      /PROGRAM TOTALS/ { t = $1; gsub(",", "", t); total = t; next }
      /^-+$/ { dashes++; next }
      dashes >= 3 && total > 0 && $1 ~ /^[0-9,]+$/ && shown < n {
        ir = $1; gsub(",", "", ir)
        line = $0; sub(/^ *[0-9,]+ +(\([ 0-9.]+%\) +)?/, "", line)
        sub(/ \[[^]]*\]$/, "", line)
        printf "%8.0f /req  %5.1f%%  %s\n", ir / req, 100 * ir / total, substr(line, 1, 160); shown++ }'
fi
