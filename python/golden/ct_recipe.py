#!/usr/bin/env python3
"""compressed-tensors' encode recipe, re-implemented step by step in numpy (+ml_dtypes).

This is the executable form of papers/ct-recipe.md: every step names the dtype it runs
in, exactly as CT 0.19 / llm-compressor 0.14 do it for bf16 weights on the CPU. It
needs no torch, so it runs in the light .venv (and in CI). `check` re-encodes every
golden input under tests/golden/ct and requires byte equality with what the real CT
wrote, which is how the recipe was established.

Usage: .venv/bin/python python/golden/ct_recipe.py [tests/golden/ct]
"""
import json
import re
import struct
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

BF16 = ml_dtypes.bfloat16
E4M3 = ml_dtypes.float8_e4m3fn
F32 = np.float32

# ----------------------------------------------------------------------------- helpers


def bf16(x):
    """float32 -> bf16, RNE (what torch does after every bf16 op on the CPU)."""
    return np.asarray(x, dtype=F32).astype(BF16)


def f32(x):
    return np.asarray(x).astype(F32)


def e4m3_sat(x32):
    """clamp(x, -448, 448) then RNE to e4m3 (CT clamps before every fp8 cast)."""
    return np.clip(f32(x32), -448.0, 448.0).astype(E4M3)


def fp4_code(q):
    """CT's cast_to_fp4 + pack_fp4_to_uint8 code for an already clamped value q (bf16 or f32).

    Thresholds as in fp4_utils.cast_to_fp4 (= RNE on the E2M1 grid). The sign comes from
    torch.sign(x) * rounded: a negative value that rounds to 0 keeps the sign (0x8), but an
    input of -0.0 gives +0 (sign(-0.0) == 0).
    """
    q = f32(q)
    a = np.abs(q)
    idx = np.zeros(a.shape, np.uint8)
    idx[(a > 0.25) & (a < 0.75)] = 1
    idx[(a >= 0.75) & (a <= 1.25)] = 2
    idx[(a > 1.25) & (a < 1.75)] = 3
    idx[(a >= 1.75) & (a <= 2.5)] = 4
    idx[(a > 2.5) & (a < 3.5)] = 5
    idx[(a >= 3.5) & (a <= 5.0)] = 6
    idx[a > 5.0] = 7
    neg = q < 0  # strictly negative: -0.0 is not
    return idx | (neg.astype(np.uint8) << 3)


def pack_nibbles(codes):
    """byte j of a row = code[2j] | code[2j+1] << 4 (even column in the low nibble)."""
    c = codes.reshape(codes.shape[0], -1, 2)
    return (c[..., 0] | (c[..., 1] << 4)).astype(np.uint8)


def blocks(w, g):
    out, inn = w.shape
    assert inn % g == 0, "input dim must be a multiple of the group size"
    return w.reshape(out, inn // g, g)


def amax_bf16(w, axis=None):
    """max |w| in bf16 (exact: no rounding)."""
    return np.max(np.abs(f32(w)), axis=axis).astype(BF16)


# ----------------------------------------------------------------------------- NVFP4

TINY_BF16 = F32(2.0**-126)  # torch.finfo(bfloat16).tiny


def nvfp4_global_scale(group_amax_bf16):
    """generate_gparam for a bf16 observer: 2688 / amax is evaluated by torch as
    reciprocal(amax) * 2688 (Tensor.__rtruediv__), each op rounded to bf16; inf/NaN -> 1.0;
    stored as float32."""
    a = np.maximum(f32(group_amax_bf16), TINY_BF16)  # clamp(min=finfo(bf16).tiny)
    with np.errstate(over="ignore"):  # overflow to inf is part of the recipe (-> 1.0)
        r = bf16(F32(1.0) / a)
        gs = bf16(f32(r) * F32(2688.0))
    gs = f32(gs)
    return F32(1.0) if not np.isfinite(gs) else gs


def nvfp4_encode(w, gs, group=16):
    """w: bf16 [out, in]; gs: float32 global scale (shared by fused siblings).
    Returns (weight_packed u8 [out,in/2], weight_scale e4m3 [out,in/16])."""
    wb = blocks(f32(w), group)
    amax_b = amax_bf16(wb, axis=-1)  # bf16 [out, nb]
    d = bf16(f32(amax_b) / F32(6.0))  # amax/6 in bf16 (bit_range.to(bf16)/2 == 6)
    s = f32(d) * gs  # global_scale(f32) * scales(bf16) -> f32
    s8 = e4m3_sat(s)
    s_f = f32(s8)
    s_f = np.where(s_f == 0, F32(0.125), s_f)  # eps for e4m3 scale_dtype
    s8 = s_f.astype(E4M3)  # stored scale (0 -> 0.125 = 0x20)
    eff = s_f / gs  # bf16 scale / f32 global -> f32
    q = wb / eff[..., None]  # f32
    q = np.clip(q, -6.0, 6.0)
    codes = fp4_code(q).reshape(w.shape)
    return pack_nibbles(codes), s8


# ----------------------------------------------------------------------------- MX

MX_OFFSET = {4: 2, 8: 8}  # floor(log2(max elem)): E2M1 6 -> 2, E4M3 448 -> 8


def mx_scale_code(amax_b):
    """generate_mx_scales + round_to_quantized_type_dtype(uint8) for bf16 amax:
    round_to_power_2: bits + (1 << (7-1-1)) then keep sign+exponent (i.e. go up a power
    of two when the mantissa is >= 0.75); code = 127 + floor(log2(p)) - offset, clamped to
    [0, 255] (p == 0 -> -inf -> 0). Returns the float scale (bf16) and the code."""
    u = amax_b.astype(BF16).view(np.uint16).astype(np.int32)
    p = ((u + 32) & 0xFF80).astype(np.uint16).view(BF16)
    with np.errstate(divide="ignore"):
        lg = np.floor(np.log2(f32(p)))  # exact for powers of two, -inf for 0, inf for inf
    return lg


def mx_encode(w, bits, group=32):
    """w: bf16 [out,in]. bits 4 -> (weight_packed u8 [out,in/2], scale u8 [out,in/32]);
    bits 8 -> (weight e4m3 [out,in], scale u8)."""
    wb = blocks(f32(w), group)
    amax_b = amax_bf16(wb, axis=-1)
    lg = mx_scale_code(amax_b)
    code_f = bf16(bf16(F32(127.0) + lg) - F32(MX_OFFSET[bits]))  # bf16 arithmetic (exact ints)
    code = np.round(np.clip(f32(code_f), 0, 255))  # clamp to uint8 range, round
    with np.errstate(over="ignore"):
        scale = bf16(np.exp2(code - 127.0).astype(F32))  # 2^(code-127) -> bf16 param
    q = bf16(wb / f32(scale)[..., None])  # bf16 / bf16 -> bf16
    qmax = 6.0 if bits == 4 else 448.0
    q = np.clip(f32(q), -qmax, qmax)
    # stored scale: compress_mx_scale = 127 + floor(log2(scale)) as int32 -> uint8
    with np.errstate(divide="ignore"):
        lg2 = np.floor(np.log2(f32(scale)))
    stored = np.where(np.isfinite(lg2), lg2, -(2.0**31)).astype(np.int64) + 127  # inf -> INT_MIN (x86)
    stored = (stored & 0xFF).astype(np.uint8)
    if bits == 4:
        return pack_nibbles(fp4_code(q).reshape(w.shape)), stored
    return q.astype(E4M3).reshape(w.shape), stored


# ----------------------------------------------------------------------------- FP8

BF16_EPS = F32(2.0**-7)  # torch.finfo(bfloat16).eps: CT's replacement for a zero scale


def fp8_encode(w, per_channel=True):
    """FP8_DYNAMIC (channel) or per-tensor: scale = bf16(amax/448), 0 -> bf16 eps;
    q = e4m3(clamp(bf16(w / scale), +-448)): the division rounds to bf16 FIRST, then the
    e4m3 cast rounds again (double rounding)."""
    wf = f32(w)
    amax = amax_bf16(wf, axis=1)[:, None] if per_channel else amax_bf16(wf).reshape(1)
    s = bf16(f32(amax) / F32(448.0))
    s = np.where(f32(s) == 0, BF16_EPS, f32(s)).astype(BF16)
    q = bf16(wf / f32(s))
    q = np.clip(f32(q), -448.0, 448.0).astype(E4M3)
    return q, s


# ----------------------------------------------------------------------------- fusion

FUSED = [
    [r".*(attn|attention)\.q_proj\.weight$", r".*(attn|attention)\.k_proj\.weight$",
     r".*(attn|attention)\.v_proj\.weight$"],
    [r".*(attn|attention)\.wq_a\.weight$", r".*(attn|attention)\.wkv_a_with_mqa\.weight$"],
    [r".*mlp\.gate_proj\.weight$", r".*mlp\.up_proj\.weight$"],
    [r".*w1\.weight$", r".*w3\.weight$"],
]


def fused_groups(names):
    """llm-compressor's get_fused_names: natural sort, complete sets only."""
    def nat(s):
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]
    groups = []
    for pats in FUSED:
        cur = [None] * len(pats)
        for n in sorted(names, key=nat):
            for i, p in enumerate(pats):
                if re.match(p, n):
                    cur[i] = n
            if all(c is not None for c in cur):
                groups.append(list(cur))
                cur = [None] * len(pats)
    return groups


# ----------------------------------------------------------------------------- safetensors io

_DT = {"BF16": BF16, "F32": F32, "U8": np.uint8, "F8_E4M3": E4M3, "F16": np.float16}


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        arr = np.frombuffer(raw[base + b:base + en], dtype=_DT[e["dtype"]]).reshape(e["shape"])
        out[name] = (e["dtype"], list(e["shape"]), arr)
    return out


# ----------------------------------------------------------------------------- check

def encode_like_ct(inputs, scheme):
    """inputs: name -> bf16 array. Returns name -> (dtype string, shape, array)."""
    out = {}
    weights = {n: a for n, a in inputs.items() if a.ndim == 2 and n.endswith(".weight")}
    for n, a in inputs.items():
        if n not in weights:
            out[n] = ("BF16", list(a.shape), a)
    if scheme in ("NVFP4A16", "NVFP4"):
        gs = {}
        for grp in fused_groups(weights):
            g = nvfp4_global_scale(max(amax_bf16(weights[m]) for m in grp))
            for m in grp:
                gs[m] = g
        for n, w in weights.items():
            g = gs.get(n, nvfp4_global_scale(amax_bf16(w)))
            p, s = nvfp4_encode(w, g)
            m = n[:-len(".weight")]
            out[m + ".weight_packed"] = ("U8", list(p.shape), p)
            out[m + ".weight_scale"] = ("F8_E4M3", list(s.shape), s)
            out[m + ".weight_global_scale"] = ("F32", [1], np.array([g], F32))
    elif scheme in ("MXFP4A16", "MXFP4", "MXFP8A16", "MXFP8"):
        bits = 4 if "FP4" in scheme else 8
        for n, w in weights.items():
            q, s = mx_encode(w, bits)
            m = n[:-len(".weight")]
            if bits == 4:
                out[m + ".weight_packed"] = ("U8", list(q.shape), q)
            else:
                out[m + ".weight"] = ("F8_E4M3", list(q.shape), q)
            out[m + ".weight_scale"] = ("U8", list(s.shape), s)
    elif scheme in ("FP8_DYNAMIC", "FP8_TENSOR"):
        for n, w in weights.items():
            q, s = fp8_encode(w, per_channel=scheme == "FP8_DYNAMIC")
            m = n[:-len(".weight")]
            out[m + ".weight"] = ("F8_E4M3", list(q.shape), q)
            out[m + ".weight_scale"] = ("BF16", list(s.shape), s)
    else:
        raise ValueError(scheme)
    return out


def check(root):
    root = Path(root)
    fails = 0
    count = 0
    for set_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        inputs = {n: a for n, (_, _, a) in read_safetensors(set_dir / "input.safetensors").items()}
        for sdir in sorted(p for p in set_dir.iterdir() if p.is_dir()):
            ref = read_safetensors(sdir / "output.safetensors")
            mine = encode_like_ct(inputs, sdir.name)
            if sdir.name == "NVFP4":  # W4A4: input_global_scale from the saved activations
                acts = read_safetensors(sdir / "activations.safetensors")
                for n, (_, _, x) in acts.items():
                    m = n[:-len(".input")]
                    g = nvfp4_global_scale(amax_bf16(x))
                    mine[m + ".input_global_scale"] = ("F32", [1], np.array([g], F32))
            bad = []
            if set(ref) != set(mine):
                bad.append("names differ: only CT %s, only emulator %s" % (
                    sorted(set(ref) - set(mine)), sorted(set(mine) - set(ref))))
            for n in sorted(set(ref) & set(mine)):
                rd, rs, ra = ref[n]
                md, ms, ma = mine[n]
                count += 1
                if (rd, rs) != (md, ms) or ra.tobytes() != np.ascontiguousarray(ma).tobytes():
                    nd = int(np.sum(ra.view(np.uint8) != np.ascontiguousarray(ma).view(np.uint8))) if ra.nbytes == ma.nbytes else -1
                    bad.append(f"{n}: CT {rd}{rs} vs {md}{ms}, {nd} bytes differ")
            status = "OK" if not bad else "FAIL"
            print(f"{set_dir.name}/{sdir.name}: {status} ({len(ref)} tensors)")
            for b in bad[:10]:
                print("   ", b)
            fails += bool(bad)
    print(f"{count} tensors compared, {fails} scheme outputs differ")
    return fails


if __name__ == "__main__":
    here = Path(__file__).resolve().parents[2]
    sys.exit(1 if check(sys.argv[1] if len(sys.argv) > 1 else here / "tests/golden/ct") else 0)
