#!/usr/bin/env bash
# `make install` into a DESTDIR, then the installed programs run from another
# folder with an empty HOME and no source tree: --version, psyche-mkmodel with
# its installed vocab files, elpis --doctor on that model, mnemosyne stats;
# the man pages pass man --warnings and lexgrog, psyche.toml(5) matches the
# settings tables, the unit passes systemd-analyze verify, the completions
# load; `make uninstall` leaves no file behind. About 10 s after a build.
#   tests/install/test_install.sh [BUILD]
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build="$root/$build" ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/psyche-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0 out=""
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "$out" ] && printf '%s\n' "$out" | tail -15 | sed 's/^/     /'; }
check() { # name, command...: runs it, keeps its output in $out
  local name=$1; shift
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name"; fi
}
has() { grep -q -- "$1" <<<"$out"; }   # the last output contains $1
expect() { # name, command...: like check, but keeps $out for the command to look at
  local name=$1; shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}
has_all() { local w; for w in "$@"; do has "$w" || return 1; done; }

dest="$tmp/root" prefix=/usr/local
inst="$dest$prefix"
check "make install into a DESTDIR" make -C "$root" -s install DESTDIR="$dest" PREFIX="$prefix" BUILD="$build"

# The installed programs, from an unrelated folder, with an empty HOME.
mkdir -p "$tmp/home" "$tmp/elsewhere"
run() { (cd "$tmp/elsewhere" && env -i HOME="$tmp/home" PATH="$inst/bin:/usr/bin:/bin" "$@"); }
version=$(cat "$root/VERSION")
for p in psyche elpis mnemosyne; do
  check "$p --version" run "$p" --version
  expect "$p --version names the version $version" has "^$p $version"
done
check "psyche-mkmodel finds its installed vocab files" run psyche-mkmodel --out-dir "$tmp/models"
check "the sandbox helper is installed" test -x "$inst/libexec/psyche/psyche-sandbox-exec"
out=$(run psyche --doctor --workspace "$tmp/elsewhere" 2>&1)
expect "psyche --doctor finds the installed sandbox helper" eval '! has "psyche-sandbox-exec is missing"'
check "elpis --doctor on the installed mkmodel's test model" \
  run elpis --doctor --model "$tmp/models/tiny-chat.gguf"
# stats reads and never creates a database: a first import makes it.
printf '{"content":"The user likes green tea"}\n' >"$tmp/one.jsonl"
check "mnemosyne import into an empty HOME" run mnemosyne import "$tmp/one.jsonl"
check "mnemosyne made its database under HOME" test -f "$tmp/home/.local/share/psyche/memories.db"
check "mnemosyne stats" run mnemosyne stats
check "the first run copied the shipped config to HOME" test -f "$tmp/home/.config/psyche/mnemosyne.toml"
echo "# mine" >>"$tmp/home/.config/psyche/mnemosyne.toml"
check "mnemosyne stats with the user's own config" run mnemosyne stats
check "a later run never overwrites the user's config" grep -q "^# mine" "$tmp/home/.config/psyche/mnemosyne.toml"

# Documentation: the man pages render without warnings and have a NAME line.
for page in "$inst"/share/man/man1/*.1 "$inst"/share/man/man5/psyche.toml.5; do
  name=$(basename "$page")
  check "man --warnings $name" bash -c "LC_ALL=C.UTF-8 man --warnings -l '$page' 2>&1 >/dev/null | (! grep .)"
  check "lexgrog $name" lexgrog "$page"
done
check "psyche.toml(5) is generated from the settings tables" \
  "$root/scripts/gen-config-docs.sh" "$build" "$tmp/configuration.md" "$tmp/psyche.toml.5"
check "man/psyche.toml.5 is current (scripts/gen-config-docs.sh)" diff -u "$root/man/psyche.toml.5" "$tmp/psyche.toml.5"

# The systemd user unit, pointing at the installed psyche.
unit="$inst/lib/systemd/user/psyche.service"
check "the unit runs the installed psyche serve" grep -q "^ExecStart=$prefix/bin/psyche serve$" "$unit"
sed "s|$prefix/bin/psyche|$inst/bin/psyche|" "$unit" > "$tmp/psyche.service"
mkdir -p "$tmp/run"
check "systemd-analyze verify psyche.service" \
  env XDG_RUNTIME_DIR="$tmp/run" MANPATH="$inst/share/man" systemd-analyze verify --user "$tmp/psyche.service"

# Completion: bash offers mnemosyne's subcommands and psyche serve; zsh parses.
complete_words() { # words...: what bash completion offers for the last word
  # shellcheck disable=SC2016 # expanded by the inner bash
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); fn=$(complete -p "$1" | sed -E "s/.*-F ([^ ]+) .*/\1/")
           "$fn"; printf "%s\n" "${COMPREPLY[@]}"' _ "$inst/share/bash-completion/completions/$1" "$@"
}
out=$(complete_words mnemosyne "")
expect "bash completes mnemosyne's commands" has_all "^export$" "^stats$"
out=$(complete_words mnemosyne search --st)
expect "bash completes mnemosyne search's flags" has "^--status$"
out=$(complete_words psyche se)
expect "bash completes psyche serve" has "^serve$"
out=$(complete_words elpis --gpu)
expect "bash completes elpis's flags" has "^--gpu-layers$"
check "the zsh completion parses" zsh -n "$inst/share/zsh/vendor-completions/_psyche"

# Uninstall removes every file it installed, and nothing of the user's.
check "make uninstall" make -C "$root" -s uninstall DESTDIR="$dest" PREFIX="$prefix"
out=$(find "$dest" -type f)
expect "nothing installed is left" test -z "$out"
check "the user's database is untouched" test -f "$tmp/home/.local/share/psyche/memories.db"

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
