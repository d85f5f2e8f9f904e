# Shared by the scripts in tests/bench: errors, the work directory and its cleanup, free ports,
# readiness, process CPU time. Source it; it defines functions and a few variables only.
# Every process a script starts goes into `pids` and is stopped by PID (TERM, then KILL after
# 5 s) when the script exits, however it exits; `fg_pid` is a foreground job being waited for.

die() { echo "bench: error: $*" >&2; exit 1; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
# need_value OPTION "$@": an option's value is missing -> usage error (exit 2).
need_value() { [ $# -ge 2 ] || { echo "$(basename "$0"): $1 needs a value" >&2; exit 2; }; }

# The Bulwark binary: BULWARK_BIN, or the release build, (re)built first unless BENCH_BUILD=0.
# Sets bulwark_bin and default_bulwark_bin; call use_bulwark_binary to build and check it.
default_bulwark_bin=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/release/proxy/bulwark
bulwark_bin=${BULWARK_BIN:-$default_bulwark_bin}
use_bulwark_binary() {
  local repo_dir
  repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [ "$bulwark_bin" = "$default_bulwark_bin" ] && [ "${BENCH_BUILD:-1}" != 0 ]; then
    echo "bench: building bulwark (release preset)"
    [ -f "$repo_dir/build/release/CMakeCache.txt" ] ||
      (cd "$repo_dir" && cmake --preset release >/dev/null) || die "cmake --preset release failed"
    (cd "$repo_dir" && cmake --build build/release -j"$(nproc)" --target bulwark >/dev/null) ||
      die "building bulwark failed: run 'cmake --build build/release --target bulwark' to see why"
  fi
  [ -x "$bulwark_bin" ] || die "no Bulwark binary at $bulwark_bin"
}

pids=()
fg_pid=
keep=${keep:-0}
work=

cleanup() {
  local status=$? pid i
  if [ -n "$fg_pid" ]; then
    kill -TERM "$fg_pid" 2>/dev/null || true
    wait "$fg_pid" 2>/dev/null || true
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$work" ]; then
    if [ "$keep" = 1 ] || [ "$status" -eq 1 ]; then
      echo "bench: work directory kept: $work" >&2
    else
      rm -rf "$work"
    fi
  fi
  exit "$status"
}

# start_work_dir: a fresh temporary directory in $work, removed (or kept) at exit.
start_work_dir() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-bench.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# run_fg COMMAND...: runs a command in the background and waits for it, so that a signal to the
# script is handled at once; returns its exit status.
run_fg() {
  local status=0
  "$@" &
  fg_pid=$!
  wait "$fg_pid" || status=$?
  fg_pid=
  return "$status"
}

# Free loopback ports: bind port 0 several times at once, print the ports, release them.
free_ports() {
  node -e '
    const net = require("net");
    const n = Number(process.argv[1]);
    const servers = [];
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      s.listen(0, "127.0.0.1", () => {
        servers.push(s);
        if (servers.length === n) {
          console.log(servers.map((x) => x.address().port).join(" "));
          servers.forEach((x) => x.close());
        }
      });
    }' "$1"
}

# wait_ready NAME PID URL [METHOD [SECONDS]]: poll URL until it answers 2xx (default 10 s).
wait_ready() {
  local name=$1 pid=$2 url=$3 method=${4:-GET} seconds=${5:-10} code
  for _ in $(seq $((seconds * 10))); do
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (logs in $work)"
    code=$(curl -s -o /dev/null -m 1 -X "$method" -w '%{http_code}' "$url" || true)
    [[ $code == 2?? ]] && return 0
    sleep 0.1
  done
  die "$name not ready at $url after $seconds s (logs in $work)"
}

# Child PIDs of a process (nginx's worker).
children() { cat /proc/"$1"/task/*/children 2>/dev/null || pgrep -P "$1" || true; }

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of a process (all its threads), in clock ticks; 0 if none
  local stat
  [ -n "$1" ] && stat=$(cat /proc/"$1"/stat 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  awk '{print $12 + $13}' <<<"$stat"
}

# The bench upstream: nginx answering every POST /mcp with $reply_json (SSE with
# `x-bench-reply: sse`). start_upstream_nginx PORT [PIN_COMMAND...] sets nginx_pid and
# nginx_worker (the process that does the work).
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
reply_json='{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}'
request_file=$bench_dir/request.json
start_upstream_nginx() {
  local port=$1 nginx_bin
  shift
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$nginx_bin" ] || die "nginx not found (Debian package nginx-light; deploy/setup.sh --bench)"
  sed -e "s|@PREFIX@|$work|g" -e "s|@NGINX_PORT@|$port|g" -e "s|@REPLY_JSON@|$reply_json|g" \
    "$bench_dir/nginx.conf.in" >"$work/nginx.conf"
  "$@" "$nginx_bin" -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" \
    >"$work/nginx.out" 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_ready nginx "$nginx_pid" "http://127.0.0.1:$port/mcp" POST
  read -r nginx_worker _ <<<"$(children "$nginx_pid" | tr '\n' ' ')"
  [ -n "$nginx_worker" ] || die "cannot find nginx's worker process"
}
