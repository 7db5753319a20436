#!/usr/bin/env python3
"""Which compressed-tensors scheme vLLM picks for every Linear of a prismaquant export,
decided by vLLM's OWN config code on a CPU (no GPU needed for the decision).

vLLM 0.33 (`pip install vllm`, its own venv: it pins its torch). For each decoder layer N:
  - self_attn.qkv_proj (fused; vLLM matches it through its shards q/k/v_proj and requires
    them to agree) and self_attn.o_proj: `CompressedTensorsConfig.get_scheme_dict` +
    `_get_scheme_from_parts` -> the scheme class;
  - the router mlp.gate: must be ignored (get_scheme_dict returns None);
  - the MoE mlp.experts: `CompressedTensorsMoEMethod.get_moe_method` (probes expert 0's
    gate/up/down_proj and raises unless they agree) -> the MoE method class.
Building the scheme objects needs a GPU kernel, so the scheme and MoE-method constructors are
replaced by stubs that record the class vLLM chose; `_check_scheme_supported` is answered
"supported" (a Hopper/Blackwell GPU): on a CPU vLLM would otherwise downgrade FP8 W8A8 to
W8A16. The expected class for each Linear comes from export_report.json's formats.
Also checked: MXFP8 weights carry scale_dtype uint8 (vLLM recognises MXFP8 only so).

Usage: .venv-vllm/bin/python python/export/vllm_scheme_check.py EXPORT_DIR [--quiet]
Exit 0 when every Linear resolves to the intended scheme.
"""
import argparse
import json
import sys
import types
from pathlib import Path

LINEAR = {  # export format -> (vLLM linear scheme class, use_a16)
    "NVFP4": ("CompressedTensorsW4A4Fp4", False), "NVFP4A16": ("CompressedTensorsW4A4Fp4", True),
    "MXFP4_CT": ("CompressedTensorsW4A4Mxfp4", None), "MXFP8_E4M3_CT": ("CompressedTensorsW8A8Mxfp8", None),
    "FP8_E4M3": ("CompressedTensorsW8A8Fp8", None), "FP8_SOURCE": ("CompressedTensorsW8A8Fp8", None),
    "BF16": (None, None),
}
MOE = {
    "NVFP4": "CompressedTensorsW4A4Nvfp4MoEMethod", "NVFP4A16": "CompressedTensorsW4A4Nvfp4MoEMethod",
    "MXFP4_CT": "CompressedTensorsW4A4Mxfp4MoEMethod", "MXFP8_E4M3_CT": "CompressedTensorsW8A8Mxfp8MoEMethod",
    "FP8_E4M3": "CompressedTensorsW8A8Fp8MoEMethod", "FP8_SOURCE": "CompressedTensorsW8A8Fp8MoEMethod",
    "BF16": "UnquantizedFusedMoEMethod",
}


def stub(name):
    class Stub:
        chosen = name

        def __init__(self, *a, **k):
            self.args, self.kwargs = a, k

        @classmethod
        def get_min_capability(cls):
            return 0
    Stub.__name__ = name
    return Stub


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("export_dir")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    d = Path(a.export_dir)
    cfg = json.loads((d / "config.json").read_text())
    report = json.loads((d / "export_report.json").read_text())["linears"]
    qc = cfg["quantization_config"]

    import vllm
    import vllm.model_executor.layers.quantization.compressed_tensors.compressed_tensors as ctm
    import vllm.model_executor.layers.quantization.compressed_tensors.compressed_tensors_moe as moe_pkg
    import vllm.model_executor.layers.quantization.compressed_tensors.compressed_tensors_moe.compressed_tensors_moe as moem
    import importlib
    import pkgutil

    for n in dir(ctm):
        if n.startswith("CompressedTensorsW") or n.startswith("CompressedTensorsWNA"):
            setattr(ctm, n, stub(n))
    for mi in pkgutil.iter_modules(moe_pkg.__path__):
        try:
            mod = importlib.import_module(moe_pkg.__name__ + "." + mi.name)
        except ImportError:  # ROCm-only backends (aiter): never chosen on CUDA
            continue
        for n in dir(mod):
            if n.endswith("MoEMethod") and n not in ("CompressedTensorsMoEMethod", "FusedMoEMethodBase"):
                setattr(mod, n, stub(n))
    CTC = ctm.CompressedTensorsConfig
    CTC._check_scheme_supported = lambda self, *a, **k: True
    conf = CTC.from_config(json.loads(json.dumps(qc)))
    conf.packed_modules_mapping = {"qkv_proj": ["q_proj", "k_proj", "v_proj"]}
    linear = types.SimpleNamespace()
    fails = []

    def check(ok, what):
        if not ok:
            fails.append(what)
        if not a.quiet or not ok:
            print(("ok   " if ok else "FAIL ") + what)

    def linear_scheme(name):
        sd = conf.get_scheme_dict(linear, name)
        if sd is None or sd.get("weights") is None:
            return None, sd
        s = conf._get_scheme_from_parts(weight_quant=sd["weights"], input_quant=sd.get("input_activations"),
                                        output_quant=sd.get("output_activations"), format=sd.get("format"),
                                        layer_name=name)
        return s, sd

    print(f"vLLM {vllm.__version__}: CompressedTensorsConfig.from_config on {d}/config.json")
    counts = {}
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        fmt = {k: report[p + f"self_attn.{k}_proj"]["format"] for k in "qkvo"}
        for mod, want_fmt in (("qkv_proj", fmt["q"]), ("o_proj", fmt["o"])):
            s, sd = linear_scheme(p + "self_attn." + mod)
            want, a16 = LINEAR[want_fmt]
            got = None if s is None else s.chosen
            ok = got == want and (a16 is None or s.kwargs.get("use_a16", False) == a16)
            if want_fmt == "NVFP4":  # W4A4: vLLM needs the stored input_global_scale
                ok = ok and sd["input_activations"] is not None and not sd["input_activations"].dynamic is True
            if mod == "qkv_proj":
                shard = [conf.get_scheme_dict(linear, p + f"self_attn.{x}_proj") for x in "qkv"]
                ok = ok and all(x == shard[0] for x in shard) and len({fmt["q"], fmt["k"], fmt["v"]}) == 1
            extra = "" if s is None else f" use_a16={s.kwargs.get('use_a16', False)}" if want_fmt.startswith("NVFP4") else ""
            check(ok, f"{p}self_attn.{mod}: {want_fmt} -> {got}{extra}")
            counts[str(got)] = counts.get(str(got), 0) + 1
        check(conf.get_scheme_dict(linear, p + "mlp.gate") is None, f"{p}mlp.gate: ignored (router unquantized)")
        experts = sorted({k for k in report if k.startswith(p + "block_sparse_moe.experts.")})
        if not experts:
            continue
        efmt = {report[k]["format"] for k in experts}
        layer = types.SimpleNamespace(ckpt_gate_proj_name="gate_proj", ckpt_up_proj_name="up_proj",
                                      ckpt_down_proj_name="down_proj", moe_config=None)
        try:
            m = moem.CompressedTensorsMoEMethod.get_moe_method(conf, layer, layer_name=p + "mlp.experts")
            got = getattr(m, "chosen", type(m).__name__)
        except Exception as e:  # vLLM refuses the layer
            got = f"error: {e}"
        want = MOE[next(iter(efmt))] if len(efmt) == 1 else "one scheme per MoE layer"
        check(len(efmt) == 1 and got == want, f"{p}mlp.experts ({len(experts)} Linears, {'/'.join(sorted(efmt))}) -> {got}")
        counts[str(got)] = counts.get(str(got), 0) + 1
        for e in range(cfg["num_local_experts"]):
            for proj in ("gate", "up", "down"):
                sd = conf.get_scheme_dict(linear, f"{p}mlp.experts.{e}.{proj}_proj")
                w = None if sd is None else sd.get("weights")
                if w is not None and w.num_bits == 8 and w.group_size == 32:
                    check(str(w.scale_dtype) == "torch.uint8", f"{p}mlp.experts.{e}.{proj}_proj: MXFP8 scale_dtype uint8")
    print("schemes chosen:", json.dumps(counts, sort_keys=True))
    print(f"{len(fails)} failed")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
