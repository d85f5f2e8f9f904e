#!/usr/bin/env bash
# Installs everything Bulwark needs to build, and (with --tests) everything its tests need;
# --fuzz adds clang and libFuzzer for tests/fuzz (--tests implies it: tests/run.sh fuzzes).
# Idempotent: safe to run again; it installs only what is missing. Debian 12, run as root or
# with passwordless sudo. Only Debian's and npm's registries are used.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
with_tests=0
with_bench=0
with_fuzz=0
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1; with_fuzz=1 ;;
    --bench) with_bench=1 ;;
    --fuzz) with_fuzz=1 ;;
    -h|--help) echo "usage: deploy/setup.sh [--tests] [--bench] [--fuzz]"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

build_packages=(build-essential cmake pkg-config libuv1-dev node-llhttp libsimdjson-dev
                libyaml-cpp-dev prometheus-cpp-dev doctest-dev curl)
# Node.js runs the demo MCP server and the test peers.
peer_packages=(nodejs npm)
# Prometheus and promtool for the observability tests; kubectl renders the Kubernetes files.
test_packages=(prometheus)
# The load generator and the proxies Bulwark is measured against (tests/bench).
bench_packages=(nghttp2-client haproxy nginx-light valgrind)
# clang with libFuzzer and the sanitizer runtimes (the fuzz preset, tests/fuzz).
fuzz_packages=(clang libclang-rt-14-dev)

wanted=("${build_packages[@]}")
command -v node >/dev/null && command -v npm >/dev/null || wanted+=("${peer_packages[@]}")
if [ "$with_tests" -eq 1 ]; then
  wanted+=("${test_packages[@]}")
  # The machine image ships a current kubectl; Debian's kubernetes-client (1.20) is only a
  # fallback, and its kustomize is too old for deploy/kubernetes (tests/deploy says so).
  command -v kubectl >/dev/null || wanted+=(kubernetes-client)
fi
[ "$with_bench" -eq 1 ] && wanted+=("${bench_packages[@]}")
[ "$with_fuzz" -eq 1 ] && wanted+=("${fuzz_packages[@]}")

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The npm peers (server-everything for the demo; the SDK, conformance suite and Node 22 for
# tests) are pinned by tests/package-lock.json. A node_modules that is a symlink belongs to
# another checkout (a git worktree sharing the main one's): npm ci would empty its target.
if [ ! -L "$here/tests/node_modules" ] &&
   { [ ! -f "$here/tests/node_modules/.package-lock.json" ] ||
   [ "$here/tests/package-lock.json" -nt "$here/tests/node_modules/.package-lock.json" ]; }; then
  echo "setup: installing npm test peers"
  (cd "$here/tests" && npm ci --no-audit --no-fund --loglevel=error)
fi

# tests/deploy validates the Kubernetes files with kubernetes-models, pinned by its own lock.
if [ "$with_tests" -eq 1 ] && [ ! -L "$here/tests/deploy/node_modules" ] &&
   { [ ! -f "$here/tests/deploy/node_modules/.package-lock.json" ] ||
     [ "$here/tests/deploy/package-lock.json" -nt "$here/tests/deploy/node_modules/.package-lock.json" ]; }; then
  echo "setup: installing npm packages for tests/deploy"
  (cd "$here/tests/deploy" && npm ci --no-audit --no-fund --loglevel=error)
fi
