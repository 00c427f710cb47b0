#!/usr/bin/env bash
# `make install` and `make uninstall`: the one list of what Psyche installs.
#   scripts/install.sh install   DESTDIR PREFIX BUILD VOCAB_DIR
#   scripts/install.sh uninstall DESTDIR PREFIX
# Installs the three programs, the sandbox's inner-layer helper
# (libexec/psyche/psyche-sandbox-exec: psyche looks in ../libexec/psyche), the
# test-model generator as psyche-mkmodel with the two vocabulary files it reads (share/psyche/vocab), the default configs
# (share/psyche/*.toml: the programs copy them into ~/.config/psyche/ on first
# run, never over an existing file), man pages, bash and zsh completion, the
# systemd user unit and the docs. uninstall removes exactly these files and
# our own folders once empty; it never touches the user's own files.
# STRIP=1 strips the programs (make install-strip).
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
action=${1:?usage: scripts/install.sh install|uninstall DESTDIR PREFIX [BUILD VOCAB_DIR]}
dest=${2:-}
prefix=${3:-/usr/local}
build=${4:-build}
vocab=${5:-}
root="$dest$prefix"

# Each line: mode, installed path (under PREFIX), source. The unit's @BINDIR@
# is filled in at install time.
manifest() {
  local p
  for p in elpis mnemosyne psyche; do
    echo "755 bin/$p $build/bin/$p"
    echo "644 share/psyche/$p.toml configs/$p.toml"
    echo "644 share/man/man1/$p.1 man/$p.1"
    echo "644 share/bash-completion/completions/$p completions/psyche.bash"
  done
  echo "755 bin/psyche-mkmodel $build/bin/mkmodel"
  echo "755 libexec/psyche/psyche-sandbox-exec $build/bin/psyche-sandbox-exec"
  echo "644 share/man/man1/psyche-mkmodel.1 man/psyche-mkmodel.1"
  echo "644 share/bash-completion/completions/psyche-mkmodel completions/psyche.bash"
  echo "644 share/man/man5/psyche.toml.5 man/psyche.toml.5"
  echo "644 share/zsh/vendor-completions/_psyche completions/_psyche"
  echo "644 lib/systemd/user/psyche.service systemd/psyche.service.in"
  for p in ggml-vocab-phi-3.gguf ggml-vocab-bert-bge.gguf; do
    echo "644 share/psyche/vocab/$p $vocab/$p"
  done
  echo "644 share/doc/psyche/README.md README.md"
  for p in docs/*.md; do
    echo "644 share/doc/psyche/${p#docs/} $p"
  done
}

do_install() {
  local mode path src
  if [ -z "$vocab" ] || [ ! -d "$vocab" ]; then
    echo "install: no vocab folder '$vocab': run 'make' first (it builds llama.cpp, which has them)" >&2
    exit 1
  fi
  while read -r mode path src; do
    [ -f "$src" ] || { echo "install: $src is missing: run 'make' first" >&2; exit 1; }
    case $path in
      */psyche.service) sed "s|@BINDIR@|$prefix/bin|g" "$src" | install -D -m "$mode" /dev/stdin "$root/$path" ;;
      bin/* | libexec/*) install -D -m "$mode" ${STRIP:+-s} "$src" "$root/$path" ;;
      *) install -D -m "$mode" "$src" "$root/$path" ;;
    esac
  done < <(manifest)
  echo "installed Psyche into $root"
}

do_uninstall() {
  local mode path src dir
  while read -r mode path src; do
    rm -f "$root/$path"
  done < <(manifest)
  # Our own folders go once empty; shared ones (bin, share/man...) stay.
  for dir in share/psyche/vocab share/psyche share/doc/psyche libexec/psyche; do
    rmdir "$root/$dir" 2>/dev/null || true
  done
  echo "removed Psyche from $root"
}

case $action in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) echo "install.sh: unknown action '$action' (install or uninstall)" >&2; exit 2 ;;
esac
