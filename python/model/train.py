#!/usr/bin/env python3
"""Trains the tiny MiniMax-M2 (transformers' own MiniMaxM2ForCausalLM) on the prep_data.py corpus.

Byte-level next-token prediction, AdamW, warmup + cosine schedule. Expert balance: the
router's e_score_correction_bias is updated aux-loss-free after every step
(bias_e += gamma * sign(mean_load - load_e), as in DeepSeek-V3), which also gives the
shipped model a non-trivial correction bias. Writes float_model.safetensors (float32,
transformers naming) and train_meta.json (arguments, loss log, step time, held-out losses).
"""
import argparse, json, math, os, time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

import common

DOMAIN_WEIGHTS = {"code": 0.4, "prose": 0.35, "math": 0.25}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--bias-gamma", type=float, default=5e-3)
    ap.add_argument("--seed", type=int, default=1234)
    # 1 thread: on the shared 2-core machine (load ~15) two OpenMP threads spin-wait on each
    # other and a step took 100 s wall instead of 10 s
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=35.0,
                    help="wall-clock budget: the schedule's progress is max(step/steps, "
                         "elapsed/budget), so a slow machine finishes the cosine early and stops")
    ap.add_argument("--eval-rows", type=int, default=192)
    ap.add_argument("--calib-rows", type=int, default=96)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--arch", default="{}", help="JSON overrides of common.ARCH")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)

    from transformers import MiniMaxM2ForCausalLM
    over = json.loads(args.arch)
    cfg = common.make_config(**over)
    model = MiniMaxM2ForCausalLM(cfg).float()
    model.set_experts_implementation("eager")
    model.train()
    n_params = sum(p.numel() for p in model.parameters())

    streams = {d: common.read_tokens(Path(args.data) / f"{d}_train.bin") for d in common.DOMAINS}
    doms = list(DOMAIN_WEIGHTS); w = np.array([DOMAIN_WEIGHTS[d] for d in doms])
    S = common.SEQ

    def batch():
        rows = []
        for d in rng.choice(len(doms), size=args.batch, p=w):
            s = streams[doms[d]]
            o = rng.integers(0, s.size - S)
            rows.append(s[o:o + S])
        return torch.from_numpy(np.stack(rows).astype(np.int64))

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    def progress(step):
        return max(step / args.steps, (time.time() - t0) / 60 / args.max_minutes)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        t = min(1.0, progress(step))
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    stats = common.RouterStats(model)
    moe_blocks = [l.mlp for l in model.model.layers]
    log, t0, step_times, losses = [], time.time(), [], []
    stopped_early = False
    for step in range(args.steps):
        if progress(step) >= 1.0:
            stopped_early = True  # time budget reached before --steps
            break
        ts = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x = batch()
        stats.reset()
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); opt.zero_grad(set_to_none=True)
        with torch.no_grad():  # aux-loss-free balancing of the correction bias
            for blk, c in zip(moe_blocks, stats.counts):
                load = c.float()
                blk.e_score_correction_bias += args.bias_gamma * torch.sign(load.mean() - load)
        step_times.append(time.time() - ts)
        losses.append(loss.item())
        if step % args.log_every == 0 or step == args.steps - 1:
            s = stats.summary()
            rec = {"step": step, "loss": round(loss.item(), 4), "lr": round(lr_at(step), 6),
                   "step_s": round(step_times[-1], 2), "elapsed_min": round((time.time() - t0) / 60, 2),
                   "load_entropy": [l["entropy_norm"] for l in s]}
            log.append(rec)
            print(json.dumps(rec), flush=True)
    train_min = (time.time() - t0) / 60
    steps_done = len(losses)

    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    tmp = out / "float_model.safetensors.tmp"
    save_file(sd, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, out / "float_model.safetensors")

    stats.reset()
    ev = common.heldout_rows(args.data, "eval", args.eval_rows)
    eval_loss = common.eval_loss(model, ev)
    eval_load = stats.summary()
    cal = common.heldout_rows(args.data, "calib", args.calib_rows)
    calib_loss = common.eval_loss(model, cal)
    per_domain = {}
    n = args.eval_rows // 3
    for i, d in enumerate(common.DOMAINS):
        per_domain[d] = round(common.eval_loss(model, ev[i * n:(i + 1) * n]), 4)
    tail = losses[-50:]
    meta = {
        "arch_overrides": over, "arch": {**common.ARCH, **over}, "params": n_params,
        "args": vars(args), "domain_weights": DOMAIN_WEIGHTS,
        "steps_done": steps_done, "stopped_early": stopped_early,
        "tokens_seen": steps_done * args.batch * S,
        "train_minutes": round(train_min, 2),
        "step_s_median": round(float(np.median(step_times)), 3),
        "train_loss_last50": round(float(np.mean(tail)), 4),
        "eval_loss_float32": round(eval_loss, 4), "calib_loss_float32": round(calib_loss, 4),
        "eval_loss_per_domain_float32": per_domain,
        "uniform_loss": round(math.log(common.VOCAB), 4),
        "eval_bits_per_byte_float32": round(common.bits_per_byte(eval_loss), 4),
        "eval_expert_load": eval_load,
        "log": log,
    }
    tmp = out / "train_meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, out / "train_meta.json")
    print(json.dumps({k: v for k, v in meta.items() if k not in ("log", "args", "arch")}, indent=1))


if __name__ == "__main__":
    main()
