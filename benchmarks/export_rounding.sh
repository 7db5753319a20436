#!/usr/bin/env bash
# Held-out loss of the shipped model exported with each rounding policy — RTN, GPTQ, GPTQ with
# the scale sweep — at two allocations: every Linear NVFP4A16, and a mixed allocation (the
# knee-free `allocate --target-bits 4.75` over NVFP4, MXFP4, MXFP8_E4M3, FP8_SOURCE, BF16 with
# the probe's statistics). Each loss is `export --eval`: the checkpoint written, read back as
# stored, with the inputs of its dynamic FP8 / MX schemes quantized as served (activations on)
# or not (off); the calibration (`--calib`) on the shipped calibration tokens. Prints a Markdown table
# (docs/export.md, "Does GPTQ help here?").
# Usage: benchmarks/export_rounding.sh [BUILD_DIR] [WORK_DIR]   (default: build, /tmp/pq_export_rounding)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pq=${1:-build}/prismaquant
work=${2:-/tmp/pq_export_rounding}
m=models/minimax-m2-tiny
mkdir -p "$work"
dom=code,prose,math
# allocations
python3 - "$work/nvfp4.json" <<'EOF'
import json, sys
lc = {}
for l in range(4):
    for p in "qkvo":
        lc[f"model.layers.{l}.self_attn.{p}_proj"] = {"bits": 4, "group_size": 16, "data_type": "nv_fp", "fmt": "NVFP4"}
    for e in range(32):
        for w in ("w1", "w2", "w3"):
            lc[f"model.layers.{l}.block_sparse_moe.experts.{e}.{w}"] = {"bits": 4, "group_size": 16, "data_type": "nv_fp", "fmt": "NVFP4"}
json.dump(lc, open(sys.argv[1], "w"), indent=1)
EOF
"$pq" probe --quiet --model $m --calib $m/calib_tokens.bin --domains $dom --out "$work/stats.json" >/dev/null
"$pq" cost --quiet --model $m --formats NVFP4,MXFP4,MXFP8_E4M3,FP8_SOURCE,BF16 --out "$work/costs.json" >/dev/null
"$pq" allocate --stats "$work/stats.json" --costs "$work/costs.json" --model $m --out "$work/mixed" \
  --target-bits 4.75 >/dev/null 2>&1
"$pq" eval --quiet --model $m --tokens $m/eval_tokens.bin --domains $dom --out "$work/source.json" >/dev/null
row() {  # row NAME JSON
  python3 - "$1" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[2]))
d = j["domains"]
print(f"| {sys.argv[1]} | {j['loss']:.5f} | {d['code']:.5f} | {d['prose']:.5f} | {d['math']:.5f} |")
EOF
}
echo "| model | all | code | prose | math |"
echo "|---|---|---|---|---|"
row "source (FP8 block)" "$work/source.json"
for alloc in nvfp4 mixed; do
  lc="$work/nvfp4.json"
  [ $alloc = mixed ] && lc="$work/mixed/layer_config.json"
  for r in rtn gptq gptq+sweep; do
    for act in on off; do  # NVFP4A16 quantizes no activations: its two rows would be equal
      [ $alloc = nvfp4 ] && [ $act = off ] && continue
      rm -rf "$work/ckpt"
      "$pq" export --quiet --weight-only --model $m --layer-config "$lc" --out "$work/ckpt" --rounding $r \
        --calib $m/calib_tokens.bin --eval $m/eval_tokens.bin --domains $dom --act-quant $act \
        --eval-out "$work/$alloc-$r-$act.json" >/dev/null
      name="$alloc, $r"
      [ $alloc = mixed ] && name="$name, activations $act"
      row "$name" "$work/$alloc-$r-$act.json"
    done
  done
done
