#!/usr/bin/env bash
# `make run`: starts psyche (or, without it, an elpis demo chat). The model is,
# in order: ELPIS_MODEL_PATH / PSYCHE_MODEL_PATH, [model] path in
# configs/psyche.toml, else the random-weight test model (with a notice).
# WORKSPACE=DIR chooses the agent's workspace (default: <data>/psyche/workspace).
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
model=${PSYCHE_MODEL_PATH:-${ELPIS_MODEL_PATH:-}}
# The programs never read a config from the current folder: the repo's configs
# are passed explicitly (psyche's children inherit ELPIS_/MNEMOSYNE_CONFIG).
export PSYCHE_CONFIG=${PSYCHE_CONFIG:-$here/configs/psyche.toml}
export ELPIS_CONFIG=${ELPIS_CONFIG:-$here/configs/elpis.toml}
export MNEMOSYNE_CONFIG=${MNEMOSYNE_CONFIG:-$here/configs/mnemosyne.toml}
# The agent works in a folder of its own, never the Psyche source tree.
workspace=${WORKSPACE:-${XDG_DATA_HOME:-$HOME/.local/share}/psyche/workspace}
mkdir -p "$workspace"
args=(--workspace "$workspace")
if [ -n "$model" ]; then
  args+=(--model "$model")
elif [ -x "$build/bin/psyche" ] &&
     "$build/bin/psyche" --print-config | sed -n '/^\[model\]/,/^\[/p' | grep -q '^path = "..*"'; then
  : # the config names a model
else
  model="$build/models/tiny-chat.gguf"
  args+=(--model "$model")
  cat >&2 <<MSG
NOTE: no model configured, so this runs on $model:
a RANDOM-WEIGHT TEST MODEL that answers in deterministic gibberish.
Point to a real GGUF chat model with:  make run ELPIS_MODEL_PATH=/path/to/model.gguf
(or [model] path in configs/psyche.toml, or psyche --model PATH).
MSG
  sleep 2
fi
if [ -x "$build/bin/psyche" ]; then
  exec "$build/bin/psyche" "${args[@]}"
fi
exec python3 scripts/demo_chat.py "$build/bin/elpis" "${model:-$build/models/tiny-chat.gguf}"
