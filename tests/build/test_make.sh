#!/usr/bin/env bash
# Tests of the Makefile itself, on a copy of the tree whose scripts/setup-deps.sh
# and scripts/build-llama.sh are replaced by stand-ins that leave a mark when
# they run: quiet goals must never run them, compiling goals must; a flags
# change rebuilds, a script change does not; clean and distclean remove what
# they say. Compiles two small objects only (a few seconds).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
real_prefix=$("$root/scripts/build-llama.sh" --print-prefix)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/psyche-make.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
check() { # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then ok "$name"; else bad "$name" "${out:-}"; fi
}

# The copy: tracked and new files, no build folder, no git.
src="$tmp/src" marks="$tmp/marks"
mkdir -p "$src" "$marks" "$tmp/cache-entry"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$src"
cat > "$src/scripts/setup-deps.sh" <<SH
#!/bin/sh
touch "$marks/setup-deps"
SH
cat > "$src/scripts/build-llama.sh" <<SH
#!/bin/sh
touch "$marks/build-llama"
if [ "\${1:-}" = --print-prefix ]; then echo "$tmp/cache-entry"; else echo "$real_prefix"; fi
SH
chmod +x "$src/scripts/setup-deps.sh" "$src/scripts/build-llama.sh"
cd "$src" || exit 1
marked() { [ -n "$(ls -A "$marks")" ]; }
quiet() { ! marked && [ ! -e build ]; }      # neither script ran, nothing was built
lacks() { ! grep -q -- "$1" <<<"$out"; }      # the last output does not contain $1
unmark() { rm -f "$marks"/*; }

# 1. Goals that build nothing run neither script, even on a fresh tree.
for goal in clean help "-n lint" "-n format" uninstall "-n test"; do
  unmark
  # shellcheck disable=SC2086 # the goal may be two words
  out=$(make $goal PREFIX="$tmp/none" 2>&1)
  check "make $goal installs and builds nothing" quiet
done

# 2. Plain make's default goal links the three programs and the tools.
unmark
out=$(make -n 2>&1)
for bin in elpis mnemosyne psyche mkmodel psyche-sandbox-exec; do
  check "plain make links build/bin/$bin" grep -q -- "-o build/bin/$bin " <<<"$out"
done
check "a compiling goal does prepare llama.cpp" test -e "$marks/build-llama"

# 3. test-unit makes the test models first.
out=$(make -n test-unit 2>&1)
check "test-unit makes the test models" grep -q "mkmodel --vocab-dir" <<<"$out"

# 4. Flags and scripts: what rebuilds an object and what does not.
obj=build/obj/common/buf.o
make -s "$obj" >/dev/null 2>&1
out=$(make "$obj" 2>&1)
check "an up-to-date object is not rebuilt" lacks CC
touch scripts/*.sh LLAMA_VERSION
out=$(make "$obj" 2>&1)
check "editing scripts/ rebuilds no object" lacks CC
out=$(make OPT=-O1 "$obj" 2>&1)
check "changing OPT rebuilds" grep -q "CC *common/buf.c" <<<"$out"
out=$(make OPT=-O1 EXTRA_CFLAGS=-DPSYCHE_TEST_FLAG "$obj" 2>&1)
check "changing EXTRA_CFLAGS rebuilds" grep -q "CC *common/buf.c" <<<"$out"
out=$(make "$obj" 2>&1)
check "going back to the default flags rebuilds" grep -q "CC *common/buf.c" <<<"$out"
out=$(make V=1 -W common/buf.c "$obj" 2>&1)
check "V=1 prints the full command line" grep -q -- "-c common/buf.c -o $obj" <<<"$out"
out=$(make -W common/buf.c "$obj" 2>&1)
check "without V=1 the line is 'CC common/buf.c'" grep -q "^  CC *common/buf.c$" <<<"$out"
check "without V=1 the command line is not shown" lacks "-c common/buf.c"

# 5. The version: VERSION reaches common/version.o, and only it rebuilds.
vobj=build/obj/common/version.o
make -s "$vobj" >/dev/null 2>&1
echo 9.8.7 > VERSION
out=$(make "$obj" "$vobj" 2>&1)
check "a new VERSION rebuilds version.o" grep -q "CC *common/version.c" <<<"$out"
check "a new VERSION rebuilds nothing else" lacks "CC *common/buf.c"
check "version.o carries VERSION" grep -q "9.8.7" "$vobj"

# 6. clean removes BUILD; distclean also the llama.cpp cache entry.
make -s BUILD=out "$obj" >/dev/null 2>&1 || true
mkdir -p out
out=$(make BUILD=out clean 2>&1)
check "clean removes BUILD" test ! -e out
make -s "$obj" >/dev/null 2>&1
out=$(make distclean 2>&1)
check "distclean removes build/" test ! -e build
check "distclean removes the llama.cpp cache entry" test ! -e "$tmp/cache-entry"

# 7. build-llama.sh: a second build of the same key waits for the first one's
#    lock, then finds its result and builds nothing (the real script, with a
#    cache in $tmp; the "first build" is this shell holding the lock).
cache="$tmp/llama-cache"
prefix=$(PSYCHE_CACHE="$cache" "$root/scripts/build-llama.sh" --print-prefix)
mkdir -p "$cache"
exec 8>"$prefix.lock"
flock 8
# (8>&-: the second build must not inherit our lock.)
PSYCHE_CACHE="$cache" "$root/scripts/build-llama.sh" >"$tmp/second.out" 2>"$tmp/second.err" 8>&- &
second=$!
for _ in $(seq 600); do grep -qs waiting "$tmp/second.err" && break; sleep 0.1; done
out=$(cat "$tmp/second.err")
check "a second llama.cpp build waits for the lock" grep -q "another build of .* is running; waiting" <<<"$out" ||
  kill "$second" 2>/dev/null
mkdir -p "$prefix" && echo finished > "$prefix/.complete"
exec 8>&-
wait "$second"; rc=$?
out=$(cat "$tmp/second.out" "$tmp/second.err")
check "after the lock it uses the finished build" test "$rc" -eq 0 -a "$(cat "$tmp/second.out")" = "$prefix"
check "and builds nothing itself" lacks "building llama.cpp"

echo "build: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
