#!/usr/bin/env bash
# `make deb` end to end: builds the package (dpkg-buildpackage on a copy of the
# tree), lintian finds no error, dpkg installs it into a fresh root (dpkg
# --root), the installed programs run with an empty HOME, dpkg removes it
# (and purges it) leaving no file of the package, and the user's data made
# while it was installed is untouched. About 60 s, most of it the build.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/psyche-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0 out=""
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "$out" ] && printf '%s\n' "$out" | tail -15 | sed 's/^/     /'; }
check() { # name, command...: runs it, keeps its output in $out
  local name=$1; shift
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name"; fi
}

check "make deb builds a lintian-clean package" "$root/scripts/build-deb.sh" "$tmp/deb"
deb=$(tail -1 <<<"$out")
if [ ! -f "$deb" ]; then
  echo "deb: 0 passed, 1 failed"
  exit 1
fi

# A fresh root with an empty dpkg database; the libraries come from this
# machine, which has the package's dependencies.
r="$tmp/root"
mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/log"
touch "$r/var/lib/dpkg/status"
dpkg_r() { dpkg --root="$r" --log=/dev/null --force-depends --force-not-root "$@"; }
check "dpkg installs it into a fresh root" dpkg_r -i "$deb"
check "dpkg lists it as installed" bash -c "dpkg --root='$r' -s psyche | grep -q '^Status: install ok installed'"

home="$tmp/home"
mkdir -p "$home" "$tmp/elsewhere"
run() { (cd "$tmp/elsewhere" && env -i HOME="$home" PATH="$r/usr/bin:/usr/bin:/bin" "$@"); }
check "psyche --version" run psyche --version
check "the sandbox helper is packaged" test -x "$r/usr/libexec/psyche/psyche-sandbox-exec"
check "psyche-mkmodel with the packaged vocab files" run psyche-mkmodel --out-dir "$home/models"
check "elpis --doctor on the test model" run elpis --doctor --model "$home/models/tiny-chat.gguf"
# stats reads and never creates a database: a first import makes it.
printf '{"content":"The user likes green tea"}\n' >"$tmp/one.jsonl"
check "mnemosyne import into an empty HOME" run mnemosyne import "$tmp/one.jsonl"
check "mnemosyne made its database under HOME" test -f "$home/.local/share/psyche/memories.db"
check "mnemosyne stats" run mnemosyne stats
check "the first run copied the shipped config to HOME" test -f "$home/.config/psyche/mnemosyne.toml"
echo "# mine" >>"$home/.config/psyche/mnemosyne.toml"
check "mnemosyne stats with the user's own config" run mnemosyne stats
check "a later run never overwrites the user's config" grep -q "^# mine" "$home/.config/psyche/mnemosyne.toml"
sum=$(cd "$home" && find . -type f -exec md5sum {} + | sort)

check "dpkg removes it" dpkg_r -r psyche
check "dpkg purges it" dpkg_r -P psyche
out=$(cd "$r" && find . -type f -not -path './var/lib/dpkg/*')
if [ -z "$out" ]; then ok "no file of the package is left"; else bad "no file of the package is left"; fi
now=$(cd "$home" && find . -type f -exec md5sum {} + | sort)
if [ "$sum" = "$now" ]; then ok "the user's data is untouched"; else out="$now"; bad "the user's data is untouched"; fi

echo "deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
