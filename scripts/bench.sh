#!/usr/bin/env bash
# `make bench`: the benchmark programs. They print figures and ratios measured
# in one run; nothing here passes or fails on timing (the machines are shared).
set -u
build=${1:-build}
cd "$(dirname "$0")/.." || exit 1
for b in elpis_bench mnemosyne_bench mnemosyne_recall psyche_soak; do
  [ -x "$build/bench/$b" ] || continue
  echo "=== $b"
  case $b in
    psyche_soak) "$build/bench/$b" --minutes "${SOAK_MINUTES:-2}" --build "$build" ;;
    *) "$build/bench/$b" ;;
  esac
done
# Slots, llama-server and the upstream backend (needs scripts/build-llama-tools.sh's llama-server).
if [ -x "$build/bin/elpis" ]; then
  echo "=== elpis_scale"
  scripts/build-llama-tools.sh >/dev/null && python3 bench/elpis_scale.py --build "$build"
fi
# psyche serve: HTTP SSE vs MCP, /health under load, llama-server (docs/server.md)
if [ -x "$build/bin/psyche" ] && [ -f "$build/models/tiny-chat.gguf" ]; then
  echo "=== serve_bench"
  python3 bench/serve_bench.py "$build" ${SERVE_BENCH_MODEL:+--model "$SERVE_BENCH_MODEL"}
fi
