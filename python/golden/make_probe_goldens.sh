#!/usr/bin/env bash
# Regenerates every probe / eval golden under tests/golden/probe/ with transformers (.venv-ref):
# models/minimax-m2-tiny and models/qwen3-moe-tiny, their shipped calibration and eval token
# files, domains code,prose,math, batch 4, clamped token weights; golden computations on 1 thread,
# the plain transformers probe timed at 1 and 2 threads.
# Run it again after the shipped models change (e.g. retraining). Usage:
#   python/golden/make_probe_goldens.sh [out-dir]     (default tests/golden/probe)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${1:-tests/golden/probe}
for m in minimax-m2-tiny qwen3-moe-tiny; do
  .venv-ref/bin/python python/golden/probe_reference.py --model "models/$m" --domains code,prose,math \
    --batch 4 --token-weights clamped --threads 1 --plain-threads 1,2 --out "$out"
done
