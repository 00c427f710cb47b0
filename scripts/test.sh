#!/usr/bin/env bash
# `make test`: the whole suite, as CI runs it.
#  1. plain build: unit, integration (real binaries over stdio), interop (official MCP SDK client)
#  2. ASan+UBSan build: unit and integration again
#  3. TSan build: elpis's concurrency tests (the one-thread-owns-llama design)
# Ends with one line "N passed, N failed" over all stages.
set -u
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
stages=() ; bad=0
run() { # name, command...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then stages+=("$name:ok"); else stages+=("$name:FAILED"); bad=$((bad + 1)); fi
}
# Build first (it installs missing packages and llama.cpp); a build failure ends the run.
make -j"$jobs" all test-models || { echo "build failed"; echo "test: 0 passed, 1 failed"; exit 1; }
run unit         make -j"$jobs" test-unit
run integration  make test-integration
run interop      make test-interop

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
san="BUILD=build/asan SAN=address,undefined OPT=-O1"
run asan-build   make -j"$jobs" $san all test-models
run asan-unit    make -j"$jobs" $san test-unit
run asan-integration make $san test-integration

tsan="BUILD=build/tsan SAN=thread OPT=-O1"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
run tsan-build   make -j"$jobs" $tsan build/tsan/bin/elpis build/tsan/bin/mkmodel test-models
# One ggml thread: libgomp's barriers are invisible to TSan, so ggml's own
# worker threads would be reported as racing. What this stage checks is ours:
# the protocol thread, the inference thread and the streams between them.
run tsan-elpis   env BUILD=build/tsan ELPIS_MODEL_THREADS=1 python3 tests/integration/run.py test_elpis_concurrency.py

echo
printf '%s\n' "${stages[@]}"
ok=$(( ${#stages[@]} - bad ))
echo "test stages: $ok passed, $bad failed"
[ "$bad" -eq 0 ]
