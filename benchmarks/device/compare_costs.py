"""Compare two costs files (docs/file-formats.md) made from one checkpoint by two passes, e.g.
`cost --device cuda` and `cost --device cpu`: the same Linears and formats, identical bytes,
element counts and max |error|, and sums (sse, act_sse, per-row sse) equal — bit for bit by
default, since both passes add in one documented order (cost/row_scalar.hpp).

  python3 compare_costs.py A.json B.json [--rel R]   (default 0: bit for bit)

Prints the largest relative differences; exit 1 if a check fails. Needs numpy and safetensors
only when the files have side files.
"""
import json
import os
import sys


def load(path):
    with open(path) as f:
        doc = json.load(f)
    side = None
    if doc.get("tensors"):
        from safetensors.numpy import load_file
        side = load_file(os.path.join(os.path.dirname(path) or ".", doc["tensors"]))
    return doc, side


def vec(v, side):
    if isinstance(v, dict):
        return [float(x) for x in side[v["tensor"]]]
    return [float(x) for x in v]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rel_tol = float(sys.argv[sys.argv.index("--rel") + 1]) if "--rel" in sys.argv else 0.0
    if "--rel" in sys.argv:
        args.remove(sys.argv[sys.argv.index("--rel") + 1])
    (a, sa), (b, sb) = load(args[0]), load(args[1])
    bad = []
    worst = {"sse": 0.0, "act_sse": 0.0, "sse_row": 0.0}
    if set(a["linears"]) != set(b["linears"]):
        bad.append("different Linears")
    pairs = 0
    for name, la in a["linears"].items():
        lb = b["linears"].get(name)
        if lb is None:
            continue
        if set(la["formats"]) != set(lb["formats"]):
            bad.append(f"{name}: different formats")
        for fmt, fa in la["formats"].items():
            fb = lb["formats"].get(fmt)
            if fb is None:
                continue
            pairs += 1
            for k in ("bytes", "n", "max_abs_err"):
                if fa.get(k) != fb.get(k):
                    bad.append(f"{name} {fmt} {k}: {fa.get(k)} vs {fb.get(k)}")
            for k in ("sse", "act_sse"):
                if k in fa or k in fb:
                    x, y = fa.get(k), fb.get(k)
                    if x is None or y is None:
                        bad.append(f"{name} {fmt} {k} missing in one file")
                        continue
                    r = abs(x - y) / max(abs(y), 1e-300)
                    worst[k] = max(worst[k], r)
                    if r > rel_tol:
                        bad.append(f"{name} {fmt} {k}: {x!r} vs {y!r} (rel {r:.3g})")
            if "sse_row" in fa or "sse_row" in fb:
                ra, rb = vec(fa["sse_row"], sa), vec(fb["sse_row"], sb)
                if len(ra) != len(rb):
                    bad.append(f"{name} {fmt} sse_row length")
                    continue
                for x, y in zip(ra, rb):
                    r = abs(x - y) / max(abs(y), 1e-300) if (x or y) else 0.0
                    worst["sse_row"] = max(worst["sse_row"], r)
                    if r > rel_tol:
                        bad.append(f"{name} {fmt} sse_row: {x!r} vs {y!r}")
                        break
    print(f"{pairs} (Linear, format) pairs; largest relative difference: "
          + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()))
    for m in bad[:20]:
        print("MISMATCH", m)
    if bad:
        print(f"{len(bad)} mismatches")
        sys.exit(1)


if __name__ == "__main__":
    main()
