#!/usr/bin/env bash
# Sets up, builds, and runs Bulwark in front of the demo MCP server (server-everything in
# Streamable HTTP mode), both on loopback. Ctrl-C stops both.
#   deploy/demo.sh                       # data port 127.0.0.1:8080, admin 127.0.0.1:9901
#   LISTEN=127.0.0.1:18080 ADMIN=127.0.0.1:19901 UPSTREAM_PORT=13001 deploy/demo.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
listen=${LISTEN:-127.0.0.1:8080}
admin=${ADMIN:-127.0.0.1:9901}
upstream_port=${UPSTREAM_PORT:-3001}

deploy/setup.sh --demo
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target bulwark

server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

PORT=$upstream_port node tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js \
  streamableHttp >/tmp/bulwark-demo-upstream.log 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$upstream_port/mcp" && break
  kill -0 "$server_pid" 2>/dev/null || { cat /tmp/bulwark-demo-upstream.log; exit 1; }
  sleep 0.1
done

cat <<MSG

  Demo MCP server (server-everything): http://127.0.0.1:$upstream_port/mcp
  Give your MCP client this URL:       http://$listen/mcp
  Metrics:                             http://$admin/metrics

MSG
build/release/proxy/bulwark --upstream "http://127.0.0.1:$upstream_port/mcp" \
  --listen "$listen" --admin "$admin"
