#!/usr/bin/env bash
# Interop: the official MCP TypeScript SDK client (@modelcontextprotocol/sdk,
# pinned in package-lock.json) drives our servers, and the official `openai`
# client drives `psyche serve`. Installs them on first use.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$(dirname "$0")/../.." && cd "${1:-build}" && pwd)
if [ ! -d "$here/node_modules/@modelcontextprotocol/sdk" ] || [ ! -d "$here/node_modules/openai" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --silent)
fi
BUILD="$build" node --test "$here"/*.test.mjs
