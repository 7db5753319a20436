#!/usr/bin/env python3
"""Seed corpora for the JSON readers' fuzz targets (fuzz/json_targets.hpp).

valid_* seeds must be accepted, bad_* seeds rejected (tests/test_fuzz_json_corpus.cpp checks
both in every build). Run from anywhere: python3 fuzz/make_json_corpus.py
"""
import json
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def side(tensors):
    """A safetensors side file of 1-D F64 vectors."""
    hdr, data, off = {}, b"", 0
    for name, v in sorted(tensors.items()):
        b = struct.pack("<%dd" % len(v), *v)
        hdr[name] = {"dtype": "F64", "shape": [len(v)], "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def write(reader, name, content):
    d = os.path.join(here, "corpus_" + reader)
    os.makedirs(d, exist_ok=True)
    if isinstance(content, (dict, list)):
        content = json.dumps(content, indent=1)
    if isinstance(content, str):
        content = content.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(content)


lin = {"shape": [4, 8], "source_dtype": "F8_E4M3", "source_block": [128, 128], "rows_seen": 16,
       "h_trace": 0.5, "fisher_sum": 8.0, "h_row_sum": [1.0, 2.0, 3.0, 2.0], "xtx_diag": [1.0] * 8}
router = {"num_experts": 4, "top_k": 2, "experts_prefix": "m.layers.0.mlp.experts",
          "domains": {"code": {"total_tokens": 10, "count": [5, 5, 6, 4], "sum_g_norm": [1, 2, 3, 4],
                               "sum_g_norm_sq": [1, 2, 3, 4], "sum_g": [1, 1, 1, 1], "sum_norm": [2, 2, 2, 2],
                               "sum_norm_sq": [4, 4, 4, 4], "max_g_norm": [0.5, 0.5, 0.5, 0.5]}}}
stats = {"format": "prismaquant.stats", "version": 1, "linears": {"m.layers.0.q_proj": lin}, "routers": {"m.layers.0.mlp.gate": router}}
write("stats", "valid_basic", stats)
write("stats", "valid_partials", dict(stats, linears={"a": dict(lin, fisher_sum=[8.0, 1e-17])}))
write("stats", "valid_side", json.dumps(dict(stats, tensors="side.safetensors",
      linears={"a": dict(lin, h_row_sum={"tensor": "a.h_row_sum"})})).encode() + b"\n#SIDE#\n" + side({"a.h_row_sum": [1.0, 2.0, 3.0, 2.0]}))
write("stats", "bad_version_float", dict(stats, version=1e300))
write("stats", "bad_format_number", dict(stats, format=7))
write("stats", "bad_num_experts_huge", dict(stats, routers={"r": dict(router, num_experts=4294967297)}))
write("stats", "bad_shape_overflow", dict(stats, linears={"a": dict(lin, shape=[9223372036854775807, 8])}))
write("stats", "bad_overflow_number", '{"format": "prismaquant.stats", "version": 1, "linears": {"a": {"h_trace": 1e309}}}')
write("stats", "bad_count_sum", dict(stats, routers={"r": dict(router, domains={"d": dict(router["domains"]["code"], total_tokens=9223372036854775807, count=[9223372036854775807] * 4)})}))
write("stats", "bad_side_offsets", json.dumps(dict(stats, tensors="side.safetensors", linears={"a": dict(lin, h_row_sum={"tensor": "x"})}))
      .encode() + b"\n#SIDE#\n" + struct.pack("<Q", 73) + b'{"x":{"dtype":"F64","shape":[4],"data_offsets":[8,18446744073709551615]}}')

fc = {"bytes": 36, "n": 32, "sse": 0.5, "max_abs_err": 0.25, "sse_row": [0.125, 0.125, 0.125, 0.125]}
costs = {"format": "prismaquant.costs", "version": 1, "linears": {"m.layers.0.q_proj": {"shape": [4, 8], "formats": {"NVFP4": fc, "BF16": dict(fc, bytes=64, sse=0.0, max_abs_err=0.0, sse_row=[0, 0, 0, 0])}}}}
write("costs", "valid_basic", costs)
write("costs", "valid_act", dict(costs, linears={"a": {"shape": [4, 8], "formats": {"NVFP4": dict(fc, act_sse=0.1)}}}))
write("costs", "bad_n", dict(costs, linears={"a": {"shape": [4, 8], "formats": {"NVFP4": dict(fc, n=33)}}}))
write("costs", "bad_nan_token", '{"format": "prismaquant.costs", "version": 1, "linears": {"a": {"shape": [4, 8], "formats": {"NVFP4": {"bytes": 1, "n": 32, "sse": NaN, "max_abs_err": 0}}}}}')
write("costs", "bad_bytes_float", dict(costs, linears={"a": {"shape": [4, 8], "formats": {"NVFP4": dict(fc, bytes=1e300)}}}))
write("costs", "bad_shape_product", dict(costs, linears={"a": {"shape": [4294967296, 4294967296], "formats": {"NVFP4": fc}}}))

problem = {"items": [{"name": "a", "n_params": 100, "candidates": [{"fmt": "NVFP4", "memory_bytes": 56, "dloss": 0.5},
                                                                    {"fmt": "BF16", "memory_bytes": 200, "dloss": 0.0}]},
                     {"name": "b", "n_params": 64, "candidates": [{"fmt": "NVFP4", "memory_bytes": 36, "dloss": 0.25, "pruned_expert_ids": [1, 3]}]}]}
write("problem", "valid_basic", problem)
write("problem", "bad_overflow", '{"items": [{"name": "a", "n_params": 1e309, "candidates": []}]}')
write("problem", "bad_bytes_sum", {"items": [{"name": n, "n_params": 1, "candidates": [{"fmt": "X", "memory_bytes": 9223372036854775807, "dloss": 0}]} for n in "ab"]})
write("problem", "bad_nan", '{"items": [{"name": "a", "n_params": 1, "candidates": [{"fmt": "X", "memory_bytes": 1, "dloss": NaN}]}]}')
write("problem", "bad_unknown_field", {"items": [], "budget": 3})

lc = {"m.layers.0.q_proj": {"bits": 4, "group_size": 16, "data_type": "nv_fp", "fmt": "NVFP4"},
      "m.layers.0.o_proj": {"bits": 8, "group_size": 128, "data_type": "fp8_e4m3", "fmt": "FP8_SOURCE"},
      "lm_head": {"bits": 16, "group_size": -1, "data_type": "float", "fmt": "BF16"}}
write("layer_config", "valid_ours", lc)
write("layer_config", "valid_reference", {"a": {"bits": 4, "group_size": 16, "data_type": "nv_fp"}, "b": {"bits": 8, "group_size": 32, "data_type": "mx_fp"}})
write("layer_config", "bad_fmt", {"a": {"bits": 4, "group_size": 16, "data_type": "nv_fp", "fmt": "NVFP5"}})
write("layer_config", "bad_bits_float", {"a": {"bits": 1e300, "group_size": 16, "data_type": "nv_fp"}})
write("layer_config", "bad_mismatch", {"a": {"bits": 8, "group_size": 16, "data_type": "nv_fp", "fmt": "NVFP4"}})

pm = {"m.layers.0.mlp.gate": {"num_experts_orig": 4, "num_experts_kept": 2, "pruned_expert_ids": [1, 3],
                              "kept_expert_ids": [0, 2], "orig_to_new_eid": {"0": 0, "2": 1}}}
write("prune_manifest", "valid_basic", pm)
write("prune_manifest", "valid_empty", {})
write("prune_manifest", "bad_renumber", {"r": dict(pm["m.layers.0.mlp.gate"], orig_to_new_eid={"0": 1, "2": 0})})
write("prune_manifest", "bad_huge", {"r": dict(pm["m.layers.0.mlp.gate"], num_experts_orig=1e300)})
write("prune_manifest", "bad_overlap", {"r": dict(pm["m.layers.0.mlp.gate"], pruned_expert_ids=[0, 3])})
