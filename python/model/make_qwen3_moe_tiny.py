#!/usr/bin/env python3
"""Creates models/qwen3-moe-tiny: a tiny, randomly initialised Qwen3-MoE checkpoint.

It is the second architecture the probe is checked on (softmax top-k router with
norm_topk_prob, per-head q/k RMSNorm, full rotary), so the model is transformers' own
`Qwen3MoeForCausalLM` with fixed seeds, not a trained one: the numbers mean nothing, the
arithmetic is what is tested.

Steps (all deterministic; rerunning writes byte-identical files):
1. Qwen3MoeConfig (3 layers, hidden 128, 4 query heads x head_dim 32, 2 KV heads, 8 experts,
   top-2, moe_intermediate 64, norm_topk_prob, vocab 260 byte-level, untied embeddings),
   torch.manual_seed(SEED), transformers' own initialisation (normal, std initializer_range).
2. Every RMSNorm weight (input/post-attention/final norm, per-head q/k norm) is redrawn from
   uniform(0.5, 1.5) so that a forward that forgot a norm weight cannot pass.
3. Every tensor is rounded to bfloat16 (the stored dtype); the float32 model used for every
   check below equals the stored tensors exactly.
4. Routing must not be degenerate: every expert of every layer receives tokens of the
   calibration file (checked, with the load printed).
5. save_pretrained in bfloat16 (transformers writes the release naming
   model.layers.N.mlp.experts.E.{gate,up,down}_proj.weight — checked); config.json is then
   rewritten in the released Qwen3-MoE style (num_experts, top-level rope_theta, torch_dtype).
6. The folder is loaded back with Qwen3MoeForCausalLM.from_pretrained(dtype=float32): every
   parameter equals the in-memory model bit for bit and the logits of a calibration batch are
   identical (eager attention and eager experts on both sides).
7. calib_tokens.bin / eval_tokens.bin are copied from models/minimax-m2-tiny (same byte-level
   vocabulary, rows = thirds of code, prose, math), and eval_results.json records the
   transformers float32 losses on them (what `prismaquant eval` must reproduce).

Usage: .venv-ref/bin/python python/model/make_qwen3_moe_tiny.py [--out models/qwen3-moe-tiny]
"""
import argparse, copy, json, math, os, shutil, sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
SEED = 20250601
SEQ = 256
DOMAINS = ["code", "prose", "math"]
ARCH = dict(vocab_size=260, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=2, head_dim=32, num_experts=8,
            num_experts_per_tok=2, moe_intermediate_size=64, norm_topk_prob=True,
            decoder_sparse_step=1, mlp_only_layers=[], hidden_act="silu", rms_norm_eps=1e-6,
            max_position_embeddings=4096, tie_word_embeddings=False, attention_bias=False,
            initializer_range=0.05, bos_token_id=256, eos_token_id=257, pad_token_id=258,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})


def rows(path):
    return torch.from_numpy(np.fromfile(path, dtype="<u2").astype(np.int64)).view(-1, SEQ)


@torch.no_grad()
def losses(model, toks, batch=16):
    """(mean CE over every predicted position, {domain: mean CE}) in nats, float64 sums."""
    per = []
    for i in range(0, toks.shape[0], batch):
        x = toks[i:i + batch]
        lg = model(input_ids=x).logits.float()
        ce = torch.nn.functional.cross_entropy(lg[:, :-1].reshape(-1, lg.shape[-1]), x[:, 1:].reshape(-1),
                                               reduction="none").view(x.shape[0], -1)
        per.append(ce.double().sum(1))
    per = torch.cat(per)
    n = toks.shape[1] - 1
    d = len(DOMAINS)
    k = toks.shape[0] // d
    return (per.sum().item() / (per.numel() * n),
            {dom: per[i * k:(i + 1) * k].sum().item() / (k * n) for i, dom in enumerate(DOMAINS)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "models/qwen3-moe-tiny"))
    ap.add_argument("--tokens-from", default=str(ROOT / "models/minimax-m2-tiny"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM
    from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeRMSNorm, Qwen3MoeTopKRouter
    import transformers

    torch.manual_seed(SEED)
    cfg = Qwen3MoeConfig(**ARCH)
    model = Qwen3MoeForCausalLM(cfg).float().eval()
    model.set_attn_implementation("eager")
    model.set_experts_implementation("eager")
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, Qwen3MoeRMSNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
        for p in model.parameters():
            p.copy_(p.bfloat16().float())

    src = Path(a.tokens_from)
    calib, ev = rows(src / "calib_tokens.bin"), rows(src / "eval_tokens.bin")
    if calib.max() >= cfg.vocab_size or ev.max() >= cfg.vocab_size:
        sys.exit("token files hold ids beyond the vocabulary")

    # 4. routing load on the calibration tokens
    routers = [m for m in model.modules() if isinstance(m, Qwen3MoeTopKRouter)]
    counts = [torch.zeros(cfg.num_experts, dtype=torch.long) for _ in routers]
    def counter(c):
        def hook(mod, inp, out):  # out = (logits, weights, indices); returns None: output unchanged
            c.add_(torch.bincount(out[2].reshape(-1), minlength=cfg.num_experts))
        return hook
    hooks = [r.register_forward_hook(counter(c)) for r, c in zip(routers, counts)]
    calib_loss, calib_dom = losses(model, calib)
    for h in hooks:
        h.remove()
    for n, c in enumerate(counts):
        share = c.double() / c.sum()
        print(f"layer {n} expert load x E: " + " ".join(f"{v:.2f}" for v in (share * cfg.num_experts).tolist()))
        if (c == 0).any() or share.max() > 0.5:
            sys.exit(f"layer {n}: degenerate routing {c.tolist()}")

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for f in out.glob("*.safetensors"):
        f.unlink()
    # a copy: .to(bfloat16) would also round the float32 rotary inv_freq buffer of `model`
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    from safetensors import safe_open
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        names = set(f.keys())
        dtypes = {f.get_slice(k).get_dtype() for k in names}
    want = {f"model.layers.{n}.mlp.experts.{e}.{p}_proj.weight" for n in range(cfg.num_hidden_layers)
            for e in range(cfg.num_experts) for p in ("gate", "up", "down")}
    if not want <= names or any("gate_up_proj" in k for k in names) or dtypes != {"BF16"}:
        sys.exit(f"unexpected tensors written: {sorted(names)[:8]}..., dtypes {dtypes}")

    # 5. config.json in the released Qwen3-MoE style
    c = json.loads((out / "config.json").read_text())
    c.pop("num_local_experts", None)
    c["num_experts"] = cfg.num_experts
    rope = c.pop("rope_parameters")
    c["rope_theta"] = rope["rope_theta"]
    c["rope_scaling"] = None
    c.pop("dtype", None)
    c["torch_dtype"] = "bfloat16"
    (out / "config.json").write_text(json.dumps(dict(sorted(c.items())), indent=2) + "\n")
    gc = out / "generation_config.json"
    if gc.exists():
        gc.unlink()

    # 6. load back
    back = Qwen3MoeForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    back.set_experts_implementation("eager")
    if back.config.num_experts != cfg.num_experts or back.config.rope_parameters["rope_theta"] != 1e6:
        sys.exit("config.json does not read back")
    mine = dict(model.named_parameters())
    for k, p in back.named_parameters():
        if not torch.equal(p, mine[k]):
            sys.exit(f"{k}: loaded tensor differs from the saved model")
    with torch.no_grad():
        if not torch.equal(back(input_ids=calib[:4]).logits, model(input_ids=calib[:4]).logits):
            sys.exit("logits of the reloaded folder differ")

    # 7. token files and the transformers losses
    for f in ("calib_tokens.bin", "eval_tokens.bin"):
        shutil.copyfile(src / f, out / f)
    eval_loss, eval_dom = losses(back, ev)
    calib2, _ = losses(back, calib)
    res = {"generator": "python/model/make_qwen3_moe_tiny.py", "seed": SEED,
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
           "seq_len": SEQ, "vocab": cfg.vocab_size, "uniform_loss": round(math.log(cfg.vocab_size), 5),
           "eval_loss": round(eval_loss, 6), "eval_loss_per_domain": {k: round(v, 6) for k, v in eval_dom.items()},
           "calib_loss": round(calib2, 6),
           "calib_expert_load": [c.tolist() for c in counts],
           "parameters": sum(p.numel() for p in back.parameters())}
    (out / "eval_results.json").write_text(json.dumps(res, indent=2) + "\n")
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"eval loss {eval_loss:.6f} {eval_dom}; calib {calib2:.6f} (in-memory {calib_loss:.6f}); "
          f"{res['parameters']} parameters; folder {size} bytes")
    if size > 5 * 1024 * 1024:
        sys.exit("folder larger than 5 MB")
    print("ALL OK")


if __name__ == "__main__":
    main()
