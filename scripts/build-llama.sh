#!/usr/bin/env bash
# Fetches and builds llama.cpp (static, CPU by default) into a cache prefix
# outside the repository, keyed by version, CPU and backend, and prints that
# prefix on stdout. A second run with the same key does nothing. Two builds
# of the same key wait for each other (flock); progress goes to stderr.
#
#   scripts/build-llama.sh                 build if needed, print the prefix
#   scripts/build-llama.sh --print-prefix  print the prefix, build nothing
#
# Where the source comes from: scripts/llama-source.sh.
#
# Environment:
#   LLAMA_CUDA=1         build with -DGGML_CUDA=ON (needs nvcc)
#   LLAMA_RPC=1          build with -DGGML_RPC=ON (layers on rpc-server processes; see docs/elpis.md)
#   GGML_NATIVE=OFF      portable build (valgrind 3.19 cannot run AVX-512)
#   PSYCHE_CACHE=DIR     cache root (default ~/.cache/psyche)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/llama-source.sh
. "$here/scripts/llama-source.sh" # LLAMA_VERSION, $cache, $native
cuda=${LLAMA_CUDA:-0}
rpc=${LLAMA_RPC:-0}
cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m)
key=$(llama_base_key "$native")
[ "$cuda" = 1 ] && key="$key-cuda"
[ "$rpc" = 1 ] && key="$key-rpc"
prefix="$cache/$key"

if [ "${1:-}" = --print-prefix ] || [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

log() { echo "build-llama: $*" >&2; }

# One build per key at a time: a second caller waits, then finds it done.
mkdir -p "$cache"
exec 9>"$prefix.lock"
if ! flock -n 9; then
  log "another build of $key is running; waiting for it"
  flock 9
fi
if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi
log "building llama.cpp $LLAMA_RELEASE ($LLAMA_COMMIT) for $cpu into $prefix"
log "(this takes about 2-3 minutes on 2 cores and happens once per machine)"

work=$(mktemp -d "${TMPDIR:-/tmp}/psyche-llama.XXXXXX")
trap 'rm -rf "$work"' EXIT
llama_fetch_source "$work" # set -e: a failure ends the script

cmake_args=(-S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_INSTALL_PREFIX="$prefix"
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE="$native"
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON)
[ "$cuda" = 1 ] && cmake_args+=(-DGGML_CUDA=ON)
[ "$rpc" = 1 ] && cmake_args+=(-DGGML_RPC=ON)
cmake "${cmake_args[@]}" >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; exit 1; }
# Progress: one line per tenth of the build, from cmake's "[ 42%]" lines.
progress() {
  awk -F'[][%]' '/^\[ *[0-9]+%\]/ { p = $2 + 0; if (int(p / 10) > last) { last = int(p / 10);
       printf "build-llama: %3d%%\n", p > "/dev/stderr"; fflush("/dev/stderr") } }' last=0
}
log "configured; compiling (full log: $work/build.log)"
if ! cmake --build "$work/build" -j"$(nproc)" 2>&1 | tee "$work/build.log" | progress; then
  tail -50 "$work/build.log" >&2
  exit 1
fi
rm -rf "$prefix"
cmake --install "$work/build" >/dev/null
# The vocabulary files are the seeds of our deterministic test models.
mkdir -p "$prefix/share/llama-vocab"
cp "$work/src/models/"ggml-vocab-*.gguf "$prefix/share/llama-vocab/"
echo "$LLAMA_RELEASE $LLAMA_COMMIT native=$native cuda=$cuda rpc=$rpc" > "$prefix/.complete"
log "done"
echo "$prefix"
