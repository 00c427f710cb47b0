# shellcheck shell=bash
# llama-source.sh - sourced by build-llama.sh and build-llama-tools.sh (with
# $here set to the repository): LLAMA_VERSION's variables, the cache root
# ($cache: PSYCHE_CACHE, default ~/.cache/psyche), $native (GGML_NATIVE,
# default ON), the cache key of this machine's llama.cpp build, and fetching
# llama.cpp's source at the commit LLAMA_VERSION names. The caller defines log().
#
# Debian 12 has no llama.cpp, and only Debian's archive and the npm registry
# are reachable, so the source comes from the npm package node-llama-cpp,
# which carries the llama.cpp release as a git bundle. We do NOT apply
# node-llama-cpp's own patches (its PR-22566.diff breaks creating models
# from metadata).

# shellcheck source=LLAMA_VERSION disable=SC2154 # $here: set by the caller
. "$here/LLAMA_VERSION"
# shellcheck disable=SC2034 # used by the scripts that source this one
cache=${PSYCHE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/psyche}
# shellcheck disable=SC2034
native=${GGML_NATIVE:-ON}

# llama_base_key NATIVE: "llama-<release>-<commit>-<arch>-<cpu flags>", where
# the CPU flags are a hash of /proc/cpuinfo's, or "portable" when NATIVE is not ON.
llama_base_key() {
  local flags
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | md5sum | cut -c1-8 || echo generic)
  [ "$1" = ON ] || flags=portable
  echo "llama-${LLAMA_RELEASE}-${LLAMA_COMMIT}-$(uname -m)-${flags}"
}

# llama_fetch_source WORK: llama.cpp's source in WORK/src (a clone already
# there is reused), checked to be LLAMA_COMMIT. Returns 1 after a log line
# when npm is missing or the bundle holds another commit.
llama_fetch_source() {
  local work=$1 got
  if [ ! -d "$work/src/.git" ]; then
    command -v npm >/dev/null || { log "npm is missing: run scripts/setup-deps.sh"; return 1; }
    (cd "$work" && npm pack --silent "node-llama-cpp@${NODE_LLAMA_CPP_VERSION}" >/dev/null)
    tar -xzf "$work/node-llama-cpp-${NODE_LLAMA_CPP_VERSION}.tgz" -C "$work" package/llama/gitRelease.bundle
    git -c advice.detachedHead=false clone -q "$work/package/llama/gitRelease.bundle" "$work/src"
  fi
  got=$(git -C "$work/src" rev-parse --short=7 HEAD)
  if [ "${got:0:7}" != "${LLAMA_COMMIT:0:7}" ]; then
    log "the bundle holds commit $got, expected $LLAMA_COMMIT (LLAMA_VERSION); refusing to build"
    return 1
  fi
}
