"""Shared pieces of the tiny MiniMax-M2 scripts: architecture, tokens, evaluation."""
import math
from pathlib import Path

import numpy as np
import torch

VOCAB, BOS, EOS, PAD = 260, 256, 257, 258
SEQ = 256  # training, calibration and evaluation sequence length (tokens)

# The architecture (MiniMax-M2 scaled down). Dims are multiples of 128 where a 128x128 FP8
# block must divide them (hidden, expert intermediate, q/o width, k/v width).
ARCH = dict(
    vocab_size=VOCAB, hidden_size=256, intermediate_size=128, num_hidden_layers=4,
    num_attention_heads=4, num_key_value_heads=2, head_dim=64,
    num_local_experts=32, num_experts_per_tok=4,
    rotary_dim=32, rope_theta=5_000_000.0, rms_norm_eps=1e-6, max_position_embeddings=4096,
    tie_word_embeddings=False, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
    hidden_act="silu", initializer_range=0.02)


def make_config(**over):
    from transformers import MiniMaxM2Config
    a = dict(ARCH, **over)
    # transformers 5.17 ignores the release's `rotary_dim`; it reads partial_rotary_factor.
    a["partial_rotary_factor"] = a["rotary_dim"] / a["head_dim"]
    return MiniMaxM2Config(**a)


def read_tokens(path) -> np.ndarray:
    return np.fromfile(path, dtype="<u2")


@torch.no_grad()
def eval_loss(model, tokens: np.ndarray, seq: int = SEQ, batch: int = 16):
    """Mean next-token cross-entropy (nats/token) over rows of `seq` tokens (seq-1 targets each)."""
    rows = torch.from_numpy(tokens.astype(np.int64)).view(-1, seq)
    was = model.training
    model.eval()
    tot, n = 0.0, 0
    for i in range(0, rows.shape[0], batch):
        x = rows[i:i + batch]
        logits = model(input_ids=x).logits.float()
        ce = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
        tot += ce.item(); n += x[:, 1:].numel()
    model.train(was)
    return tot / n


def bits_per_byte(nats: float) -> float:
    return nats / math.log(2)


DOMAINS = ("code", "prose", "math")


def heldout_rows(data_dir, split: str, rows: int) -> np.ndarray:
    """The shipped calibration / evaluation rows: rows/3 rows of SEQ tokens per domain, spread
    evenly over that domain's held-out stream, in the order code, prose, math."""
    parts = []
    for d in DOMAINS:
        s = read_tokens(Path(data_dir) / f"{d}_{split}.bin")
        n = rows // len(DOMAINS)
        r = s[:(s.size // SEQ) * SEQ].reshape(-1, SEQ)
        if r.shape[0] < n:
            raise SystemExit(f"{d}_{split}: only {r.shape[0]} rows of {SEQ}, need {n}")
        idx = np.linspace(0, r.shape[0] - 1, n).round().astype(int)
        parts.append(r[idx])
    return np.concatenate(parts).astype("<u2")


class RouterStats:
    """Forward hooks on every router: counts how often each expert is chosen (top-k index)."""

    def __init__(self, model):
        from transformers.models.minimax_m2.modeling_minimax_m2 import MiniMaxM2TopKRouter
        self.routers = [m for m in model.modules() if isinstance(m, MiniMaxM2TopKRouter)]
        self.counts = [torch.zeros(r.num_experts, dtype=torch.long) for r in self.routers]
        self.handles = [r.register_forward_hook(self._hook(i)) for i, r in enumerate(self.routers)]

    def _hook(self, i):
        def f(mod, inp, out):
            idx = out[2]
            self.counts[i] += torch.bincount(idx.reshape(-1), minlength=mod.num_experts).cpu()
        return f

    def reset(self):
        for c in self.counts:
            c.zero_()

    def summary(self):
        """Per layer: normalised entropy of the expert load (1 = uniform), min/max load share x E."""
        res = []
        for c in self.counts:
            p = c.double() / max(1, int(c.sum()))
            ent = -(p[p > 0] * p[p > 0].log()).sum().item() / math.log(len(p))
            res.append({"entropy_norm": round(ent, 4),
                        "min_x_E": round(p.min().item() * len(p), 3),
                        "max_x_E": round(p.max().item() * len(p), 3),
                        "unused": int((c == 0).sum())})
        return res

    def remove(self):
        for h in self.handles:
            h.remove()
