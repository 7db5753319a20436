#!/usr/bin/env python3
"""Shows that the golden files pin down every step of papers/ct-recipe.md.

Swaps one step of python/golden/ct_recipe.py at a time for a plausible alternative and
counts the golden bytes that then differ. The recipe itself must give 0; every
alternative must give > 0 (exit 1 otherwise), or the goldens would not catch that mistake.

Usage: .venv/bin/python python/golden/ct_recipe_ablation.py [tests/golden/ct]
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ct_recipe as R  # noqa: E402

F32 = np.float32


def count(root):
    total = tensors = 0
    for sd in sorted(p for p in root.iterdir() if p.is_dir()):
        inputs = {n: a for n, (_, _, a) in R.read_safetensors(sd / "input.safetensors").items()}
        for sc in sorted(p for p in sd.iterdir() if p.is_dir()):
            ref = R.read_safetensors(sc / "output.safetensors")
            mine = R.encode_like_ct(inputs, sc.name)
            for n, (_, _, a) in mine.items():
                if n in ref and ref[n][2].nbytes == a.nbytes:
                    d = int(np.sum(ref[n][2].view(np.uint8) != np.ascontiguousarray(a).view(np.uint8)))
                    total += d
                    tensors += d > 0
    return total, tensors


def _gs_single(a):
    a = np.maximum(R.f32(a), R.TINY_BF16)
    g = R.f32(R.bf16(F32(2688.0) / a))
    return g if np.isfinite(g) else F32(1.0)


def _gs_f32(a):
    a = np.maximum(R.f32(a), R.TINY_BF16)
    g = F32(2688.0) / a
    return g if np.isfinite(g) else F32(1.0)


def _nvfp4_variant(kind):
    def enc(w, gs, group=16):
        wb = R.blocks(R.f32(w), group)
        amax_b = R.amax_bf16(wb, axis=-1)
        d = R.f32(amax_b) / F32(6.0) if kind == "amax6_f32" else R.f32(R.bf16(R.f32(amax_b) / F32(6.0)))
        s = d * gs
        s_f = R.f32(R.e4m3_sat(s))
        s_f = np.where(s_f == 0, F32(0.125), s_f)
        if kind == "mul":
            q = wb * (gs / s_f)[..., None]
        elif kind == "unrounded":
            q = wb / (s / gs)[..., None]
        else:
            q = wb / (s_f / gs)[..., None]
        q = np.clip(q, -6.0, 6.0)
        return R.pack_nibbles(R.fp4_code(q).reshape(w.shape)), s_f.astype(R.E4M3)
    return enc


def _fp8_variant(kind):
    def enc(w, per_channel=True):
        wf = R.f32(w)
        amax = R.amax_bf16(wf, axis=1)[:, None] if per_channel else R.amax_bf16(wf).reshape(1)
        s = R.bf16(R.f32(amax) / F32(448.0))
        eps = F32(2.0**-9) if kind == "eps" else R.BF16_EPS
        s = np.where(R.f32(s) == 0, eps, R.f32(s)).astype(R.BF16)
        q = wf / R.f32(s) if kind == "single" else R.f32(R.bf16(wf / R.f32(s)))
        return np.clip(q, -448.0, 448.0).astype(R.E4M3), s
    return enc


def _fp4_signed_zero(q):
    q = R.f32(q)
    return _orig["fp4_code"](q) | (np.signbit(q).astype(np.uint8) << 3)


def _mx_floor(amax_b):
    with np.errstate(divide="ignore"):
        return np.floor(np.log2(R.f32(amax_b)))


_orig = {k: getattr(R, k) for k in ("nvfp4_global_scale", "nvfp4_encode", "fp8_encode", "fp4_code", "mx_scale_code")}

VARIANTS = [
    ("gs = bf16(2688/A), single rounding", "nvfp4_global_scale", _gs_single),
    ("gs = float32 2688/A", "nvfp4_global_scale", _gs_f32),
    ("amax_b/6 in float32", "nvfp4_encode", _nvfp4_variant("amax6_f32")),
    ("NVFP4 elements w * (gs/s_f)", "nvfp4_encode", _nvfp4_variant("mul")),
    ("NVFP4 elements divided by the unrounded scale", "nvfp4_encode", _nvfp4_variant("unrounded")),
    ("FP8 single rounding (float32 quotient -> e4m3)", "fp8_encode", _fp8_variant("single")),
    ("FP8 zero-scale eps 2^-9 instead of bf16 eps", "fp8_encode", _fp8_variant("eps")),
    ("fp4: -0.0 keeps the sign bit", "fp4_code", _fp4_signed_zero),
    ("MX: OCP floor(log2(amax))", "mx_scale_code", _mx_floor),
]


def main():
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "tests/golden/ct"
    np.seterr(all="ignore")
    base, _ = count(root)
    print(f"recipe: {base} bytes differ")
    ok = base == 0
    for label, attr, fn in VARIANTS:
        setattr(R, attr, fn)
        try:
            n, t = count(root)
        finally:
            setattr(R, attr, _orig[attr])
        print(f"{label}: {n} bytes differ in {t} tensors")
        ok &= n > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
