#!/usr/bin/env python3
"""Writes the trained tiny MiniMax-M2 the way the real MiniMax-M2 release is stored.

Input: the float32 state dict written by train.py (transformers' in-memory naming: packed
experts `mlp.experts.gate_up_proj` [E, 2I, H] and `down_proj` [E, H, I]).
Output folder:
  config.json                 release-style config incl. the release's quantization_config
  generation_config.json
  model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json   (release naming)
  calib_tokens.bin, eval_tokens.bin   uint16 LE, rows of 256 tokens
Every attention and expert Linear -> F8_E4M3 weight + F32 weight_scale_inv, one scale per
128x128 block: scale = amax(|w_block|)/448, q = e4m3(clamp(w/scale, +-448)) (round to
nearest even, saturating), dequant = q * scale. The router gate and e_score_correction_bias
stay F32, embeddings / norms / lm_head BF16 (the release's dtypes).
"""
import argparse, json, math, os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import common

FP8_MAX = 448.0
QUANT_CONFIG = {"quant_method": "fp8", "fmt": "float8_e4m3fn", "activation_scheme": "dynamic",
                "weight_block_size": [128, 128],
                "modules_to_not_convert": ["gate", "e_score_correction_bias", "lm_head"]}


def fp8_block_quant(w: torch.Tensor, block: int = 128):
    """[out, in] float -> (float8_e4m3fn [out, in], float32 scale_inv [ceil(out/b), ceil(in/b)])."""
    w = w.float()
    out_f, in_f = w.shape
    ro, ri = math.ceil(out_f / block), math.ceil(in_f / block)
    pad = torch.zeros(ro * block, ri * block)
    pad[:out_f, :in_f] = w
    blocks = pad.view(ro, block, ri, block)
    amax = blocks.abs().amax(dim=(1, 3))
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    q = (blocks / scale[:, None, :, None]).clamp(-FP8_MAX, FP8_MAX)
    q = q.view(ro * block, ri * block)[:out_f, :in_f].contiguous().to(torch.float8_e4m3fn)
    return q, scale.float().contiguous()


def fp8_block_dequant(q: torch.Tensor, scale: torch.Tensor, block: int = 128) -> torch.Tensor:
    s = scale.repeat_interleave(block, 0).repeat_interleave(block, 1)
    return q.float() * s[:q.shape[0], :q.shape[1]]


def release_config(cfg) -> dict:
    L = cfg.num_hidden_layers
    return {
        "architectures": ["MiniMaxM2ForCausalLM"],
        "model_type": "minimax_m2",
        "attn_type_list": [1] * L,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "max_position_embeddings": cfg.max_position_embeddings,
        "num_attention_heads": cfg.num_attention_heads,
        "num_experts_per_tok": cfg.num_experts_per_tok,
        "num_hidden_layers": L,
        "num_key_value_heads": cfg.num_key_value_heads,
        "num_local_experts": cfg.num_local_experts,
        "qk_norm_type": "per_layer",
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_parameters["rope_theta"],
        "rotary_dim": common.ARCH["rotary_dim"],
        # the release only says rotary_dim; transformers 5.17 reads this one instead
        "partial_rotary_factor": common.ARCH["rotary_dim"] / cfg.head_dim,
        "router_aux_loss_coef": 0.001,
        "router_jitter_noise": 0.0,
        "output_router_logits": False,
        "scoring_func": "sigmoid",
        "shared_intermediate_size": 0,
        "tie_word_embeddings": False,
        "use_qk_norm": True,
        "use_routing_bias": True,
        "use_mtp": False,
        "num_mtp_modules": 0,
        "vocab_size": cfg.vocab_size,
        "bos_token_id": common.BOS,
        "eos_token_id": common.EOS,
        "pad_token_id": common.PAD,
        "use_cache": True,
        "torch_dtype": "bfloat16",
        "quantization_config": QUANT_CONFIG,
    }


def release_tensors(sd: dict, cfg) -> dict:
    """transformers in-memory names -> release names and dtypes (dict keeps insertion order)."""
    out = {}
    I = cfg.intermediate_size

    def q8(name, w):
        q, s = fp8_block_quant(w)
        out[name + ".weight"] = q
        out[name + ".weight_scale_inv"] = s

    out["model.embed_tokens.weight"] = sd["model.embed_tokens.weight"].to(torch.bfloat16)
    for n in range(cfg.num_hidden_layers):
        p = f"model.layers.{n}."
        out[p + "input_layernorm.weight"] = sd[p + "input_layernorm.weight"].to(torch.bfloat16)
        out[p + "post_attention_layernorm.weight"] = sd[p + "post_attention_layernorm.weight"].to(torch.bfloat16)
        for x in ("q", "k", "v", "o"):
            q8(p + f"self_attn.{x}_proj", sd[p + f"self_attn.{x}_proj.weight"])
        out[p + "self_attn.q_norm.weight"] = sd[p + "self_attn.q_norm.weight"].to(torch.bfloat16)
        out[p + "self_attn.k_norm.weight"] = sd[p + "self_attn.k_norm.weight"].to(torch.bfloat16)
        out[p + "block_sparse_moe.gate.weight"] = sd[p + "mlp.gate.weight"].float().contiguous()
        out[p + "block_sparse_moe.e_score_correction_bias"] = sd[p + "mlp.e_score_correction_bias"].float().contiguous()
        gu, dn = sd[p + "mlp.experts.gate_up_proj"], sd[p + "mlp.experts.down_proj"]
        for e in range(cfg.num_local_experts):
            q8(p + f"block_sparse_moe.experts.{e}.w1", gu[e, :I])   # gate proj
            q8(p + f"block_sparse_moe.experts.{e}.w2", dn[e])       # down proj
            q8(p + f"block_sparse_moe.experts.{e}.w3", gu[e, I:])   # up proj
    out["model.norm.weight"] = sd["model.norm.weight"].to(torch.bfloat16)
    out["lm_head.weight"] = sd["lm_head.weight"].to(torch.bfloat16)
    return out


def nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def write_atomic_json(path: Path, obj):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-dir", required=True, help="train.py --out folder")
    ap.add_argument("--data", required=True, help="prep_data.py --out folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--calib-rows", type=int, default=96)
    ap.add_argument("--eval-rows", type=int, default=192)
    args = ap.parse_args()
    tdir, out = Path(args.train_dir), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads((tdir / "train_meta.json").read_text())
    cfg = common.make_config(**meta["arch_overrides"])
    sd = load_file(str(tdir / "float_model.safetensors"))
    tensors = release_tensors(sd, cfg)

    # two shards split by bytes at a layer boundary-free point: first tensors until half
    total = sum(nbytes(t) for t in tensors.values())
    shards, acc = [{}, {}], 0
    for k, t in tensors.items():
        shards[0 if acc < total / 2 else 1][k] = t
        acc += nbytes(t)
    weight_map = {}
    for i, sh in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        tmp = out / (name + ".tmp")
        save_file(sh, str(tmp), metadata={"format": "pt"})
        os.chmod(tmp, 0o644)  # safetensors writes 0600
        os.replace(tmp, out / name)
        weight_map.update({k: name for k in sh})
    write_atomic_json(out / "model.safetensors.index.json",
                      {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    write_atomic_json(out / "config.json", release_config(cfg))
    write_atomic_json(out / "generation_config.json",
                      {"bos_token_id": common.BOS, "eos_token_id": common.EOS, "pad_token_id": common.PAD,
                       "do_sample": False})

    # held-out token files: the rows train.py evaluated (common.heldout_rows)
    for split, rows in (("calib", args.calib_rows), ("eval", args.eval_rows)):
        arr = common.heldout_rows(args.data, split, rows)
        tmp = out / f"{split}_tokens.bin.tmp"
        arr.tofile(tmp)
        os.replace(tmp, out / f"{split}_tokens.bin")
        print(f"{split}_tokens.bin: {arr.shape[0]} rows x {common.SEQ} (code, prose, math: {rows // 3} each)")
    print(f"tensors {len(tensors)}, bytes {total}, shards {[len(s) for s in shards]}")

    # Reference losses of the stored model, computed here with our own dequantization (fp8 x
    # scale_inv, bf16 -> f32) in a float32 MiniMaxM2ForCausalLM; verify.py checks that
    # transformers' FP8 loader reproduces them.
    torch.set_num_threads(1)
    from transformers import MiniMaxM2ForCausalLM
    model = MiniMaxM2ForCausalLM(cfg).float().eval()
    model.set_experts_implementation("eager")
    deq = stored_as_float(tensors, cfg)
    missing, unexpected = model.load_state_dict(deq, strict=False)
    if missing or unexpected:
        raise SystemExit(f"state dict mismatch: missing {missing} unexpected {unexpected}")
    ev = common.read_tokens(out / "eval_tokens.bin")
    ca = common.read_tokens(out / "calib_tokens.bin")
    n = args.eval_rows // 3
    evr = ev.reshape(-1, common.SEQ)
    res = {
        "seq_len": common.SEQ, "vocab": common.VOCAB,
        "uniform_loss": round(math.log(common.VOCAB), 5),
        "eval_loss_float32": meta["eval_loss_float32"],
        "eval_loss_stored": round(common.eval_loss(model, ev), 5),
        "calib_loss_stored": round(common.eval_loss(model, ca), 5),
        "eval_loss_stored_per_domain": {d: round(common.eval_loss(model, evr[i * n:(i + 1) * n].reshape(-1)), 5)
                                        for i, d in enumerate(common.DOMAINS)},
        "train_loss_last50": meta["train_loss_last50"],
        "steps": meta["steps_done"], "tokens_seen": meta["tokens_seen"],
    }
    res["eval_bits_per_byte_stored"] = round(common.bits_per_byte(res["eval_loss_stored"]), 5)
    write_atomic_json(out / "eval_results.json", res)
    print(json.dumps(res, indent=1))


def stored_as_float(tensors: dict, cfg) -> dict:
    """Release-named stored tensors -> float32 state dict in transformers' in-memory naming."""
    sd = {}
    E, L = cfg.num_local_experts, cfg.num_hidden_layers

    def deq(name):
        return fp8_block_dequant(tensors[name + ".weight"], tensors[name + ".weight_scale_inv"])

    for k, t in tensors.items():
        if ".block_sparse_moe.experts." in k or k.endswith("_scale_inv"):
            continue
        if any(f".{x}_proj.weight" in k for x in "qkvo"):
            sd[k] = deq(k[:-len(".weight")])
            continue
        sd[k.replace(".block_sparse_moe.", ".mlp.")] = t.float()
    for n in range(L):
        p = f"model.layers.{n}.block_sparse_moe.experts."
        sd[f"model.layers.{n}.mlp.experts.gate_up_proj"] = torch.stack(
            [torch.cat([deq(p + f"{e}.w1"), deq(p + f"{e}.w3")]) for e in range(E)])
        sd[f"model.layers.{n}.mlp.experts.down_proj"] = torch.stack([deq(p + f"{e}.w2") for e in range(E)])
    return sd


if __name__ == "__main__":
    main()
