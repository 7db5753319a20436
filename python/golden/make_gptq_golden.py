#!/usr/bin/env python3
"""Golden files for prismaquant's GPTQ: llm-compressor's own `quantize_weight`.

Runs the REAL reference (llm-compressor 0.14 `modifiers/gptq/gptq_quantize.quantize_weight`,
its observer `memoryless_minmax` for the scales, compressed-tensors 0.19 presets for the
quantization args; .venv-ref: scripts/setup.sh --ref) on small deterministic problems and
writes

  tests/golden/gptq/cases.safetensors   per case <c>.weight (F32 or BF16), <c>.hessian (F32,
                                        the normalized H llm-compressor's GPTQ receives),
                                        <c>.q32 (F32: the fake-quantized weight GPTQ returns
                                        in float32, llm-compressor's precision), <c>.q64 (F64:
                                        the same with GPTQ_PRECISION = float64)
  tests/golden/gptq/manifest.json       versions, seed, per case: scheme, actorder, block size,
                                        the losses llm-compressor reported

The Hessians come from correlated random inputs (a few shared directions plus noise, like
activations): H = 2/N · Σ x xᵀ as llm-compressor's accumulate_hessian + prepare_batch build it.
One case has dead input columns (never active) and no activation order.

Usage: .venv-ref/bin/python python/golden/make_gptq_golden.py [--out tests/golden/gptq] [--check]
Deterministic: fixed seeds, CPU, one thread. --check regenerates into a temporary folder and
compares with the committed files byte for byte.
"""
import argparse
import filecmp
import json
import math
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import torch  # noqa: E402

torch.set_num_threads(1)

import compressed_tensors  # noqa: E402
import llmcompressor  # noqa: E402
import llmcompressor.modifiers.gptq.gptq_quantize as gq  # noqa: E402
import llmcompressor.modifiers.gptq.helpers as gh  # noqa: E402
from compressed_tensors.quantization import preset_name_to_scheme  # noqa: E402
from llmcompressor.observers import Observer  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

SEED = 20261128

# name, preset, rows, cols, weight dtype, actorder, block size, dead columns
CASES = [
    ("nvfp4_static", "NVFP4A16", 32, 256, torch.float32, "static", 128, []),
    ("nvfp4_bf16_static", "NVFP4A16", 24, 384, torch.bfloat16, "static", 128, []),
    ("nvfp4_dead_noorder", "NVFP4A16", 16, 384, torch.float32, None, 128, [3, 77, 200, 201]),
    ("nvfp4_block64", "NVFP4A16", 16, 256, torch.float32, "static", 64, []),
    ("mxfp4_static", "MXFP4A16", 16, 256, torch.float32, "static", 128, []),
    ("fp8_channel_static", "FP8_DYNAMIC", 24, 200, torch.float32, "static", 128, []),
]


def inputs(g, cols, tokens, dead):
    k = 8
    a = torch.randn(cols, k, generator=g, dtype=torch.float64)
    z = torch.randn(tokens, k, generator=g, dtype=torch.float64)
    x = z @ a.T + 0.3 * torch.randn(tokens, cols, generator=g, dtype=torch.float64)
    x = x * (1.0 + torch.rand(cols, generator=g, dtype=torch.float64))  # uneven column scales
    for j in dead:
        x[:, j] = 0
    return x.to(torch.float32)


def hessian(x):
    # accumulate_hessian: H += (sqrt(2) x)ᵀ(sqrt(2) x); prepare_batch: H / num_samples
    h = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float32)
    n = torch.zeros((), dtype=torch.int64)
    for chunk in x.split(64):
        inp = math.sqrt(2) * chunk.t()
        h += inp.matmul(inp.t())
        n += 1  # one "sample" per call of 64 rows (a batch of one sequence)
    return h / n


def weight(g, rows, cols, dtype):
    w = torch.randn(rows, cols, generator=g, dtype=torch.float32) * 0.02
    w[0, 5] = 0.13  # outliers
    w[rows - 1, cols - 3] = -0.09
    return w.to(dtype)


def run_case(g, name, preset, rows, cols, dtype, actorder, block, dead):
    scheme = preset_name_to_scheme(preset, ["Linear"])
    args = scheme.weights
    args.actorder = actorder
    w = weight(g, rows, cols, dtype)
    obs = Observer.load_from_registry("memoryless_minmax", base_name="weight", args=args)
    obs(w)
    qp = obs.get_qparams()
    x = inputs(g, cols, 512, dead)
    h = hessian(x)
    gs = None if qp["global_scale"] is None else qp["global_scale"].reshape(-1)[:1]
    out = {}
    for prec in (torch.float32, torch.float64):
        gh.GPTQ_PRECISION = prec
        gq.GPTQ_PRECISION = prec
        q, losses, fallback = gq.quantize_weight(
            weights=w.unsqueeze(0).to(prec).clone(),
            hessians=h.unsqueeze(0).clone(),
            scale=qp["scale"].unsqueeze(0),
            zero_point=qp["zero_point"].unsqueeze(0),
            global_scale=None if gs is None else gs.unsqueeze(0),
            quant_args=args,
            blocksize=block,
            percdamp=0.01,
        )
        assert not bool(fallback[0])
        out[prec] = (q[0], float(losses[0]))
    gh.GPTQ_PRECISION = gq.GPTQ_PRECISION = torch.float32
    tensors = {
        f"{name}.weight": w.contiguous(),
        f"{name}.hessian": h.contiguous(),
        f"{name}.q32": out[torch.float32][0].to(torch.float32).contiguous(),
        f"{name}.q64": out[torch.float64][0].to(torch.float64).contiguous(),
    }
    meta = {"preset": preset, "rows": rows, "cols": cols, "dtype": str(dtype).replace("torch.", ""),
            "actorder": actorder, "block": block, "dead_columns": dead, "percdamp": 0.01,
            "loss32": out[torch.float32][1], "loss64": out[torch.float64][1],
            "weight_scale_dtype": str(qp["scale"].dtype).replace("torch.", ""),
            "global_scale": None if gs is None else float(gs[0])}
    return tensors, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "tests" / "golden" / "gptq"))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    if a.check:
        with tempfile.TemporaryDirectory() as tmp:
            write(Path(tmp))
            bad = [n for n in ("cases.safetensors", "manifest.json")
                   if not filecmp.cmp(Path(tmp) / n, Path(a.out) / n, shallow=False)]
        print("differs from the committed goldens: " + ", ".join(bad) if bad else "goldens reproduced")
        sys.exit(1 if bad else 0)
    write(Path(a.out))


def write(out):
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(SEED)
    tensors, manifest = {}, {"generator": "python/golden/make_gptq_golden.py",
                             "reference": "llmcompressor.modifiers.gptq.gptq_quantize.quantize_weight",
                             "versions": {"torch": torch.__version__,
                                          "compressed-tensors": compressed_tensors.__version__,
                                          "llmcompressor": llmcompressor.__version__},
                             "seed": SEED, "cases": {}}
    for c in CASES:
        t, m = run_case(g, *c)
        tensors.update(t)
        manifest["cases"][c[0]] = m
    save_file(tensors, str(out / "cases.safetensors"), metadata={"format": "pt"})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}: {len(CASES)} cases")


if __name__ == "__main__":
    main()
