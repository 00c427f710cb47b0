#!/usr/bin/env bash
# `make run`: starts psyche (or, without it, an elpis demo chat) on the
# configured model, falling back to the random-weight test model.
set -eu
build=${1:-build}
model=${PSYCHE_MODEL_PATH:-${ELPIS_MODEL_PATH:-}}
if [ -z "$model" ]; then
  model="$build/models/tiny-chat.gguf"
  cat >&2 <<MSG
NOTE: no model configured, so this runs on $model:
a RANDOM-WEIGHT TEST MODEL that answers in deterministic gibberish.
Point to a real GGUF chat model with:  make run ELPIS_MODEL_PATH=/path/to/model.gguf
(or [model] path in configs/elpis.toml, or psyche --model PATH).
MSG
  sleep 2
fi
if [ -x "$build/bin/psyche" ]; then
  exec "$build/bin/psyche" --model "$model"
fi
exec python3 scripts/demo_chat.py "$build/bin/elpis" "$model"
