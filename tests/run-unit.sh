#!/usr/bin/env bash
# Runs every unit test program in BUILD/tests and prints one summary line
# counting cmocka test cases. A program that crashes counts as one failure.
set -u
build=${1:-build}
cd "$(dirname "$0")/.." || exit 1
passed=0 failed=0 bad=()
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  out=$(timeout 600 "$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' | tail -1)
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  [ "$rc" -ne 0 ] && bad+=("$(basename "$t")")
  passed=$((passed + p)); failed=$((failed + f))
done
[ ${#bad[@]} -gt 0 ] && echo "failing unit test programs: ${bad[*]}"
echo "unit: $passed passed, $failed failed"
[ ${#bad[@]} -eq 0 ]
