#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus (fuzz/corpus/): small valid safetensors files, some written
by the reference `safetensors` package when it is importable, and invalid ones covering each
validation rule. Re-run to regenerate; output is deterministic."""
import json, os, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "corpus")
os.makedirs(out, exist_ok=True)

def raw(name, header, data=b"", declared=None):
    hb = header.encode() if isinstance(header, str) else header
    n = len(hb) if declared is None else declared
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<Q", n) + hb + data)

def entry(dt, shape, b, e):
    return {"dtype": dt, "shape": shape, "data_offsets": [b, e]}

# valid
raw("valid_empty", "{}")
raw("valid_padded", "{}      ")
raw("valid_meta", json.dumps({"__metadata__": {"format": "pt"}}))
raw("valid_f32", json.dumps({"a": entry("F32", [2, 2], 0, 16)}), bytes(range(16)))
raw("valid_mixed", json.dumps({"__metadata__": {"format": "pt"}, "w": entry("BF16", [2, 3], 0, 12),
                               "p": entry("F4", [2, 4], 12, 16), "q": entry("F6_E2M3", [4], 16, 19),
                               "s": entry("F8_E8M0", [1], 19, 20), "z": entry("F32", [0], 20, 20),
                               "b": entry("BOOL", [], 20, 21)}), bytes(21))

sizes = [("U8", 1), ("I8", 1), ("I16", 2), ("U16", 2), ("I32", 4), ("U32", 4), ("I64", 8), ("U64", 8),
         ("F16", 2), ("F64", 8), ("F8_E4M3", 1), ("F8_E5M2", 1)]
hdr, off = {}, 0
for dt, sz in sizes:
    hdr[dt.lower()] = entry(dt, [1], off, off + sz)
    off += sz
raw("valid_whole_dtypes", json.dumps(hdr), bytes(range(off)))
# invalid
raw("bad_len_huge", "{}", declared=2**64 - 1)
raw("bad_len_short", "{}", declared=1)
raw("bad_len_past_end", "{}", declared=64)
raw("bad_json", '{"a":')
raw("bad_not_object", "[1]")
raw("bad_dtype", json.dumps({"a": entry("F3", [1], 0, 1)}), b"\0")
raw("bad_size", json.dumps({"a": entry("F32", [3], 0, 8)}), bytes(8))
raw("bad_overlap", json.dumps({"a": entry("U8", [4], 0, 4), "b": entry("U8", [2], 2, 4)}), bytes(4))
raw("bad_hole", json.dumps({"a": entry("U8", [2], 2, 4)}), bytes(4))
raw("bad_overflow", json.dumps({"a": entry("U8", [2**32, 2**32], 0, 1)}), bytes(1))
raw("bad_f4_odd", json.dumps({"a": entry("F4", [3], 0, 2)}), bytes(2))
raw("bad_meta", json.dumps({"__metadata__": {"k": 1}}))
raw("bad_dup", '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\0")
with open(os.path.join(out, "bad_tiny"), "wb") as f:
    f.write(b"\x02\0\0")

try:  # files written by the reference implementation
    import numpy as np
    from safetensors.numpy import save
    with open(os.path.join(out, "ref_numpy"), "wb") as f:
        f.write(save({"x": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([1, 2], dtype=np.int64),
                      "m": np.array([True, False])}, metadata={"format": "np"}))
except ImportError:
    print("safetensors not importable: skipped ref_numpy", file=sys.stderr)
print("corpus:", len(os.listdir(out)), "files in", out)
