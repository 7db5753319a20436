#!/usr/bin/env python3
"""A sharded export (`--max-shard-bytes`) loads in the REAL client exactly as the single-file
one: transformers 5.17 + compressed-tensors 0.19 (.venv-ref) read the index and every shard.
Exports the nvfp4 golden case twice (one file; shards of at most 1 MB) and checks
  - safetensors (the library) opens every shard the index names, the index's weight_map is
    exactly the tensors found in the shards, and metadata.total_size is their byte sum;
  - stock `from_pretrained(dir, CompressedTensorsConfig(dequantize=True))` (transformers'
    own sharded loading) gives the same state_dict from both folders, tensor for tensor;
  - python/export/prismaquant_load.py gives identical logits on an eval row from both.
Exit 77 (skipped) without .venv-ref (scripts/setup.sh --ref; PQ_REF_PYTHON for another)."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

src = Path(os.environ.get("PQ_SOURCE_DIR", Path(__file__).resolve().parents[2]))
build = Path(os.environ.get("PQ_BUILD_DIR", src / "build"))
py = os.environ.get("PQ_REF_PYTHON", str(src / ".venv-ref" / "bin" / "python"))
if not Path(py).exists():
    print(f"skipped: no reference python at {py} (scripts/setup.sh --ref)")
    sys.exit(77)
probe = subprocess.run([py, "-c", "import torch, transformers, compressed_tensors"], capture_output=True)
if probe.returncode:
    print("skipped: torch / transformers / compressed-tensors not importable:", probe.stderr.decode()[-300:])
    sys.exit(77)
if not (build / "prismaquant").exists():
    print("skipped: prismaquant not built")
    sys.exit(77)

CHECK = r'''
import json, os, sys
from pathlib import Path
import numpy as np
import torch
from safetensors import safe_open
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
torch.set_num_threads(2)
src, one, many = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
sys.path.insert(0, str(src / "python" / "export"))
sys.path.insert(0, str(src / "python" / "model"))
import common
from prismaquant_load import load
from transformers import CompressedTensorsConfig, MiniMaxM2ForCausalLM

fails = []
idx = json.loads((many / "model.safetensors.index.json").read_text())
shards = sorted(set(idx["weight_map"].values()))
found, total = {}, 0
for f in shards:
    with safe_open(str(many / f), framework="pt") as h:
        for k in h.keys():
            t = h.get_tensor(k)
            found[k] = f
            total += t.numel() * t.element_size()
if len(shards) < 2:
    fails.append(f"only {len(shards)} shard(s)")
if found != idx["weight_map"]:
    fails.append("weight_map differs from the shards' tensors")
if idx["metadata"]["total_size"] != total:
    fails.append(f"total_size {idx['metadata']['total_size']} != {total}")
print(f"{len(shards)} shards, {len(found)} tensors, {total} bytes")

def stock(d):
    m = MiniMaxM2ForCausalLM.from_pretrained(str(d), dtype=torch.float32,
                                             quantization_config=CompressedTensorsConfig(dequantize=True))
    return {k: v.detach().clone() for k, v in m.state_dict().items()}
a, b = stock(one), stock(many)
if a.keys() != b.keys():
    fails.append("stock load: different parameter names")
diff = [k for k in a if k in b and not torch.equal(a[k], b[k])]
if diff:
    fails.append(f"stock load: {len(diff)} parameters differ, e.g. {diff[:3]}")
print(f"stock transformers: {len(a)} parameters, {len(diff)} differ")

tok = common.read_tokens(src / "models" / "minimax-m2-tiny" / "eval_tokens.bin").reshape(-1, 256)
x = torch.from_numpy(tok[:1].astype(np.int64))
with torch.no_grad():
    la, lb = load(one).float()(x).logits, load(many).float()(x).logits
if not torch.equal(la, lb):
    fails.append(f"loader logits differ: max |d| {(la - lb).abs().max().item()}")
print("loader logits identical" if torch.equal(la, lb) else "loader logits DIFFER")
for f in fails:
    print("FAIL", f)
sys.exit(1 if fails else 0)
'''

lc = src / "tests" / "golden" / "export" / "nvfp4" / "layer_config.json"
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    outs = {"one": [], "many": ["--max-shard-bytes", "1000000"]}
    for name, extra in outs.items():
        r = subprocess.run([str(build / "prismaquant"), "export", "--weight-only", "--model",
                            str(src / "models" / "minimax-m2-tiny"), "--layer-config", str(lc), "--out",
                            str(tmp / name)] + extra, capture_output=True, text=True)
        if r.returncode:
            print(f"FAIL export {name}: {r.stdout}{r.stderr}")
            sys.exit(1)
    r = subprocess.run([py, "-c", CHECK, str(src), str(tmp / "one"), str(tmp / "many")])
    sys.exit(1 if r.returncode else 0)
