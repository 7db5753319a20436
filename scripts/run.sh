#!/usr/bin/env bash
# The main job on the embedded default model: set up, build the `prismaquant` tool, then
# inspect the shipped MiniMax-M2-architecture checkpoint and measure every Linear's cost in
# the seed formats. Usage: scripts/run.sh [MODEL_DIR] [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
model=${1:-models/minimax-m2-tiny}
out=${2:-out/$(basename "$model")}
bash scripts/setup.sh
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
# The main job needs no GPU: the tool is built without CUDA here, in a folder of its own
# (PQ_CUDA=ON adds `cost --device cuda`).
build=${PQ_BUILD:-build-run}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPRISMAQUANT_CUDA="${PQ_CUDA:-OFF}" >/dev/null
cmake --build "$build" --target prismaquant_cli -j"$(nproc)"
mkdir -p "$out"
pq="$build/prismaquant"
echo "== inspect"; "$pq" inspect --model "$model"
echo "== cost"; "$pq" cost --model "$model" --formats NVFP4,MXFP8_E4M3,FP8_SOURCE,BF16 --out "$out/cost.json"
echo "outputs in $out/"
