#!/usr/bin/env bash
# `make deb`: builds the Debian package with dpkg-buildpackage on a copy of the
# tree (so nothing is written next to the repository), then runs lintian on it.
# Prints the path of the .deb on the last line.
#   scripts/build-deb.sh [OUTDIR]   (default build/deb)
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${1:-build/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src="$out/src"
rm -rf "$src"
mkdir -p "$src"
# Tracked and new files, as `git status` sees them (no build outputs).
git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -xf - -C "$src"
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "$version" != "$(cat VERSION)" ]; then
  echo "deb: debian/changelog says $version but VERSION says $(cat VERSION): add a changelog entry (dch -v)" >&2
  exit 1
fi
echo "deb: building psyche $version in $src" >&2
# Started from make (make deb / make test-deb): the package's own make must not
# inherit our jobserver (it would fall back to -j1); it runs -j<cores> itself.
unset MAKEFLAGS MFLAGS MAKELEVEL
(cd "$src" && dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1) || {
  tail -40 "$out/build.log" >&2
  echo "deb: dpkg-buildpackage failed; full log in $out/build.log" >&2
  exit 1
}
deb="$out/psyche_${version}_$(dpkg --print-architecture).deb"
echo "deb: lintian $deb" >&2
lintian --fail-on error --suppress-tags-from-file /dev/null "$deb" >&2
echo "$deb"
