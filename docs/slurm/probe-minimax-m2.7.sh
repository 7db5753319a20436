#!/bin/bash
# The calibration probe of MiniMax-M2.7 (62 layers, 256 experts, 228.7 B parameters) over
# 262,144 calibration tokens as a SLURM job array: each array task runs `prismaquant probe
# --shard auto` on its share of the batches (batch i on task i mod N), streaming the checkpoint
# one layer at a time; a dependent job merges the parts into the stats file, byte-identical to a
# single-process run (docs/probe.md "Sharding").
#
#   bash docs/slurm/probe-minimax-m2.7.sh   # submits the array (sbatch) and the merge after it
#
# Sizing (docs/probe.md "Memory"): 128 rows × 2048 tokens, one row per batch = 128 batches,
# 16 tasks × 8 batches; the engine runs one batch per thread, so --threads = batches per task.
# Per task: one layer dequantized to float32 (14.5 GB), one layer tape per thread (≈0.8 MB per
# token: 8 × 2048 tokens ≈ 13 GB) and the task's cached layer inputs (16,384 tokens × 3072 × 4 B
# × 63 boundaries ≈ 12.7 GB, in memory within --max-memory, spilled to $TMPDIR beyond).
# Work: ≈ 80 GFLOP per token through the 62 layers (forward, recomputed forward, backward,
# Fisher products, re-routing experts), ≈ 1.3 PFLOP per task; the checkpoint is read twice per
# task (forward, reverse sweep).
#SBATCH --job-name=pq-probe-m2.7
#SBATCH --array=0-15
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=08:00:00
#SBATCH --output=pq-probe-%A_%a.log
set -euo pipefail

MODEL=${MODEL:-/models/MiniMax-M2.7}
# uint32 token ids (vocabulary 200064), 128 rows × 2048 in the order code, agentic, math, prose:
#   .venv-ref/bin/python python/tokenize_jsonl.py --model $MODEL --seq-len 2048 ... --out calib-m2.7.bin
CALIB=${CALIB:-$PWD/calib-m2.7.bin}
OUT=${OUT:-$PWD/stats-m2.7.json}
TASKS=16

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then  # submitting: the array, then the merge after it
  jid=$(sbatch --parsable "$0")
  parts=""
  for ((i = 0; i < TASKS; i++)); do parts+=" ${OUT%.json}.shard-$i-of-$TASKS.json"; done
  sbatch --dependency=afterok:"$jid" --job-name=pq-probe-merge --time=00:30:00 --mem=16G \
    --wrap "prismaquant merge$parts --out $OUT"
  exit 0
fi

prismaquant probe --model "$MODEL" --calib "$CALIB" --token-dtype uint32 --seq-len 2048 --batch 1 \
  --domains code,agentic,math,prose --shard auto --threads "$SLURM_CPUS_PER_TASK" \
  --max-memory 24 --tmp-dir "${TMPDIR:-/tmp}" --out "$OUT"
