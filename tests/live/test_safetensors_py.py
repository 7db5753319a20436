"""Live cross-check of prismaquant's safetensors I/O against the reference `safetensors`
package (PyPI, 0.8): files written by Python are read by prismaquant and vice versa, and
crafted headers are accepted or rejected by both alike (prismaquant is stricter on purpose
for duplicate names and unknown fields). Uses tests/live/safetensors_tool.cpp.
Exit 77 (skipped) if the package or the tool is missing."""
import json, os, struct, subprocess, sys, tempfile

try:
    import numpy as np
    import safetensors
    from safetensors import TensorSpec, deserialize, serialize_file
    from safetensors.numpy import save_file
except ImportError as e:
    print("skipped: safetensors/numpy not importable:", e)
    sys.exit(77)

build = os.environ.get("PQ_BUILD_DIR", "build")
tool = os.path.join(build, "tests", "safetensors_tool")
if not os.path.exists(tool):
    print("skipped: no", tool)
    sys.exit(77)

failures = []
def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)

def run(*args):
    return subprocess.run([tool, *args], capture_output=True, text=True)

def dump(path):
    r = run("dump", path)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout)

def pattern(i, n):
    return bytes(((i * 31 + k * 7 + 3) & 0xFF) for k in range(n))

tmp = tempfile.mkdtemp(prefix="pq-st-")
print("safetensors", safetensors.__version__)

# 1. Python writes, prismaquant reads ------------------------------------------------------
rng = np.random.default_rng(0)
arrays = {
    "f64": rng.standard_normal((3, 5)), "f32": rng.standard_normal((4, 4)).astype(np.float32),
    "f16": rng.standard_normal((7,)).astype(np.float16), "i64": rng.integers(-9, 9, (2, 3)),
    "u64": rng.integers(0, 2**63, (2,), dtype=np.uint64), "i32": rng.integers(-5, 5, (5,)).astype(np.int32),
    "u32": np.arange(6, dtype=np.uint32).reshape(2, 3), "i16": np.arange(-4, 4, dtype=np.int16),
    "u16": np.arange(9, dtype=np.uint16).reshape(3, 3), "i8": np.arange(-3, 3, dtype=np.int8),
    "u8": np.arange(10, dtype=np.uint8), "bool": np.array([[True, False], [False, True]]),
    "scalar": np.array(3.5, dtype=np.float32), "empty": np.zeros((0, 4), dtype=np.float32),
}
p = os.path.join(tmp, "numpy.safetensors")
save_file(arrays, p, metadata={"format": "np", "who": "python"})
d = dump(p)
check(d["metadata"] == {"format": "np", "who": "python"}, "metadata of a numpy-written file")
names = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
         np.dtype(np.int64): "I64", np.dtype(np.uint64): "U64", np.dtype(np.int32): "I32",
         np.dtype(np.uint32): "U32", np.dtype(np.int16): "I16", np.dtype(np.uint16): "U16",
         np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8", np.dtype(bool): "BOOL"}
for k, a in arrays.items():
    t = d["tensors"].get(k)
    check(t is not None, f"numpy tensor {k} present")
    if t:
        check(t["dtype"] == names[a.dtype], f"{k}: dtype {t['dtype']}")
        check(t["shape"] == list(a.shape), f"{k}: shape {t['shape']}")
        check(bytes.fromhex(t["hex"]) == a.astype(a.dtype.newbyteorder("<")).tobytes(), f"{k}: bytes")

# dtypes numpy lacks, through the raw TensorSpec API (F6 has no writer in 0.8)
raw = {"bf16": ("bfloat16", [3, 4], 24, "BF16", [3, 4]), "e4m3": ("float8_e4m3fn", [5], 5, "F8_E4M3", [5]),
       "e5m2": ("float8_e5m2", [2, 2], 4, "F8_E5M2", [2, 2]), "e8m0": ("float8_e8m0fnu", [3], 3, "F8_E8M0", [3]),
       # storage shape [2,3] of float4_e2m1fn_x2 is logical shape [2,6]
       "f4": ("float4_e2m1fn_x2", [2, 3], 6, "F4", [2, 6])}
bufs, specs = {}, {}
for i, (k, (dt, shape, n, _, _)) in enumerate(raw.items()):
    bufs[k] = np.frombuffer(pattern(i + 50, n), dtype=np.uint8).copy()
    specs[k] = TensorSpec(dtype=dt, shape=shape, data_ptr=bufs[k].ctypes.data, data_len=n)
p = os.path.join(tmp, "raw.safetensors")
serialize_file(specs, p, metadata={"format": "pt"})
d = dump(p)
for i, (k, (_, _, n, want_dt, want_shape)) in enumerate(raw.items()):
    t = d["tensors"][k]
    check(t["dtype"] == want_dt and t["shape"] == want_shape, f"{k}: {t['dtype']} {t['shape']}")
    check(bytes.fromhex(t["hex"]) == pattern(i + 50, n), f"{k}: bytes")

# 2. prismaquant writes, Python reads --------------------------------------------------------
p = os.path.join(tmp, "all.safetensors")
r = run("write-all", p)
check(r.returncode == 0, "write-all: " + r.stderr)
blob = open(p, "rb").read()
got = dict(deserialize(blob))
order = ["BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F16", "BF16", "F32", "F64",
         "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"]
bits = {"BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "I32": 32, "U32": 32, "I64": 64, "U64": 64, "F16": 16,
        "BF16": 16, "F32": 32, "F64": 64, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4}
check(len(got) == len(order), f"python sees {len(got)} tensors")
for i, dt in enumerate(order):
    t = got.get("t." + dt)
    check(t is not None, f"python reads t.{dt}")
    if t:
        check(t["dtype"] == dt and list(t["shape"]) == [2, 8], f"t.{dt}: {t['dtype']} {t['shape']}")
        check(bytes(t["data"]) == pattern(i, 16 * bits[dt] // 8), f"t.{dt}: bytes")
n = struct.unpack("<Q", blob[:8])[0]
check((8 + n) % 8 == 0, "data buffer 8-byte aligned like safetensors' writer")
check(json.loads(blob[8:8 + n])["__metadata__"] == {"format": "pt", "writer": "prismaquant"}, "metadata read by python")
with safetensors.safe_open(p, framework="numpy") as f:  # the numpy loader, for a dtype numpy has
    a = f.get_tensor("t.F32")
check(a.dtype == np.float32 and a.shape == (2, 8) and a.tobytes() == pattern(order.index("F32"), 64),
      "numpy safe_open of a prismaquant file")

# sharded checkpoint
out = os.path.join(tmp, "sharded")
r = run("write-sharded", out, "1000")
check(r.returncode == 0, "write-sharded: " + r.stderr)
idx = json.load(open(os.path.join(out, "model.safetensors.index.json")))
shards = sorted(set(idx["weight_map"].values()))
check(len(shards) > 2, f"several shards ({len(shards)})")
total = 0
seen = {}
for s in shards:
    for k, t in deserialize(open(os.path.join(out, s), "rb").read()):
        seen[k] = (s, t)
        total += len(t["data"])
check(total == idx["metadata"]["total_size"], "total_size = sum of tensor bytes")
for i in range(12):
    k = f"model.layers.{i}.weight"
    dt = ["BF16", "F32", "F8_E4M3"][i % 3]
    size = (4 + i) * 16 * bits[dt] // 8
    check(k in seen and seen[k][0] == idx["weight_map"][k], f"{k} in its shard")
    check(k in seen and bytes(seen[k][1]["data"]) == pattern(i, size), f"{k} bytes")
    check(k in seen and len(seen[k][1]["data"]) <= 1000 or size > 1000, f"{k} shard limit")
for s in shards:
    data = sum(len(t["data"]) for _, t in deserialize(open(os.path.join(out, s), "rb").read()))
    ntens = len(deserialize(open(os.path.join(out, s), "rb").read()))
    check(data <= 1000 or ntens == 1, f"{s}: {data} data bytes within the 1000-byte limit")
check(sorted(dump(out)["tensors"]) == sorted(idx["weight_map"]), "prismaquant reads its own sharded checkpoint")

# 3. crafted headers: both accept or both reject --------------------------------------------
def entry(dt, shape, b, e):
    return {"dtype": dt, "shape": shape, "data_offsets": [b, e]}
def j(**kw):
    return json.dumps(kw)
cases = [  # (label, header bytes or str, data bytes, declared length or None, python-lax)
    ("empty", "{}", 0, None, False),
    ("padded", "{}    ", 0, None, False),
    ("f32", j(a=entry("F32", [2], 0, 8)), 8, None, False),
    ("scalar", j(a=entry("F64", [], 0, 8)), 8, None, False),
    ("F4 even", j(a=entry("F4", [2, 3], 0, 3)), 3, None, False),
    ("F4 odd", j(a=entry("F4", [3], 0, 2)), 2, None, False),
    ("F6 x4", j(a=entry("F6_E3M2", [8], 0, 6)), 6, None, False),
    ("F6 x3", j(a=entry("F6_E2M3", [3], 0, 3)), 3, None, False),
    ("size mismatch", j(a=entry("F32", [3], 0, 8)), 8, None, False),
    ("overlap", j(a=entry("U8", [4], 0, 4), b=entry("U8", [2], 2, 4)), 4, None, False),
    ("hole", j(a=entry("U8", [2], 2, 4)), 4, None, False),
    ("trailing", j(a=entry("U8", [2], 0, 2)), 4, None, False),
    ("past end", j(a=entry("U8", [8], 0, 8)), 4, None, False),
    ("overflow", j(a=entry("U8", [2**32, 2**32], 0, 1)), 1, None, False),
    ("unknown dtype", j(a=entry("F3", [1], 0, 1)), 1, None, False),
    ("negative dim", j(a=entry("U8", [-1], 0, 1)), 1, None, False),
    ("bad json", '{"a":', 0, None, False),
    ("not utf8", b'{"\xff":1}', 0, None, False),
    ("len > 100MB", "{}", 0, 100_000_001, False),
    ("len past file", "{}", 0, 40, False),
    ("metadata int", j(__metadata__={"k": 1}), 0, None, False),
    ("empty at boundary", j(a=entry("U8", [2], 0, 2), b=entry("U8", [0], 2, 2)), 2, None, False),
    ("empty inside", j(a=entry("U8", [4], 0, 4), b=entry("U8", [0], 2, 2)), 4, None, False),
    ("duplicate name", '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1, None, True),
    ("unknown field", '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":0}}', 1, None, True),
]
for label, header, ndata, declared, lax in cases:
    hb = header.encode() if isinstance(header, str) else header
    p = os.path.join(tmp, "case.safetensors")
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", len(hb) if declared is None else declared) + hb + bytes(ndata))
    try:
        deserialize(open(p, "rb").read())
        py_ok = True
    except Exception as e:
        py_ok = False
    r = run("dump", p)
    pq_ok = r.returncode == 0
    if not pq_ok:
        check(r.stderr.startswith("error: " + p + ": "), f"{label}: error names the file: {r.stderr.strip()}")
    if lax:
        check(py_ok and not pq_ok, f"{label}: python accepts ({py_ok}), prismaquant rejects ({not pq_ok})")
    else:
        check(py_ok == pq_ok, f"{label}: python {'accepts' if py_ok else 'rejects'}, prismaquant {'accepts' if pq_ok else 'rejects: ' + r.stderr.strip()}")
    print(f"  {label:18s} python={'ok ' if py_ok else 'err'} prismaquant={'ok ' if pq_ok else 'err'}")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
