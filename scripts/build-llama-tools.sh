#!/usr/bin/env bash
# Builds llama.cpp's own llama-server and rpc-server, plus RPC-enabled static
# libraries, from the same bundle and commit as scripts/build-llama.sh, into a
# cache prefix outside the repository (<key>-tools next to the libraries) and
# prints that prefix on stdout. A second run with the same key does nothing.
#
# What uses it: the elpis upstream test and bench (llama-server as a real
# OpenAI-compatible server), the RPC test (two rpc-server processes and an
# elpis variant linked against $prefix/lib, which has ggml-rpc), make bench.
#
# Only the targets we need are built (llama-server, rpc-server and the
# libraries), not llama.cpp's forty other tools.
#
#   scripts/build-llama-tools.sh                 build if needed, print the prefix
#   scripts/build-llama-tools.sh --print-prefix  print the prefix, build nothing
#
# Environment:
#   GGML_NATIVE=OFF      portable build
#   PSYCHE_CACHE=DIR     cache root (default ~/.cache/psyche)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/llama-source.sh
. "$here/scripts/llama-source.sh" # LLAMA_VERSION, $cache, $native
prefix="$cache/$(llama_base_key "$native")-tools"

if [ "${1:-}" = --print-prefix ] || [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

log() { echo "build-llama-tools: $*" >&2; }
log "building llama-server and rpc-server $LLAMA_RELEASE ($LLAMA_COMMIT) into $prefix"
log "(this takes several minutes on 2 cores and happens once per machine)"

# The build folder stays until the build succeeds, so a failed or interrupted
# build resumes where it stopped instead of starting over (it takes minutes).
work="$prefix.build"
mkdir -p "$work"
llama_fetch_source "$work" # set -e: a failure ends the script

cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_COMMON=ON \
  -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DGGML_RPC=ON -DGGML_NATIVE="$native" \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON >"$work/cmake.log" 2>&1 \
  || { cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" -j"$(nproc)" --target llama-server ggml-rpc-server llama \
  >"$work/build.log" 2>&1 || { tail -50 "$work/build.log" >&2; exit 1; }

rm -rf "$prefix"
mkdir -p "$prefix/bin" "$prefix/lib" "$prefix/include"
cp "$work/build/bin/llama-server" "$prefix/bin/"
cp "$work/build/bin/ggml-rpc-server" "$prefix/bin/rpc-server"
find "$work/build/src" "$work/build/ggml" -name '*.a' -exec cp {} "$prefix/lib/" \;
cp "$work/src/include/"*.h "$work/src/ggml/include/"*.h "$prefix/include/"
echo "$LLAMA_RELEASE $LLAMA_COMMIT native=$native rpc=1 tools=llama-server,rpc-server" > "$prefix/.complete"
rm -rf "$work"
log "done"
echo "$prefix"
