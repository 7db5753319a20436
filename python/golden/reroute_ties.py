"""Where the re-routing statistics are ill-conditioned: positions at which, with a selected
expert j excluded, the best two replacement candidates have selection scores closer than
--gap (float32, transformers' own forward). There the replacement is decided by the last
bits of the router input, so two correct float32 implementations may pick different experts
and that position's delta . Dy^(j) differs by a whole term. tests/test_probe_golden.cpp lists
the (router, domain, expert) entries this prints and bounds them separately.

  .venv-ref/bin/python python/golden/reroute_ties.py --model models/minimax-m2-tiny \
      --domains code,prose,math [--gap 1e-6]
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import probe_reference as R  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", help="default MODEL/calib_tokens.bin")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--domains", default=None)
    ap.add_argument("--gap", type=float, default=1e-6, help="score gap below which a choice is ambiguous")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, cfg, arch = R.load_model(a.model, 1)
    layout = R.Layout(model, arch)
    tokens = R.read_tokens(Path(a.tokens) if a.tokens else Path(a.model) / "calib_tokens.bin", a.seq_len, cfg.vocab_size)
    domains = a.domains.split(",") if a.domains else ["default"]
    k = arch.top_k
    for d, r0, nr in R.make_batches(tokens.shape[0], domains, a.batch):
        caps = {}
        hooks = [blk.gate.register_forward_hook(
            lambda m, i, o, name=name: caps.__setitem__(name, i[0].detach().reshape(-1, i[0].shape[-1])))
            for _, blk, name, _ in layout.moe]
        with torch.no_grad():
            R.forward_logits(model, tokens[r0:r0 + nr])
        for h in hooks:
            h.remove()
        for _, blk, name, _ in layout.moe:
            logits = torch.nn.functional.linear(caps[name].to(blk.gate.weight.dtype), blk.gate.weight)
            choice, _ = arch.selection(blk, logits)
            top = torch.topk(choice, k + 1, dim=-1)
            sel = top.indices[:, :k]
            if (top.values[:, k - 1] - top.values[:, k] < a.gap).any():
                print(f"{name} {d} rows {r0}..{r0 + nr - 1}: the selection itself is ambiguous")
            for j in sel.unique().tolist():
                rows = (sel == j).any(-1).nonzero().flatten()
                c = choice[rows].clone()
                c[:, j] = -torch.inf
                t = torch.topk(c, k + 1, dim=-1).values
                gap = t[:, k - 1] - t[:, k]
                for i in (gap < a.gap).nonzero().flatten().tolist():
                    p = rows[i].item()
                    print(f"{name} {d} expert {j}: row {r0 + p // a.seq_len} position {p % a.seq_len}: "
                          f"replacement scores {t[i, k - 1].item():.9g} and {t[i, k].item():.9g}")


if __name__ == "__main__":
    main()
