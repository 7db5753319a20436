"""Live check: prismaquant's element codecs against ml_dtypes (and numpy's float16).

For each type, inputs are every code boundary (each representable value and each midpoint
between neighbours, including the overflow threshold, +-1..3 float32 ULPs around each, both
signs), specials (+-0, float32 subnormals, powers of two with neighbours, +-inf, NaNs),
1,000,000 random float32 bit patterns and 1,000,000 random values in the type's range.
tests/live/codec_dump (C++) encodes them; we compare, bit for bit:
  - from_float_nonsaturating  == ml_dtypes' astype from float32 (NaN input: NaN-ness only;
    fp4/fp6 skip NaN input: they have no NaN and ml_dtypes returns a signed zero there);
  - from_float (saturating)   == ml_dtypes' astype of clip(x, -max, max) (non-NaN input;
    not e8m0, whose saturating rounding rule differs from ml_dtypes' on purpose);
  - to_float of every code    == ml_dtypes' decode (NaN codes: NaN-ness).
Run by CTest with PQ_BUILD_DIR / PQ_SOURCE_DIR set; exits 77 if ml_dtypes is missing.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import ml_dtypes
except ImportError:  # pragma: no cover
    print("ml_dtypes not installed: skipped")
    sys.exit(77)

# name in prismaquant -> (numpy/ml_dtypes type, bits)
TYPES = {
    "fp8_e4m3": (ml_dtypes.float8_e4m3fn, 8),
    "fp8_e5m2": (ml_dtypes.float8_e5m2, 8),
    "fp6_e2m3": (ml_dtypes.float6_e2m3fn, 6),
    "fp6_e3m2": (ml_dtypes.float6_e3m2fn, 6),
    "fp4_e2m1": (ml_dtypes.float4_e2m1fn, 4),
    "e8m0": (ml_dtypes.float8_e8m0fnu, 8),
    "bf16": (ml_dtypes.bfloat16, 16),
    "fp16": (np.float16, 16),
}
NO_NAN = {"fp6_e2m3", "fp6_e3m2", "fp4_e2m1"}
N_RANDOM = 1_000_000


def find_dump():
    build = os.environ.get("PQ_BUILD_DIR")
    if not build:
        sys.exit("PQ_BUILD_DIR is not set (run through ctest)")
    path = os.path.join(build, "tests", "codec_dump")
    if not os.path.exists(path):
        sys.exit(f"{path}: not built (cmake --build <build> --target codec_dump)")
    return path


def storage(bits):
    return np.uint16 if bits == 16 else np.uint8


def decode_all(t, bits):
    """Every code's value according to ml_dtypes, as float32."""
    return np.arange(1 << bits, dtype=storage(bits)).view(t).astype(np.float32)


def cast_bits(x, t, bits):
    return x.astype(t).view(storage(bits)).astype(np.uint16)


def with_neighbours(values):
    """float32 values (non-negative, finite or inf), each +-0..3 ULPs, both signs."""
    b = np.abs(values.astype(np.float32)).view(np.uint32).astype(np.int64)
    out = (b[:, None] + np.arange(-3, 4)[None, :]).ravel()
    out = out[(out >= 0) & (out <= 0x7F800000)].astype(np.uint32).view(np.float32)
    return np.concatenate([out, -out])


def boundary_inputs(name, t, bits):
    dec = decode_all(t, bits).astype(np.float64)
    g = np.unique(dec[np.isfinite(dec) & (dec >= 0)])
    # the next value past max finite, so that the overflow threshold is a midpoint too
    nxt = 2 * g[-1] if name == "e8m0" else g[-1] + (g[-1] - g[-2])
    g = np.append(g, nxt)
    mids = (g[:-1] + g[1:]) / 2
    with np.errstate(over="ignore"):
        pts = np.concatenate([g, mids]).astype(np.float32)  # all exact; 2^128 becomes inf
    return with_neighbours(pts)


def special_inputs(rng):
    sub_pow2 = ((1 << np.arange(23))[:, None] + np.arange(-2, 3)[None, :]).ravel()
    sub = np.concatenate([np.arange(0x400), sub_pow2, [0x7FFFFF]])
    sub = sub[sub >= 0].astype(np.uint32)
    pow2 = ((np.arange(1, 255, dtype=np.int64) << 23)[:, None] + np.arange(-3, 4)[None, :]).ravel().astype(np.uint32)
    nan = (0x7F800001 + rng.integers(0, 0x7FFFFF, 10_000)).astype(np.uint32)
    pos = np.concatenate([sub, pow2, np.array([0x7F7FFFFF, 0x7F800000, 0x7FC00000], dtype=np.uint32), nan])
    return np.concatenate([pos, pos | np.uint32(0x80000000)]).view(np.float32)


def random_inputs(t, bits, rng):
    raw = rng.integers(0, 1 << 32, N_RANDOM, dtype=np.uint64).astype(np.uint32).view(np.float32)
    dec = decode_all(t, bits).astype(np.float64)
    fin = dec[np.isfinite(dec) & (dec > 0)]
    mx, tiny = fin.max(), fin.min()
    half = N_RANDOM // 2
    uni = (rng.uniform(-1.25, 1.25, half) * mx).astype(np.float32)
    lo, hi = np.log2(tiny) - 3, np.log2(mx) + 1
    mag = np.exp2(rng.uniform(lo, hi, N_RANDOM - half))
    logu = np.where(rng.integers(0, 2, mag.size) == 1, -mag, mag).astype(np.float32)
    return np.concatenate([raw, uni, logu])


def run_dump(dump, name, x, tmp):
    inp = os.path.join(tmp, f"{name}.f32")
    outs = [os.path.join(tmp, f"{name}.{k}") for k in ("nonsat", "sat", "dec")]
    x.astype("<f4").tofile(inp)
    subprocess.run([dump, name, inp, *outs], check=True)
    ns = np.fromfile(outs[0], dtype="<u2")
    s = np.fromfile(outs[1], dtype="<u2")
    dec = np.fromfile(outs[2], dtype="<f4")
    assert ns.size == x.size and s.size == x.size, "codec_dump wrote the wrong number of codes"
    return ns, s, dec


def same_float(a, b):
    """Bit-equal, or both NaN."""
    return (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))


def report(name, what, n, bad, x=None, want=None, got=None):
    print(f"[ml_dtypes {ml_dtypes.__version__}] {name:9s} {what}: {n} values, {int(bad.sum())} mismatches")
    if bad.any() and x is not None:
        idx = np.nonzero(bad)[0][:8]
        for i in idx:
            print(f"    x={x[i]!r} (0x{x.view(np.uint32)[i]:08x}) want 0x{int(want[i]):x} got 0x{int(got[i]):x}")
    return int(bad.sum())


def main():
    dump = find_dump()
    rng = np.random.default_rng(20240601)
    specials = special_inputs(rng)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (t, bits) in TYPES.items():
            x = np.concatenate([boundary_inputs(name, t, bits), specials, random_inputs(t, bits, rng)])
            ns, s, dec = run_dump(dump, name, x, tmp)
            isnan = np.isnan(x)

            # non-saturating vs ml_dtypes' cast
            with np.errstate(over="ignore", invalid="ignore"):
                want = cast_bits(x, t, bits)
            ok = ns == want
            if name in NO_NAN:
                checked = ~isnan
            else:
                ours_nan = np.isnan(ns.astype(storage(bits)).view(t).astype(np.float32))
                theirs_nan = np.isnan(want.astype(storage(bits)).view(t).astype(np.float32))
                ok = np.where(isnan, ours_nan & theirs_nan, ok)
                checked = np.ones_like(isnan)
            failures += report(name, "from_float_nonsaturating vs astype", int(checked.sum()),
                               checked & ~ok, x, want, ns)

            # saturating vs ml_dtypes' cast of the clipped value
            if name != "e8m0":
                d = decode_all(t, bits)
                mx = np.max(d[np.isfinite(d)])
                fin = ~isnan
                with np.errstate(over="ignore", invalid="ignore"):
                    want_s = cast_bits(np.clip(x[fin], -mx, mx), t, bits)
                failures += report(name, "from_float vs astype(clip(x, -max, max))", int(fin.sum()),
                                   want_s != s[fin], x[fin], want_s, s[fin])

            # decode of every code
            ref = decode_all(t, bits)
            failures += report(name, "to_float of every code", ref.size, ~same_float(dec, ref))
    if failures:
        print(f"FAILED: {failures} mismatches")
        return 1
    print("all codecs agree with ml_dtypes")
    return 0


if __name__ == "__main__":
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN inputs are intended
        sys.exit(main())
