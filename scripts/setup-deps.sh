#!/usr/bin/env bash
# Installs the Debian packages Psyche builds and tests with, if any is missing.
# Runs quietly when everything is there, so every `make` can call it.
set -euo pipefail
pkgs=(build-essential cmake git pkg-config ca-certificates
      libcjson-dev libcmocka-dev libsqlite3-dev libncurses-dev libpcre2-dev
      libmicrohttpd-dev libcurl4-openssl-dev
      nodejs npm python3 tmux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node and npm may come from elsewhere than Debian (a newer node); accept those.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
command -v python3 >/dev/null && missing=("${missing[@]/python3}")
read -r -a missing <<<"${missing[*]:-}"
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
