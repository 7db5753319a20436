#!/usr/bin/env bash
# The main job on the embedded default model: set up, build the `prismaquant` tool, inspect the
# shipped MiniMax-M2-architecture checkpoint, then run the whole method on it with `prismaquant
# pipeline` (docs/pipeline.md): probe, cost, allocate (Pareto sweep + knee, joint expert
# pruning), export a compressed-tensors checkpoint, and measure held-out loss before and after.
# The summary is printed and kept in OUT_DIR/summary.md; the checkpoint is OUT_DIR/checkpoint.
# A rerun reuses every stage whose inputs are unchanged.
# Usage: scripts/run.sh [MODEL_DIR] [OUT_DIR]   (MODEL_DIR needs calib_tokens.bin and eval_tokens.bin)
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
echo "== pipeline"
"$pq" pipeline --model "$model" --calib "$model/calib_tokens.bin" --eval "$model/eval_tokens.bin" \
  --domains "${PQ_DOMAINS-code,prose,math}" --prune-ratios 0,0.125,0.25 --out "$out"
echo "outputs in $out/ (summary.md, checkpoint/)"
