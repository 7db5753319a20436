#!/usr/bin/env python3
"""transformers reference for `prismaquant probe` and `prismaquant eval` (golden generator).

For a checkpoint folder (MiniMax-M2 `minimax_m2` or Qwen3-MoE `qwen3_moe`) and a token file it
runs transformers' own float32 forward and autograd backward per calibration batch and writes,
exactly as the probe contract defines them (the definitions are repeated in
tests/golden/probe/README.md):

  <out>/<model>.json          per batch loss / CE sum; per Linear rows_seen, fisher_sum,
                              fisher_token_sum, input_amax; per router and domain the REAP sums
                              and the re-routing sums reroute_first / reroute_fisher / reroute_sq
  <out>/<model>.safetensors   1-D F64 `<module>.xtx_diag` [in] and `<module>.h_row_sum` [out]
  <out>/<model>.eval.json     mean next-token CE per domain and overall on the eval token file

How each number is obtained
- The model: `<Arch>ForCausalLM.from_pretrained(dir, dtype=float32, attn_implementation="eager")`,
  FP8-block checkpoints with `FineGrainedFP8Config(dequantize=True)`, experts "eager". Every
  loaded Linear / router / bias is first compared bit for bit with the checkpoint tensor of the
  checkpoint name the golden uses (FP8: fp8 x weight_scale_inv per block), which pins the
  name mapping (transformers packs experts as mlp.experts.gate_up_proj [E, 2I, H] (w1 rows then
  w3 rows) and down_proj [E, H, I]).
- G_b of every Linear is autograd's weight gradient of the batch loss: `.grad` of the attention
  nn.Linear weights, slices of the packed experts' `.grad`.
- Per-token quantities need each expert's input x_t, output f_j(t) and dL/d(output). transformers
  runs all experts of a layer inside one module, so the MoE block's forward is replaced by a
  re-implementation of transformers' own code (the router of modeling_<arch>.py, then the eager
  experts loop: the same ops in the same order) that keeps those tensors and puts gradient hooks
  on them. It is asserted, on every batch, that (a) its router output (indices, weights, logits)
  equals transformers' router module's, (b) its MoE output equals transformers' experts module's
  bit for bit, and (c) on the first batch of every domain, the model's logits equal the unpatched
  transformers model's bit for bit;
  and that sum_t delta_t x_t^T from the hooks equals autograd's G_b (relative 1e-5) for every
  Linear. The attention Linears are plain forward hooks (input) + tensor hooks (output gradient).
- Re-routing: for every expert j, a direct re-implementation of the contract's rule (mask j from
  the selection score, top-k, renormalise as the router does, asserted to equal the old set
  minus j plus one expert) and transformers' own experts module evaluates y^(without j);
  Dy = y^(without j) - y, delta = dL/dy at the MoE block's output (a tensor hook).
- All sums are accumulated in float64 from the float32 forward / backward.

Validation inside the script (results recorded under "checks"):
- the assertions above; transformers' stock eager forward vs sdpa attention (loss);
- a finite-difference check in float64 on a short batch: dL/dW entries of an attention Linear and
  of an expert's w1/w3/w2 against the hooks' G = sum_t delta_t x_t^T, ||delta_t|| of single tokens
  (output perturbed along delta_t), and the re-routing first-order term sum_t delta_t . Dy_t
  (MoE output perturbed along Dy); float64 runs with RMSNorm and the router kept in float64
  (transformers rounds them through float32) and sdpa attention;
- the per-batch losses reproduce the model folder's eval_results.json (calibration loss) and the
  eval golden its eval losses (per domain where stored);
- a plain transformers autograd probe (stock model, per-batch Fisher from .grad for the
  attention Linears and the packed experts, REAP sums from a forward hook on the experts module)
  is timed at --plain-threads threads ("timing": wall and CPU seconds, load average before) and
  its figures are compared with the golden's.

Usage (regenerates all goldens: python/golden/make_probe_goldens.sh):
  .venv-ref/bin/python python/golden/probe_reference.py --model models/minimax-m2-tiny \\
      --domains code,prose,math --out tests/golden/probe
Deterministic: fixed threads (--threads, default 1) and torch.use_deterministic_algorithms for
everything but the timed plain probe (which runs as a user would); rerunning writes identical
files except the wall times under "timing" (checked by rerunning). One thread also because
OpenMP's 2-thread parallel regions crawl on an oversubscribed machine (a 1024x256 index_add_:
0.03 ms on 1 thread, 80 ms on 2 threads at load average 13 on 2 cores).
"""
import argparse, contextlib, json, math, os, sys, tempfile, time, types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = "python/golden/probe_reference.py"


# ----------------------------------------------------------------------------- architectures

class Arch:
    """What differs between the two architectures: classes, checkpoint names, router rule."""

    def __init__(self, cfg):
        self.model_type = cfg.model_type
        if cfg.model_type == "minimax_m2":
            from transformers import MiniMaxM2ForCausalLM as cls
            from transformers.models.minimax_m2 import modeling_minimax_m2 as mod
            self.rmsnorm = mod.MiniMaxM2RMSNorm
            self.ckpt_moe, self.expert_names = "block_sparse_moe", ("w1", "w3", "w2")
            self.num_experts, self.normalize = cfg.num_local_experts, True
        elif cfg.model_type == "qwen3_moe":
            from transformers import Qwen3MoeForCausalLM as cls
            from transformers.models.qwen3_moe import modeling_qwen3_moe as mod
            self.rmsnorm = mod.Qwen3MoeRMSNorm
            self.ckpt_moe, self.expert_names = "mlp", ("gate_proj", "up_proj", "down_proj")
            self.num_experts, self.normalize = cfg.num_experts, bool(cfg.norm_topk_prob)
            if cfg.mlp_only_layers or cfg.decoder_sparse_step != 1:
                raise SystemExit("qwen3_moe with dense layers is not covered by this reference")
        else:
            raise SystemExit(f"model_type {cfg.model_type}: not a MiniMax-M2 / Qwen3-MoE checkpoint")
        self.cls, self.top_k = cls, cfg.num_experts_per_tok

    def is_minimax(self):
        return self.model_type == "minimax_m2"

    def transformers_router(self, block, h):
        """transformers' own router module: (logits, weights [T,k], indices [T,k])."""
        if self.is_minimax():
            return block.gate(h, block.e_score_correction_bias)
        return block.gate(h)

    def selection(self, block, logits, float32_router=True):
        """(selection score [T,E], weight base [T,E]) — the router's rule, from its logits."""
        x = logits.float() if float32_router else logits
        if self.is_minimax():
            s = torch.sigmoid(x)
            return s + block.e_score_correction_bias.to(s.dtype), s
        p = torch.softmax(x, dim=-1)
        return p, p

    def route(self, block, h, float32_router=True):
        """Re-implementation of the router (checked against transformers' in float32)."""
        W = block.gate.weight
        logits = F.linear(h.to(W.dtype) if self.is_minimax() else h, W)
        choice, base = self.selection(block, logits, float32_router)
        if self.is_minimax():
            _, idx = torch.topk(choice, self.top_k, dim=-1, sorted=False)
        else:
            _, idx = torch.topk(choice, self.top_k, dim=-1)
        w = base.gather(1, idx)
        if self.normalize:
            w = w / w.sum(dim=-1, keepdim=True)
        if not self.is_minimax():
            w = w.to(logits.dtype)
        return logits, w, idx

    def reroute(self, block, logits, j, float32_router=True):
        """Indices and weights with expert j excluded from selection (rows where j was selected)."""
        choice, base = self.selection(block, logits, float32_router)
        c = choice.clone()
        c[:, j] = -math.inf
        _, nidx = torch.topk(c, self.top_k, dim=-1, sorted=False)
        nw = base.gather(1, nidx)
        if self.normalize:
            nw = nw / nw.sum(dim=-1, keepdim=True)
        if not self.is_minimax():
            nw = nw.to(logits.dtype)
        return nidx, nw


class Layout:
    """Checkpoint names of the quantizable Linears and routers, and where they live in memory."""

    def __init__(self, model, arch):
        self.attn = []     # (checkpoint name, nn.Linear)
        self.moe = []      # (layer, block, router name, [[w1, w3, w2] names per expert])
        for n, layer in enumerate(model.model.layers):
            for p in ("q", "k", "v", "o"):
                self.attn.append((f"model.layers.{n}.self_attn.{p}_proj", getattr(layer.self_attn, f"{p}_proj")))
            pre = f"model.layers.{n}.{arch.ckpt_moe}"
            names = [[f"{pre}.experts.{e}.{s}" for s in arch.expert_names] for e in range(arch.num_experts)]
            self.moe.append((n, layer.mlp, f"{pre}.gate", names))

    def linear_names(self):
        out = [n for n, _ in self.attn]
        for _, _, _, names in self.moe:
            out += [x for e in names for x in e]
        return out


def load_model(model_dir, threads):
    from transformers import AutoConfig, FineGrainedFP8Config
    cfg = AutoConfig.from_pretrained(model_dir)
    arch = Arch(cfg)
    kw = dict(dtype=torch.float32, attn_implementation="eager")
    q = getattr(cfg, "quantization_config", None)
    if q is not None:
        qm = q.get("quant_method") if isinstance(q, dict) else getattr(q, "quant_method", None)
        if qm != "fp8":
            raise SystemExit(f"{model_dir}: quantization {qm} is not covered (FP8 blocks or unquantized only)")
        kw["quantization_config"] = FineGrainedFP8Config(dequantize=True)
    model = arch.cls.from_pretrained(model_dir, **kw).eval()
    model.set_experts_implementation("eager")
    for p in model.parameters():
        p.requires_grad_(False)
    return model, cfg, arch


def read_checkpoint(model_dir):
    from safetensors.torch import load_file
    d = Path(model_dir)
    idx = d / "model.safetensors.index.json"
    files = sorted(set(json.loads(idx.read_text())["weight_map"].values())) if idx.exists() else ["model.safetensors"]
    t = {}
    for f in files:
        t.update(load_file(str(d / f)))
    return t


def dequant(t, name, block=128):
    w = t[name + ".weight"]
    if w.dtype == torch.float8_e4m3fn:
        s = t[name + ".weight_scale_inv"].float()
        s = s.repeat_interleave(block, 0).repeat_interleave(block, 1)[:w.shape[0], :w.shape[1]]
        return w.float() * s
    return w.float()


def check_names(model, layout, arch, model_dir, block):
    """Every Linear / router / bias of the golden, read under its checkpoint name, equals what
    transformers loaded (exactly). Returns the number of tensors compared."""
    t = read_checkpoint(model_dir)
    n = 0
    for name, lin in layout.attn:
        assert torch.equal(dequant(t, name, block), lin.weight), name
        n += 1
    for _, blk, router, names in layout.moe:
        assert torch.equal(t[router + ".weight"].float(), blk.gate.weight), router
        n += 1
        if arch.is_minimax():
            bias = router.rsplit(".", 1)[0] + ".e_score_correction_bias"
            assert torch.equal(t[bias].float(), blk.e_score_correction_bias), bias
            n += 1
        ex = blk.experts
        I = ex.intermediate_dim
        for e, (w1, w3, w2) in enumerate(names):
            assert torch.equal(dequant(t, w1, block), ex.gate_up_proj[e, :I]), w1
            assert torch.equal(dequant(t, w3, block), ex.gate_up_proj[e, I:]), w3
            assert torch.equal(dequant(t, w2, block), ex.down_proj[e]), w2
            n += 3
    return n


# ----------------------------------------------------------------------------- tokens, loss

def read_tokens(path, seq_len, vocab):
    raw = np.fromfile(path, dtype="<u2")
    if raw.size == 0 or raw.size % seq_len:
        raise SystemExit(f"{path}: {raw.size} tokens, not a positive multiple of seq_len {seq_len}")
    if raw.max() >= vocab:
        raise SystemExit(f"{path}: token {raw.max()} >= vocab {vocab}")
    return torch.from_numpy(raw.astype(np.int64)).view(-1, seq_len)


def make_batches(rows, domains, batch):
    """[(domain, first_row, n_rows)] in file order: equal consecutive domain parts, then
    batches of `batch` consecutive rows within a domain (the last one may be short)."""
    if rows % len(domains):
        raise SystemExit(f"{rows} rows do not split into {len(domains)} equal domains")
    per = rows // len(domains)
    out = []
    for i, d in enumerate(domains):
        for r in range(i * per, (i + 1) * per, batch):
            out.append((d, r, min(batch, (i + 1) * per - r)))
    return out


def token_ce(logits, ids):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1), reduction="none")


def token_weights(ce, mode):
    if mode == "none":
        return torch.ones_like(ce)
    return (ce / ce.mean()).clamp(0.25, 4.0).detach()


def forward_logits(model, ids):
    return model(input_ids=ids, use_cache=False).logits


# ----------------------------------------------------------------------------- instrumentation

class Instrument:
    """Hooks on the attention Linears and a replacement forward for every MoE block that keeps
    each expert's input / output and their gradients (see the module docstring)."""

    def __init__(self, model, layout, arch, verify=True, float32_router=True):
        self.model, self.layout, self.arch = model, layout, arch
        self.verify, self.float32_router = verify, float32_router
        self.lin, self.moe, self.perturb = {}, {}, {}
        self.handles, self.saved = [], []

    def __enter__(self):
        for name, lin in self.layout.attn:
            self.handles.append(lin.register_forward_hook(self._linear_hook(name)))
        for L, blk, _, _ in self.layout.moe:
            self.saved.append((blk, blk.forward))
            blk.forward = types.MethodType(self._moe_forward(L), blk)
            self.handles.append(blk.register_forward_hook(self._moe_out_hook(L)))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        for blk, fwd in self.saved:
            blk.forward = fwd
        self.handles, self.saved = [], []

    def _add(self, key, t, rows=None):
        """Adds a registered perturbation eps*V to output t (rows: token index of each row of t)."""
        p = self.perturb.get(key)
        if p is None:
            return t
        V = p if rows is None else p[rows]
        return t + V.view(t.shape).to(t.dtype)

    def _linear_hook(self, name):
        def hook(mod, inp, out):
            r = self.lin[name] = {"x": inp[0].detach().reshape(-1, inp[0].shape[-1])}
            new = self._add(("lin", name), out)
            if new.requires_grad:
                new.register_hook(lambda g: r.__setitem__("dy", g.detach().reshape(-1, g.shape[-1])))
            return new if new is not out else None
        return hook

    def _moe_out_hook(self, L):
        def hook(mod, inp, out):
            new = self._add(("moe", L), out)
            return new if new is not out else None
        return hook

    def _moe_forward(self, L):
        inst, arch = self, self.arch

        def forward(block, hidden_states):
            B, S, H = hidden_states.shape
            h = hidden_states.reshape(-1, H)
            logits, w, idx = arch.route(block, h, inst.float32_router)
            if inst.verify:
                with torch.no_grad():
                    tl, tw, ti = arch.transformers_router(block, h)
                assert torch.equal(tl, logits) and torch.equal(ti, idx) and torch.equal(tw, w), \
                    f"layer {L}: router re-implementation differs from transformers'"
            ex = block.experts
            E = arch.num_experts
            out = torch.zeros_like(h)
            with torch.no_grad():
                mask = F.one_hot(idx, num_classes=E).permute(2, 1, 0)   # [E, k, T]
            rec = inst.moe[L] = {"h": h.detach(), "logits": logits.detach(), "idx": idx, "w": w.detach(),
                                 "experts": {}}
            for j in range(E):                      # transformers: experts hit, ascending
                pos, tok = torch.where(mask[j])
                if tok.numel() == 0:
                    continue
                x = h[tok]
                gu = inst._add(("gu", L, j), F.linear(x, ex.gate_up_proj[j]), tok)
                gate, up = gu.chunk(2, dim=-1)
                a = ex.act_fn(gate) * up
                f = inst._add(("f", L, j), F.linear(a, ex.down_proj[j]), tok)
                g = w[tok, pos, None]
                out.index_add_(0, tok, (f * g).to(out.dtype))
                r = rec["experts"][j] = {"tok": tok, "x": x.detach(), "a": a.detach(), "f": f.detach(),
                                         "g": g.detach()[:, 0]}
                if gu.requires_grad:
                    gu.register_hook(lambda gr, r=r: r.__setitem__("dgu", gr.detach()))
                    f.register_hook(lambda gr, r=r: r.__setitem__("df", gr.detach()))
            if inst.verify:
                with torch.no_grad():
                    ref = ex(h, idx, w)
                assert torch.equal(ref, out), f"layer {L}: experts re-implementation differs from transformers'"
            y = out.view(B, S, H)
            rec["y"] = out.detach()
            if y.requires_grad:
                y.register_hook(lambda gr: rec.__setitem__("dy", gr.detach().reshape(-1, H)))
            return y
        return forward


# ----------------------------------------------------------------------------- the golden pass

class Acc:
    """float64 accumulators of one Linear."""

    def __init__(self, out_f, in_f):
        self.rows, self.fisher, self.fts, self.amax = 0, 0.0, 0.0, 0.0
        self.h_row = torch.zeros(out_f, dtype=torch.float64)
        self.xtx = torch.zeros(in_f, dtype=torch.float64)

    def add_grad(self, G):
        G2 = G.double().pow(2)
        self.fisher += G2.sum().item()
        self.h_row += G2.sum(1)

    def add_tokens(self, x, d):
        x, d = x.double(), d.double()
        self.rows += x.shape[0]
        self.fts += (d.pow(2).sum(1) * x.pow(2).sum(1)).sum().item()
        self.xtx += x.pow(2).sum(0)
        self.amax = max(self.amax, x.abs().max().item())


def rel(a, b):
    a, b = a.double(), b.double()
    den = max(a.norm().item(), b.norm().item())
    return 0.0 if den == 0 else (a - b).norm().item() / den


REAP = ("sum_g", "sum_norm", "sum_norm_sq", "sum_g_norm", "sum_g_norm_sq", "max_g_norm",
        "reroute_first", "reroute_fisher", "reroute_sq", "reroute_first_abs")


def golden_pass(model, layout, arch, tokens, plan, mode, reference=True):
    # reference=False: the float64 variant for --precision-report (router and RMSNorm in the
    # model's dtype, no comparison with transformers' float32 modules)
    """The golden statistics. Returns (batches, linears {name: Acc}, routers, checks)."""
    E = arch.num_experts
    accs = {}
    for name, lin in layout.attn:
        accs[name] = Acc(*lin.weight.shape)
    for _, blk, _, names in layout.moe:
        I, H = blk.experts.intermediate_dim, blk.experts.hidden_dim
        for w1, w3, w2 in names:
            accs[w1], accs[w3], accs[w2] = Acc(I, H), Acc(I, H), Acc(H, I)
    routers = {}
    for L, blk, router, _ in layout.moe:
        routers[router] = {d: {"total_tokens": 0, "count": [0] * E, **{k: torch.zeros(E, dtype=torch.float64) for k in REAP}}
                           for d in dict.fromkeys(d for d, _, _ in plan)}
    params = [lin.weight for _, lin in layout.attn] + \
             [p for _, blk, _, _ in layout.moe for p in (blk.experts.gate_up_proj, blk.experts.down_proj)]
    for p in params:
        p.requires_grad_(True)
    checks = {"hook_vs_autograd_G_max_rel": 0.0, "reroute_sets_checked": 0, "batches_logits_bit_equal": 0}
    batches = []
    try:
        with Instrument(model, layout, arch, verify=reference, float32_router=reference) as inst:
            seen = set()
            for d, r0, nr in plan:
                ids = tokens[r0:r0 + nr]
                ref_logits = None
                if reference and d not in seen:  # first batch of each domain: the unpatched model, for comparison
                    seen.add(d)
                    with torch.no_grad():
                        inst.__exit__()
                        ref_logits = forward_logits(model, ids)
                        inst.__enter__()
                for p in params:
                    p.grad = None
                logits = forward_logits(model, ids)
                if ref_logits is not None:
                    assert torch.equal(logits, ref_logits), "instrumented logits differ from transformers'"
                    checks["batches_logits_bit_equal"] += 1
                ce = token_ce(logits, ids)
                wt = token_weights(ce, mode)
                loss = (wt * ce).sum()
                loss.backward()
                batches.append({"domain": d, "first_row": r0, "rows": nr, "positions": ce.numel(),
                                "loss": (wt.double() * ce.double()).sum().item(),
                                "ce_sum": ce.double().sum().item()})
                T = ids.numel()
                for name, lin in layout.attn:
                    rec = inst.lin[name]
                    G = lin.weight.grad
                    checks["hook_vs_autograd_G_max_rel"] = max(checks["hook_vs_autograd_G_max_rel"],
                                                                rel(rec["dy"].double().T @ rec["x"].double(), G))
                    accs[name].add_grad(G)
                    accs[name].add_tokens(rec["x"], rec["dy"])
                for L, blk, router, names in layout.moe:
                    rec = inst.moe[L]
                    ex = blk.experts
                    I = ex.intermediate_dim
                    gGU, gD = ex.gate_up_proj.grad, ex.down_proj.grad
                    R = routers[router][d]
                    R["total_tokens"] += T
                    for j, (w1, w3, w2) in enumerate(names):
                        accs[w1].add_grad(gGU[j, :I])
                        accs[w3].add_grad(gGU[j, I:])
                        accs[w2].add_grad(gD[j])
                        r = rec["experts"].get(j)
                        if r is None:
                            continue
                        for acc, x, dd, G in ((accs[w1], r["x"], r["dgu"][:, :I], gGU[j, :I]),
                                              (accs[w3], r["x"], r["dgu"][:, I:], gGU[j, I:]),
                                              (accs[w2], r["a"], r["df"], gD[j])):
                            checks["hook_vs_autograd_G_max_rel"] = max(checks["hook_vs_autograd_G_max_rel"],
                                                                        rel(dd.double().T @ x.double(), G))
                            acc.add_tokens(x, dd)
                        g, n = r["g"].double(), r["f"].double().norm(dim=1)
                        R["count"][j] += r["tok"].numel()
                        R["sum_g"][j] += g.sum()
                        R["sum_norm"][j] += n.sum()
                        R["sum_norm_sq"][j] += n.pow(2).sum()
                        R["sum_g_norm"][j] += (g * n).sum()
                        R["sum_g_norm_sq"][j] += (g * n.pow(2)).sum()
                        R["max_g_norm"][j] = max(R["max_g_norm"][j], (g * n).max())
                        # re-routing with j excluded
                        tok = r["tok"]
                        with torch.no_grad():
                            nidx, nw = arch.reroute(blk, rec["logits"][tok], j, reference)
                            old = rec["idx"][tok]
                            for a_, b_ in zip(old.tolist(), nidx.tolist()):
                                kept = set(a_) - {j}
                                assert j not in b_ and kept <= set(b_) and len(set(b_) - kept) == 1, \
                                    f"{router}: re-routing without {j} is not old set - j + one"
                            checks["reroute_sets_checked"] += len(tok)
                            y_wo = ex(rec["h"][tok], nidx, nw)
                        Dy = y_wo.double() - rec["y"][tok].double()
                        first = (rec["dy"][tok].double() * Dy).sum()
                        R["reroute_first"][j] += first
                        R["reroute_fisher"][j] += first * first
                        R["reroute_first_abs"][j] += first.abs()
                        R["reroute_sq"][j] += Dy.pow(2).sum()
                print(f"  batch {len(batches)}/{len(plan)} {d} rows {r0}-{r0 + nr - 1} loss {batches[-1]['loss']:.4f}",
                      file=sys.stderr, flush=True)
    finally:
        for p in params:
            p.requires_grad_(False)
            p.grad = None
    assert checks["hook_vs_autograd_G_max_rel"] < (1e-5 if reference else 1e-12), checks
    return batches, accs, routers, checks


# ----------------------------------------------------------------------------- plain probe (timed)

def plain_probe(model, layout, arch, tokens, plan, mode):
    """What a plain transformers autograd probe does: stock model, one backward per batch,
    per-Linear ||G_b||^2 from .grad, REAP sums from a forward hook on each experts module."""
    E = arch.num_experts
    params = [lin.weight for _, lin in layout.attn] + \
             [p for _, blk, _, _ in layout.moe for p in (blk.experts.gate_up_proj, blk.experts.down_proj)]
    for p in params:
        p.requires_grad_(True)
    att = {name: torch.zeros((), dtype=torch.float64) for name, _ in layout.attn}
    exp = {L: torch.zeros(3, E, dtype=torch.float64) for L, _, _, _ in layout.moe}
    reap = {}
    state = {"domain": None}
    handles = []

    def hook(L):
        def f(mod, inp, out):
            h, idx, w = inp
            R = reap.setdefault((L, state["domain"]), torch.zeros(4, E, dtype=torch.float64))
            with torch.no_grad():
                for j in range(E):
                    tok, pos = torch.where(idx == j)
                    if tok.numel() == 0:
                        continue
                    gate, up = F.linear(h[tok], mod.gate_up_proj[j]).chunk(2, dim=-1)
                    fo = F.linear(mod.act_fn(gate) * up, mod.down_proj[j])
                    n, g = fo.norm(dim=1).double(), w[tok, pos].double()
                    R[0, j] += tok.numel()
                    R[1, j] += g.sum()
                    R[2, j] += (g * n).sum()
                    R[3, j] += n.sum()
        return f

    for L, blk, _, _ in layout.moe:
        handles.append(blk.experts.register_forward_hook(hook(L)))
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        for d, r0, nr in plan:
            state["domain"] = d
            ids = tokens[r0:r0 + nr]
            for p in params:
                p.grad = None
            logits = forward_logits(model, ids)
            ce = token_ce(logits, ids)
            (token_weights(ce, mode) * ce).sum().backward()
            for name, lin in layout.attn:
                att[name] += lin.weight.grad.double().pow(2).sum()
            for L, blk, _, _ in layout.moe:
                I = blk.experts.intermediate_dim
                gGU, gD = blk.experts.gate_up_proj.grad.double(), blk.experts.down_proj.grad.double()
                exp[L][0] += gGU[:, :I].pow(2).sum((1, 2))
                exp[L][1] += gGU[:, I:].pow(2).sum((1, 2))
                exp[L][2] += gD.pow(2).sum((1, 2))
        seconds = (time.perf_counter() - t0, time.process_time() - c0)
    finally:
        for h in handles:
            h.remove()
        for p in params:
            p.requires_grad_(False)
            p.grad = None
    fisher = {name: v.item() for name, v in att.items()}
    for L, _, _, names in layout.moe:
        for j, trio in enumerate(names):
            for s, name in enumerate(trio):
                fisher[name] = exp[L][s, j].item()
    return seconds, fisher, reap


# ----------------------------------------------------------------------------- eval

@torch.no_grad()
def eval_pass(model, tokens, domains, batch=16):
    plan = make_batches(tokens.shape[0], domains, batch)
    sums = dict.fromkeys(domains, 0.0)
    counts = dict.fromkeys(domains, 0)
    for d, r0, nr in plan:
        ids = tokens[r0:r0 + nr]
        ce = token_ce(forward_logits(model, ids), ids)
        sums[d] += ce.double().sum().item()
        counts[d] += ce.numel()
    n = sum(counts.values())
    return sum(sums.values()) / n, n, {d: sums[d] / counts[d] for d in domains}


# ----------------------------------------------------------------------------- finite differences

@contextlib.contextmanager
def float64_network(model, arch):
    """transformers rounds RMSNorm and the router through float32 (and eager attention's
    softmax); for a float64 finite-difference check those are kept in float64: RMSNorm's forward
    without the casts, sdpa attention, the router re-implementation without .float()."""
    cls = arch.rmsnorm
    orig = cls.forward

    def fwd(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))
    cls.forward = fwd
    model.set_attn_implementation("sdpa")
    try:
        yield
    finally:
        cls.forward = orig
        model.set_attn_implementation("eager")


def fd_check(model, layout, arch, tokens, mode, rows=2, seq=48, eps=1e-5):
    """Central differences in float64 against the hooks' quantities. Returns the worst relative
    error per kind."""
    model.double()
    ids = tokens[:rows, :seq]
    params = [lin.weight for _, lin in layout.attn] + \
             [p for _, blk, _, _ in layout.moe for p in (blk.experts.gate_up_proj, blk.experts.down_proj)]
    res = {}
    try:
        with float64_network(model, arch), Instrument(model, layout, arch, verify=False, float32_router=False) as inst:
            for p in params:
                p.requires_grad_(True)
                p.grad = None
            logits = forward_logits(model, ids)
            ce = token_ce(logits, ids)
            wt = token_weights(ce, mode)
            (wt * ce).sum().backward()
            lin_rec, moe_rec = dict(inst.lin), dict(inst.moe)   # the perturbed forwards below replace inst's
            base_idx = {L: moe_rec[L]["idx"].clone() for L in moe_rec}

            def L_at():
                with torch.no_grad():
                    lg = forward_logits(model, ids)
                    for L in inst.moe:  # the routing must not move under the perturbation
                        assert torch.equal(inst.moe[L]["idx"], base_idx[L]), "routing changed"
                    return (wt * token_ce(lg, ids)).sum().item()

            def worst(kind, fd, an):
                e = abs(fd - an) / max(abs(an), 1e-30)
                res[kind] = max(res.get(kind, 0.0), e)

            layer = min(1, len(layout.moe) - 1)
            # (a) dL/dW entries: an attention Linear (q and o) and the busiest expert's w1 / w3 / w2
            _, blk, _, _ = layout.moe[layer]
            rec = moe_rec[layer]
            j = max(rec["experts"], key=lambda e: rec["experts"][e]["tok"].numel())
            r = rec["experts"][j]
            I = blk.experts.intermediate_dim
            targets = []
            for p in ("q", "o"):
                name = f"model.layers.{layer}.self_attn.{p}_proj"
                lin = dict(layout.attn)[name]
                lr = lin_rec[name]
                targets.append(("dL/dW attention", lin.weight, (lr["dy"].T @ lr["x"])))
            targets.append(("dL/dW expert w1", blk.experts.gate_up_proj[j, :I], r["dgu"][:, :I].T @ r["x"]))
            targets.append(("dL/dW expert w3", blk.experts.gate_up_proj[j, I:], r["dgu"][:, I:].T @ r["x"]))
            targets.append(("dL/dW expert w2", blk.experts.down_proj[j], r["df"].T @ r["a"]))
            for kind, W, G in targets:
                flat = G.abs().flatten()
                big = (flat > 0.05 * flat.max()).nonzero()[:, 0]
                picks = flat.topk(2).indices.tolist() + [big[len(big) // 2].item()]
                for k in picks:
                    rr, cc = divmod(k, G.shape[1])
                    with torch.no_grad():
                        w0 = W[rr, cc].item()
                        W[rr, cc] = w0 + eps
                        lp = L_at()
                        W[rr, cc] = w0 - eps
                        lm = L_at()
                        W[rr, cc] = w0
                    worst(kind, (lp - lm) / (2 * eps), G[rr, cc].item())

            # (b) per-token delta: perturb one output row along delta_t; dL/d(eps) = ||delta_t||^2
            T = ids.numel()
            for key, dy, n_out in ((("lin", f"model.layers.{layer}.self_attn.q_proj"),
                                    lin_rec[f"model.layers.{layer}.self_attn.q_proj"]["dy"], None),
                                   (("f", layer, j), r["df"], r["tok"])):
                order = dy.pow(2).sum(1).argsort(descending=True).tolist()
                for i in order[:2]:
                    t = i if n_out is None else r["tok"][i].item()
                    V = torch.zeros(T, dy.shape[1], dtype=torch.float64)
                    V[t] = dy[i]
                    vals = []
                    for s in (1, -1):
                        inst.perturb[key] = s * eps * V
                        vals.append(L_at())
                    del inst.perturb[key]
                    worst("||delta_t||^2", (vals[0] - vals[1]) / (2 * eps), dy[i].pow(2).sum().item())

            # (c) re-routing: perturb the MoE output along Dy^(j); dL/d(eps) = sum_t delta_t . Dy_t
            for jj in sorted(rec["experts"], key=lambda e: -rec["experts"][e]["tok"].numel())[:2]:
                tok = rec["experts"][jj]["tok"]
                with torch.no_grad():
                    nidx, nw = arch.reroute(blk, rec["logits"][tok], jj, float32_router=False)
                    D = torch.zeros_like(rec["y"])
                    D[tok] = blk.experts(rec["h"][tok], nidx, nw) - rec["y"][tok]
                an = (rec["dy"] * D).sum().item()
                vals = []
                for s in (1, -1):
                    inst.perturb[("moe", layer)] = s * eps * D
                    vals.append(L_at())
                del inst.perturb[("moe", layer)]
                worst("reroute sum_t delta.Dy", (vals[0] - vals[1]) / (2 * eps), an)
    finally:
        for p in params:
            p.requires_grad_(False)
            p.grad = None
        model.float()
    return res



def precision_report(model, layout, arch, tokens, plan, mode):
    """How far the float32 golden is from the same pass in float64 (RMSNorm, router and
    attention kept in float64 as in fd_check): per statistic, the largest relative difference
    over Linears / experts (relative to the float64 value; reroute_first relative to
    reroute_first_abs). A guide for the tolerances a float32 implementation can meet."""
    b32, a32, r32, _ = golden_pass(model, layout, arch, tokens, plan, mode)
    model.double()
    try:
        with float64_network(model, arch):
            b64, a64, r64, _ = golden_pass(model, layout, arch, tokens, plan, mode, reference=False)
    finally:
        model.float()
    rep = {"loss": max(abs(x["loss"] - y["loss"]) / abs(y["loss"]) for x, y in zip(b32, b64))}
    def upd(k, v):
        rep[k] = max(rep.get(k, 0.0), v)
    for n in a64:
        x, y = a32[n], a64[n]
        upd("rows_seen (abs)", abs(x.rows - y.rows))
        for k, u, v in (("fisher_sum", x.fisher, y.fisher), ("fisher_token_sum", x.fts, y.fts),
                        ("input_amax", x.amax, y.amax)):
            upd(k, abs(u - v) / max(abs(v), 1e-300))
        upd("h_row_sum (max elem rel to max)", ((x.h_row - y.h_row).abs().max() / y.h_row.abs().max()).item())
        upd("xtx_diag (max elem rel to max)", ((x.xtx - y.xtx).abs().max() / y.xtx.abs().max()).item())
    for router in r64:
        for d in r64[router]:
            X, Y = r32[router][d], r64[router][d]
            upd("count (abs)", max(abs(u - v) for u, v in zip(X["count"], Y["count"])))
            for k in REAP:
                den = Y["reroute_first_abs"] if k == "reroute_first" else Y[k].abs()
                m = den > 0
                if m.any():
                    upd(k, ((X[k] - Y[k]).abs()[m] / den[m]).max().item())
    return rep

# ----------------------------------------------------------------------------- output

def write_atomic(path, data: bytes):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def repo_rel(p):
    p = Path(p).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def main():
    ap = argparse.ArgumentParser(description="transformers golden for prismaquant probe / eval")
    ap.add_argument("--model", required=True, help="checkpoint folder (minimax_m2 or qwen3_moe)")
    ap.add_argument("--tokens", help="calibration token file (default MODEL/calib_tokens.bin)")
    ap.add_argument("--eval-tokens", help="eval token file (default MODEL/eval_tokens.bin; 'none' to skip)")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--token-weights", choices=("clamped", "none"), default="clamped")
    ap.add_argument("--domains", default=None, help="comma-separated (default: one domain 'default')")
    ap.add_argument("--out", default=str(ROOT / "tests/golden/probe"))
    ap.add_argument("--name", default=None, help="file stem (default: the model folder's name)")
    ap.add_argument("--threads", type=int, default=1, help="threads of the golden computations (default 1)")
    ap.add_argument("--plain-threads", default="2",
                    help="comma-separated thread counts at which the plain transformers probe is timed (default 2)")
    ap.add_argument("--no-fd", action="store_true", help="skip the finite-difference check")
    ap.add_argument("--no-plain", action="store_true", help="skip timing the plain transformers probe")
    ap.add_argument("--timing-only", action="store_true",
                    help="only time the plain transformers probe at --plain-threads and print it; writes nothing")
    ap.add_argument("--precision-report", action="store_true",
                    help="only print how far float32 is from float64 on the (limited) batches; writes nothing")
    ap.add_argument("--limit-batches", type=int, default=None,
                    help="only the first N batches (trying the script out; never for goldens)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)
    import transformers
    mdir = Path(a.model)
    name = a.name or mdir.resolve().name
    domains = a.domains.split(",") if a.domains else ["default"]
    tok_path = Path(a.tokens) if a.tokens else mdir / "calib_tokens.bin"
    model, cfg, arch = load_model(mdir, a.threads)
    layout = Layout(model, arch)
    block = 128
    q = getattr(cfg, "quantization_config", None)
    if q is not None:
        block = (q.get("weight_block_size") if isinstance(q, dict) else q.weight_block_size)[0]
    checks = {"checkpoint_tensors_bit_equal": check_names(model, layout, arch, mdir, block)}
    tokens = read_tokens(tok_path, a.seq_len, cfg.vocab_size)
    plan = make_batches(tokens.shape[0], domains, a.batch)[:a.limit_batches]
    print(f"{name}: {len(layout.linear_names())} Linears, {len(layout.moe)} routers, {len(plan)} batches",
          file=sys.stderr)

    if a.precision_report:
        print(json.dumps(precision_report(model, layout, arch, tokens, plan, a.token_weights), indent=1))
        return
    timing = {"golden_threads": a.threads, "plain_transformers_probe": []}
    if a.timing_only:
        torch.use_deterministic_algorithms(False)
        for n in (int(x) for x in a.plain_threads.split(",")):
            torch.set_num_threads(n)
            load0 = os.getloadavg()[0]
            secs, _, _ = plain_probe(model, layout, arch, tokens, plan, a.token_weights)
            print(json.dumps({"threads": n, "wall_s": round(secs[0], 2), "cpu_s": round(secs[1], 2),
                              "loadavg_1min_before": round(load0, 2)}))
        return
    if not a.no_plain:
        torch.use_deterministic_algorithms(False)
        for n in (int(x) for x in a.plain_threads.split(",")):
            torch.set_num_threads(n)
            load0 = os.getloadavg()[0]
            secs, fisher_n, reap_n = plain_probe(model, layout, arch, tokens, plan, a.token_weights)
            if not timing["plain_transformers_probe"]:
                plain_fisher, plain_reap = fisher_n, reap_n
            timing["plain_transformers_probe"].append({"threads": n, "wall_s": round(secs[0], 2),
                                                      "cpu_s": round(secs[1], 2), "loadavg_1min_before": round(load0, 2)})
            print(f"plain transformers autograd probe: {secs[0]:.1f} s wall, {secs[1]:.1f} s CPU ({n} threads,"
                  f" load average {load0:.1f} before)", file=sys.stderr)
        torch.set_num_threads(a.threads)
        torch.use_deterministic_algorithms(True)
    t0 = time.perf_counter()
    batches, accs, routers, c2 = golden_pass(model, layout, arch, tokens, plan, a.token_weights)
    timing["golden_pass_s"] = round(time.perf_counter() - t0, 2)
    checks.update(c2)

    if not a.no_plain:  # the plain probe (stock model) and the golden pass must agree
        worst = max(abs(plain_fisher[n] - accs[n].fisher) / max(accs[n].fisher, 1e-300) for n in accs)
        checks["plain_vs_golden_fisher_max_rel"] = worst
        wr = 0.0
        for L, _, router, _ in layout.moe:
            for d in routers[router]:
                P, R = plain_reap[(L, d)], routers[router][d]
                wr = max(wr, (P[0] - torch.tensor(R["count"], dtype=torch.float64)).abs().max().item(),
                         rel(P[1], R["sum_g"]), rel(P[2], R["sum_g_norm"]), rel(P[3], R["sum_norm"]))
        checks["plain_vs_golden_reap_max_rel"] = wr
        assert worst < 1e-6 and wr < 1e-6, checks

    # losses against the model folder's eval_results.json
    ref = json.loads((mdir / "eval_results.json").read_text()) if (mdir / "eval_results.json").exists() else {}
    calib_loss = sum(b["ce_sum"] for b in batches) / sum(b["positions"] for b in batches)
    checks["calib_loss"] = calib_loss
    for key in ("calib_loss_stored", "calib_loss"):
        if key in ref and not a.tokens and a.limit_batches is None:
            checks["calib_loss_vs_eval_results"] = ref[key]
            assert abs(calib_loss - ref[key]) < 1e-5, (calib_loss, ref[key])
            break

    eval_doc = None
    if a.eval_tokens != "none":
        ev_path = Path(a.eval_tokens) if a.eval_tokens else mdir / "eval_tokens.bin"
        ev_tokens = read_tokens(ev_path, a.seq_len, cfg.vocab_size)
        loss, n, dl = eval_pass(model, ev_tokens, domains)
        eval_doc = {"generator": GENERATOR, "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                    "model": repo_rel(mdir), "tokens": repo_rel(ev_path), "seq_len": a.seq_len, "domains": domains,
                    "loss": loss, "tokens_count": n, "domains_loss": dl}
        # eager vs sdpa attention on the first rows of every domain
        sub = torch.cat([ev_tokens[i * (ev_tokens.shape[0] // len(domains)):][:4] for i in range(len(domains))])
        l_eager, _, _ = eval_pass(model, sub, domains, batch=4)
        model.set_attn_implementation("sdpa")
        l_sdpa, _, _ = eval_pass(model, sub, domains, batch=4)
        model.set_attn_implementation("eager")
        checks["eval_eager_vs_sdpa_abs"] = abs(l_sdpa - l_eager)
        assert abs(l_sdpa - l_eager) < 1e-5
        if not a.eval_tokens:
            for key, dkey in (("eval_loss_stored", "eval_loss_stored_per_domain"), ("eval_loss", "eval_loss_per_domain")):
                if key in ref:
                    assert abs(loss - ref[key]) < 1e-5, (loss, ref[key])
                    for d, v in ref.get(dkey, {}).items():
                        if d in dl:
                            assert abs(dl[d] - v) < 1e-5, (d, dl[d], v)
                    checks["eval_loss_vs_eval_results"] = ref[key]
                    break

    if not a.no_fd:
        checks["finite_difference_float64_max_rel"] = fd_check(model, layout, arch, tokens, a.token_weights)
        bad = {k: v for k, v in checks["finite_difference_float64_max_rel"].items() if v > 1e-5}
        assert not bad, bad

    # ------------------------------------------------------------------ write
    from safetensors.torch import save
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    linears, tensors = {}, {}
    for n in layout.linear_names():
        acc = accs[n]
        linears[n] = {"rows_seen": acc.rows, "fisher_sum": acc.fisher, "fisher_token_sum": acc.fts,
                      "input_amax": acc.amax}
        tensors[n + ".xtx_diag"] = acc.xtx.contiguous()
        tensors[n + ".h_row_sum"] = acc.h_row.contiguous()
    rout = {}
    for L, _, router, _ in layout.moe:
        doms = {}
        for d, R in routers[router].items():
            doms[d] = {"total_tokens": R["total_tokens"], "count": R["count"],
                       **{k: [float(v) for v in R[k].tolist()] for k in REAP}}
        rout[router] = {"num_experts": arch.num_experts, "top_k": arch.top_k, "domains": doms}
    doc = {"generator": GENERATOR,
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
           "model": repo_rel(mdir), "tokens": repo_rel(tok_path), "seq_len": a.seq_len, "batch": a.batch,
           "token_weights": a.token_weights, "domains": domains, "batches": batches,
           "linears": linears, "routers": rout, "tensors": f"{name}.safetensors",
           "checks": checks, "timing": timing}
    write_atomic(out / f"{name}.safetensors", save(tensors))
    write_atomic(out / f"{name}.json", (json.dumps(doc, indent=1) + "\n").encode())
    if eval_doc is not None:
        write_atomic(out / f"{name}.eval.json", (json.dumps(eval_doc, indent=1) + "\n").encode())
    print(json.dumps({"checks": checks, "timing": timing}, indent=1), file=sys.stderr)
    print(f"wrote {out}/{name}.json, .safetensors" + (", .eval.json" if eval_doc else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
