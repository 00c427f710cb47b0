#!/usr/bin/env bash
# `make test`: the whole suite, as CI runs it.
#  1. plain build: unit, integration (real binaries over stdio), interop (official MCP SDK client)
#  2. ASan+UBSan build: unit and integration again
#  3. TSan build: elpis's concurrency tests (the one-thread-owns-llama design),
#     and psyche serve (connection threads, the worker, the channels between them)
#  4. the build itself: Makefile behaviour, lint (clang-format, clang-tidy and
#     the shell-script checker), make install into a DESTDIR, and the .deb
# Each stage prints its own "N passed, N failed"; the last line sums them all.
set -u
cd "$(dirname "$0")/.." || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
logdir=$(mktemp -d "${TMPDIR:-/tmp}/psyche-test.XXXXXX")
total_pass=0 total_fail=0 stages=()

# Counts from a stage's output: our runners' "N passed, N failed", cmocka's
# per-program lines are summed by tests/run-unit.sh, node's "# pass N"/"# fail N".
count() {
  local log=$1 p f
  read -r p f < <(grep -E '^[a-z -]*: ?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 |
                  sed -E 's/.*: ?([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')
  if [ -z "${p:-}" ]; then
    p=$(grep -E '^# pass [0-9]+' "$log" | tail -1 | awk '{print $3}')
    f=$(grep -E '^# fail [0-9]+' "$log" | tail -1 | awk '{print $3}')
  fi
  echo "${p:-0} ${f:-0}"
}

run() { # name, command...
  local name=$1; shift
  local log="$logdir/$name.log"
  echo "=== $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  read -r p f < <(count "$log")
  # A stage that failed without reporting a failed test (a crash, a build error) counts as one failure.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  stages+=("$(printf '%-18s %s (%s passed, %s failed)' "$name" "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)" "$p" "$f")")
}

# Build first (it installs missing packages and llama.cpp); a build failure ends the run.
if ! make -j"$jobs" all test-models; then
  echo "build failed"; echo "total: 0 passed, 1 failed"; exit 1
fi
# llama-server and rpc-server for the elpis upstream and RPC tests (built once, cached like llama.cpp).
run llama-tools       nice -n 5 scripts/build-llama-tools.sh
# An elpis linked against those RPC-enabled libraries, for test_elpis_rpc.py (~30 s: common + elpis only).
run rpc-build         make -j"$jobs" BUILD=build/rpc LLAMA_RPC=1 LLAMA_PREFIX="$(scripts/build-llama-tools.sh --print-prefix)" build/rpc/bin/elpis
run unit              make -j"$jobs" test-unit
run integration       make test-integration
run interop           make test-interop
run security          make test-security
run security-fallback make test-security-fallback

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# shellcheck disable=SC2054 # the comma is part of the SAN value
san=(BUILD=build/asan SAN=address,undefined OPT=-O1)
run asan-build        make -j"$jobs" "${san[@]}" all test-models
run asan-unit         make -j"$jobs" "${san[@]}" test-unit
run asan-integration  make "${san[@]}" test-integration
run alloc-failure     make -j"$jobs" "${san[@]}" test-alloc
run fuzz              make -j"$jobs" test-fuzz

# One ggml thread: libgomp's barriers are invisible to TSan, so ggml's own
# worker threads would be reported as racing. What this stage checks is ours:
# the protocol thread, the inference thread and the streams between them.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
tsan=(BUILD=build/tsan SAN=thread OPT=-O1)
run tsan-build        make -j"$jobs" "${tsan[@]}" build/tsan/bin/elpis build/tsan/bin/psyche build/tsan/bin/mnemosyne test-models
run tsan-elpis        env BUILD=build/tsan ELPIS_MODEL_THREADS=1 python3 tests/integration/run.py test_elpis_concurrency.py test_elpis_batching.py test_elpis_upstream.py
run tsan-serve        env BUILD=build/tsan ELPIS_MODEL_THREADS=1 python3 tests/integration/run.py test_server.py test_server_stream.py test_server_thoughts.py test_server_concurrent.py test_hermes.py

run build             make test-build
run lint              make lint
run install           make test-install
run deb               make test-deb

echo
printf '%s\n' "${stages[@]}"
rm -rf "$logdir"
echo "total: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
