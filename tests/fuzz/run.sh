#!/usr/bin/env bash
# Runs each fuzz target for a bounded time on its seed corpus and prints
# "fuzz: N passed, N failed". New inputs go to a scratch folder, never into
# the committed corpus; a crash leaves its input in the scratch folder and
# its path is printed (add it to tests/fuzz/corpus/<target>/ with the fix).
#   tests/fuzz/run.sh BUILD_FUZZ_DIR TARGET...      FUZZ_SECONDS=15 by default
set -u
dir=${1:?usage: run.sh FUZZ_DIR TARGET...}; shift
seconds=${FUZZ_SECONDS:-15}
cd "$(dirname "$0")/../.." || exit 1
scratch=$(mktemp -d "${TMPDIR:-/tmp}/psyche-fuzz.XXXXXX")
passed=0 failed=0
for t in "$@"; do
  bin="$dir/fuzz_$t"
  mkdir -p "$scratch/$t"
  echo "--- fuzz_$t for ${seconds}s"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$scratch/$t/crash-" -print_final_stats=1 \
        "$scratch/$t" "tests/fuzz/corpus/$t" > "$scratch/$t.log" 2>&1; then
    passed=$((passed + 1))
    grep -E '^stat::number_of_executed_units' "$scratch/$t.log" | sed "s/^/fuzz_$t: /"
  else
    failed=$((failed + 1))
    tail -40 "$scratch/$t.log"
    for r in "$scratch/$t"/crash-* "$scratch/$t"/leak-* "$scratch/$t"/timeout-*; do
      [ -e "$r" ] && echo "reproducer: $r"
    done
  fi
done
if [ "$failed" -eq 0 ]; then rm -rf "$scratch"; else echo "inputs and logs kept in $scratch"; fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
