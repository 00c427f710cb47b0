#!/usr/bin/env bash
# Runs every unit test binary in BUILD/tests and prints one summary line.
# cmocka prints its own report per binary; a binary that crashes counts as failed.
set -u
build=${1:-build}
passed=0 failed=0 failed_names=()
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  if (cd "$(dirname "$0")/.." && timeout 600 "$t"); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failed_names+=("$name")
  fi
done
[ ${#failed_names[@]} -gt 0 ] && echo "failed unit test programs: ${failed_names[*]}"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
