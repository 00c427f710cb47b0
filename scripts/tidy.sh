#!/usr/bin/env bash
# `make lint`'s clang-tidy step: runs clang-tidy (.clang-tidy has the checks)
# on the given C files, four files per process and one process per core, and
# fails if any finding is reported. llama.cpp's headers are included as system
# headers so that only our code is judged.
#   scripts/tidy.sh LLAMA_PREFIX file.c...
set -euo pipefail
prefix=$1; shift
if [ ! -f "$prefix/include/llama.h" ]; then
  echo "tidy: clang-tidy needs llama.cpp's headers in $prefix/include: run 'make' once first (or give LLAMA_PREFIX=)" >&2
  exit 1
fi
flags=(-std=c11 -D_GNU_SOURCE -Icommon -isystem "$prefix/include"
       -DLLAMA_CPP_VERSION='""' -DPSYCHE_VERSION='""' -DPSYCHE_BUILD_OPTIONS='""')
read -r -a cjson <<<"$(pkg-config --cflags libcjson 2>/dev/null || true)"
flags+=("${cjson[@]}")
export TIDY_FLAGS="${flags[*]@Q}"
# clang-tidy prints findings on stdout and "N warnings generated" on stderr.
# shellcheck disable=SC2016 # expanded by the inner bash
printf '%s\n' "$@" | xargs -P"$(nproc)" -n4 bash -c \
  'eval "f=($TIDY_FLAGS)"; clang-tidy --quiet "$@" -- "${f[@]}" 2>/dev/null' tidy
