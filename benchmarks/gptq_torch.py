#!/usr/bin/env python3
"""The PyTorch side of benchmarks/bench_gptq.cpp: llm-compressor 0.14's own GPTQ
(`quantize_weight`, eager CPU path) on one MiniMax-M2.7 expert shape, w1 [1536, 3072] with a
3072² Hessian, NVFP4A16, static activation order, block 128, float32, scales from its
memoryless_minmax observer — the same problem construction as the C++ benchmark (weights
N(0, 0.02²), inputs from 16 shared directions + noise, 4096 tokens).

Usage: .venv-ref/bin/python benchmarks/gptq_torch.py [--threads 2] [--repeat 5] [--rows R --cols C]
Prints the median and minimum wall time of quantize_weight and of its Hessian factorization.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import torch  # noqa: E402

import llmcompressor.modifiers.gptq.gptq_quantize as gq  # noqa: E402
import llmcompressor.modifiers.gptq.helpers as gh  # noqa: E402
from compressed_tensors.quantization import preset_name_to_scheme  # noqa: E402
from llmcompressor.observers import Observer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rows", type=int, default=1536)
    ap.add_argument("--cols", type=int, default=3072)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(42)
    w = torch.randn(a.rows, a.cols, generator=g) * 0.02
    z = torch.randn(4096, 16, generator=g)
    d = torch.randn(a.cols, 16, generator=g)
    x = z @ d.T + 0.3 * torch.randn(4096, a.cols, generator=g)
    h = x.T @ x
    args = preset_name_to_scheme("NVFP4A16", ["Linear"]).weights
    args.actorder = "static"
    obs = Observer.load_from_registry("memoryless_minmax", base_name="weight", args=args)
    obs(w)
    qp = obs.get_qparams()
    gs = qp["global_scale"].reshape(-1)[:1]

    def run():
        t = time.perf_counter()
        gq.quantize_weight(weights=w.unsqueeze(0).clone(), hessians=h.unsqueeze(0).clone(),
                           scale=qp["scale"].unsqueeze(0), zero_point=qp["zero_point"].unsqueeze(0),
                           global_scale=gs.unsqueeze(0), quant_args=args, blocksize=128, percdamp=0.01)
        return time.perf_counter() - t

    def factor():
        hh = h.unsqueeze(0).clone()
        t = time.perf_counter()
        gh.factorize_hessian(w.unsqueeze(0).clone(), hh, 0.01, torch.zeros(1, dtype=torch.bool))
        return time.perf_counter() - t

    run()  # warm up
    times = [run() for _ in range(a.repeat)]
    ftimes = [factor() for _ in range(a.repeat)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, shape [{a.rows}, {a.cols}]")
    print(f"quantize_weight  median {statistics.median(times) * 1e3:.1f} ms  min {min(times) * 1e3:.1f} ms")
    print(f"factorize_hessian median {statistics.median(ftimes) * 1e3:.1f} ms  min {min(ftimes) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
