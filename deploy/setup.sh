#!/usr/bin/env bash
# Installs what Bulwark needs, by mode (each adds to the one before it):
#   deploy/setup.sh           build only: the compiler set and Bulwark's libraries (Debian)
#   deploy/setup.sh --demo    also Node.js and the npm peers deploy/demo.sh runs (server-everything)
#   deploy/setup.sh --tests   also everything tests/run.sh needs: Prometheus, Redis, kubectl, the npm test
#                             peers and tests/deploy's packages, clang + libFuzzer (--fuzz)
#   deploy/setup.sh --bench   also nginx, HAProxy, h2load and valgrind (tests/bench), with --demo's peers
#   deploy/setup.sh --fuzz    also clang and libFuzzer for tests/fuzz
#   --list                    print what the chosen modes would install (every package, present or
#                             not; the npm folders), install nothing
# Idempotent: safe to run again; it installs only what is missing. Debian 12, run as root or
# with passwordless sudo. Only Debian's and npm's registries are used.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
with_tests=0
with_peers=0
with_bench=0
with_fuzz=0
list_only=0
for arg in "$@"; do
  case "$arg" in
    --demo) with_peers=1 ;;
    --tests) with_tests=1; with_peers=1; with_fuzz=1 ;;
    --bench) with_bench=1; with_peers=1 ;;
    --fuzz) with_fuzz=1 ;;
    --list) list_only=1 ;;
    -h|--help) echo "usage: deploy/setup.sh [--demo] [--tests] [--bench] [--fuzz] [--list]"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

build_packages=(build-essential cmake pkg-config libuv1-dev node-llhttp libsimdjson-dev
                libyaml-cpp-dev prometheus-cpp-dev doctest-dev curl libhiredis-dev libssl-dev)
# Node.js runs the demo MCP server and the test peers.
peer_packages=(nodejs npm)
# Prometheus and promtool for the observability tests; kubectl renders the Kubernetes files;
# redis-server is the shared state the replica tests start.
test_packages=(prometheus redis-server)
# The load generator and the proxies Bulwark is measured against (tests/bench).
bench_packages=(nghttp2-client haproxy nginx-light valgrind)
# clang with libFuzzer and the sanitizer runtimes (the fuzz preset, tests/fuzz).
fuzz_packages=(clang libclang-rt-14-dev)

wanted=("${build_packages[@]}")
if [ "$with_peers" -eq 1 ]; then
  { command -v node >/dev/null && command -v npm >/dev/null && [ "$list_only" -eq 0 ]; } ||
    wanted+=("${peer_packages[@]}")
fi
if [ "$with_tests" -eq 1 ]; then
  wanted+=("${test_packages[@]}")
  # The machine image ships a current kubectl; Debian's kubernetes-client (1.20) is only a
  # fallback, and its kustomize is too old for deploy/kubernetes (tests/deploy says so).
  command -v kubectl >/dev/null || wanted+=(kubernetes-client)
fi
[ "$with_bench" -eq 1 ] && wanted+=("${bench_packages[@]}")
[ "$with_fuzz" -eq 1 ] && wanted+=("${fuzz_packages[@]}")

if [ "$list_only" -eq 1 ]; then
  echo "apt: ${wanted[*]}"
  npm_dirs=()
  [ "$with_peers" -eq 1 ] && npm_dirs+=(tests)
  [ "$with_tests" -eq 1 ] && npm_dirs+=(tests/deploy)
  echo "npm: ${npm_dirs[*]}"
  exit 0
fi

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # env, not a prefix: sudo drops the caller's environment. Bounded network waits so that a
  # stalled mirror fails the run with a message instead of hanging it.
  apt_options=(-o Acquire::http::Timeout=60 -o Acquire::Retries=3)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" update -qq </dev/null
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null </dev/null
fi

# npm ci with bounded waits: a registry connection that stalls is retried after 30 s instead of
# npm's default 5 min per fetch, and a whole install that stalls anyway is killed and tried again
# (npm ci starts from an empty node_modules each time).
npm_ci() {
  local dir=$1 attempt
  for attempt in 1 2 3; do
    if (cd "$dir" && timeout --kill-after=10 600 npm ci --no-audit --no-fund --loglevel=error \
          --fetch-timeout=30000 --fetch-retries=4 --fetch-retry-mintimeout=2000 \
          --fetch-retry-maxtimeout=15000 </dev/null); then
      return 0
    fi
    echo "setup: npm ci in $dir failed or stalled (attempt $attempt of 3)" >&2
    sleep $((attempt * 5))
  done
  echo "setup: giving up on npm ci in $dir" >&2
  return 1
}

# The npm peers (server-everything for the demo; the SDK, conformance suite and Node 22 for
# tests) are pinned by tests/package-lock.json. A node_modules that is a symlink belongs to
# another checkout (a git worktree sharing the main one's): npm ci would empty its target.
if [ "$with_peers" -eq 1 ] && [ ! -L "$here/tests/node_modules" ] &&
   { [ ! -f "$here/tests/node_modules/.package-lock.json" ] ||
   [ "$here/tests/package-lock.json" -nt "$here/tests/node_modules/.package-lock.json" ]; }; then
  echo "setup: installing npm test peers"
  npm_ci "$here/tests"
fi

# tests/deploy validates the Kubernetes files with kubernetes-models, pinned by its own lock.
if [ "$with_tests" -eq 1 ] && [ ! -L "$here/tests/deploy/node_modules" ] &&
   { [ ! -f "$here/tests/deploy/node_modules/.package-lock.json" ] ||
     [ "$here/tests/deploy/package-lock.json" -nt "$here/tests/deploy/node_modules/.package-lock.json" ]; }; then
  echo "setup: installing npm packages for tests/deploy"
  npm_ci "$here/tests/deploy"
fi
