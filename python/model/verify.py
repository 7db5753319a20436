#!/usr/bin/env python3
"""Checks the shipped tiny MiniMax-M2 folder with transformers as the reference.

1. config: transformers reads model_type minimax_m2, the quantization_config, and the
   partial rotary (rotary_dim/2 inverse frequencies).
2. `MiniMaxM2ForCausalLM.from_pretrained(DIR, quantization_config=FineGrainedFP8Config(
   dequantize=True))` on the CPU; every parameter it holds equals our own dequantization
   of the stored tensors (fp8 x weight_scale_inv per 128x128 block; bf16/f32 as stored).
3. Held-out losses (eval_tokens.bin, calib_tokens.bin) equal eval_results.json (tolerance
   --tol nats), and are far below the uniform baseline ln(vocab).
4. Expert load on the eval tokens: no layer collapsed (every expert used, entropy reported).
Optional --train-dir: also recomputes the float32 (pre-FP8) model's eval loss.
Exit status 0 only if every check passes.
"""
import argparse, json, math, sys
from pathlib import Path

import torch
from safetensors.torch import load_file

import common
from export import fp8_block_dequant


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[2] / "models/minimax-m2-tiny"))
    ap.add_argument("--train-dir", default=None)
    ap.add_argument("--tol", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    d = Path(args.model)
    from transformers import AutoConfig, FineGrainedFP8Config, MiniMaxM2ForCausalLM
    fails = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            fails.append(what)

    cfg = AutoConfig.from_pretrained(d)
    raw = json.loads((d / "config.json").read_text())
    check(cfg.model_type == "minimax_m2" and type(cfg).__name__ == "MiniMaxM2Config", "config is MiniMaxM2Config")
    check(raw["quantization_config"]["weight_block_size"] == [128, 128], "quantization_config fp8 128x128")

    model = MiniMaxM2ForCausalLM.from_pretrained(
        d, quantization_config=FineGrainedFP8Config(dequantize=True), dtype=torch.float32)
    model.eval()
    model.set_experts_implementation("eager")
    inv = model.model.rotary_emb.inv_freq.numel()
    check(inv == raw["rotary_dim"] // 2, f"partial rotary: {inv} inverse frequencies = rotary_dim/2")

    # our own dequantization of the stored tensors vs what transformers loaded
    idx = json.loads((d / "model.safetensors.index.json").read_text())
    stored = {}
    for f in sorted(set(idx["weight_map"].values())):
        stored.update(load_file(str(d / f)))
    check(set(stored) == set(idx["weight_map"]), "index weight_map lists exactly the stored tensors")
    fp8 = [k for k, t in stored.items() if t.dtype == torch.float8_e4m3fn]
    check(all(k.endswith(".weight") and k[:-7] + ".weight_scale_inv" in stored for k in fp8)
          and len(fp8) == cfg.num_hidden_layers * (4 + 3 * cfg.num_local_experts),
          f"{len(fp8)} FP8 Linears, each with weight_scale_inv")
    params = dict(model.named_parameters()); params.update(dict(model.named_buffers()))
    I, worst = cfg.intermediate_size, 0.0

    def deq(name):
        return fp8_block_dequant(stored[name + ".weight"], stored[name + ".weight_scale_inv"])

    for k, t in stored.items():
        if k.endswith("_scale_inv") or ".experts." in k:
            continue
        ref = deq(k[:-7]) if k in fp8 else t.float()
        got = params[k.replace(".block_sparse_moe.", ".mlp.")].detach().float()
        worst = max(worst, (ref - got).abs().max().item())
    for n in range(cfg.num_hidden_layers):
        p = f"model.layers.{n}.block_sparse_moe.experts."
        gu = params[f"model.layers.{n}.mlp.experts.gate_up_proj"].detach().float()
        dn = params[f"model.layers.{n}.mlp.experts.down_proj"].detach().float()
        for e in range(cfg.num_local_experts):
            worst = max(worst, (gu[e, :I] - deq(p + f"{e}.w1")).abs().max().item(),
                        (gu[e, I:] - deq(p + f"{e}.w3")).abs().max().item(),
                        (dn[e] - deq(p + f"{e}.w2")).abs().max().item())
    check(worst == 0.0, f"transformers' loaded weights == fp8 x scale_inv (max abs diff {worst:g})")

    ref = json.loads((d / "eval_results.json").read_text())
    stats = common.RouterStats(model)
    ev = common.eval_loss(model, common.read_tokens(d / "eval_tokens.bin"))
    load = stats.summary(); stats.remove()
    ca = common.eval_loss(model, common.read_tokens(d / "calib_tokens.bin"))
    uni = math.log(cfg.vocab_size)
    print(f"eval loss (transformers, FP8 folder) {ev:.5f} nats/token = {common.bits_per_byte(ev):.4f} bits/byte;"
          f" calib {ca:.5f}; uniform {uni:.5f}")
    check(abs(ev - ref["eval_loss_stored"]) <= args.tol, f"eval loss reproduces eval_results.json ({ref['eval_loss_stored']})")
    check(abs(ca - ref["calib_loss_stored"]) <= args.tol, f"calib loss reproduces eval_results.json ({ref['calib_loss_stored']})")
    check(ev < uni - 2.0, "eval loss at least 2 nats below uniform")
    for n, l in enumerate(load):
        print(f"  layer {n} expert load: {l}")
    check(all(l["unused"] == 0 for l in load), "every expert used on the eval tokens in every layer")

    if args.train_dir:
        from safetensors.torch import load_file as lf
        meta = json.loads((Path(args.train_dir) / "train_meta.json").read_text())
        fm = MiniMaxM2ForCausalLM(common.make_config(**meta["arch_overrides"])).float().eval()
        fm.set_experts_implementation("eager")
        fm.load_state_dict(lf(str(Path(args.train_dir) / "float_model.safetensors")))
        fl = common.eval_loss(fm, common.read_tokens(d / "eval_tokens.bin"))
        print(f"eval loss float32 (before FP8/bf16 storage) {fl:.5f}; stored - float = {ev - fl:+.5f}")
        check(abs(fl - meta["eval_loss_float32"]) <= args.tol, "float32 eval loss reproduces train_meta.json")
    print("ALL OK" if not fails else f"{len(fails)} FAILED")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
