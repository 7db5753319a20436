#!/usr/bin/env python3
"""Load a prismaquant export (compressed-tensors mixed-precision MiniMax-M2 checkpoint) in
transformers 5.17 + compressed-tensors 0.19 on the CPU, correctly.

Stock transformers mishandles MiniMax-M2's packed experts (papers/ct-minimax-experts.md):
NVFP4 experts load with weight_global_scale dropped (no error, weights ~1e4x too large),
FP8-block and MXFP8 experts fail to load, and it applies ONE scheme to all experts of the
model. This helper:
  1. loads everything but the experts through the stock path
     (`from_pretrained(dir, quantization_config=CompressedTensorsConfig(dequantize=True))`)
     from a temporary folder holding the checkpoint's non-expert tensors, byte for byte, and
     its config.json with the expert config_groups removed: CT's own decompression handles
     attention, and transformers' expert conversion (which fails on FP8-block / MXFP8 experts
     even when no config group targets them, because it keys on `weight_scale`) never runs;
  2. decompresses each expert Linear with compressed-tensors' own compressor for ITS scheme
     (`BaseCompressor.get_value_from_registry(format).decompress(state_dict, scheme)`, the
     scheme taken from the config_groups target that matches the expert's vLLM name, first
     match wins as in vLLM) and writes it into the packed parameters
     (mlp.experts.gate_up_proj[e] = [w1; w3], mlp.experts.down_proj[e] = w2).
Returns the model in float32 (`.float()`: CT decompresses to bf16 whatever dtype says).

The stock path fake-quantizes the inputs of attention Linears whose scheme has
input_activations, never those of experts (transformers runs them as packed tensors). With
`expert_inputs=True` each expert's inputs are fake-quantized too, by compressed-tensors' own
`forward_quantize` with that expert projection's scheme (and its stored input_global_scale):
what a server that quantizes activations computes.

    from prismaquant_load import load
    model = load("out/export")        # MiniMaxM2ForCausalLM, eval mode, float32

Also `expert_weights(dir)`: {checkpoint module: decompressed tensor} for every expert, as CT
decompresses it (for checking against prismaquant's own dequantization).
"""
import copy
import json
import re
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open

EXPERT_RE = re.compile(r"^model\.layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.(w1|w2|w3)\.")
PROJ = {"w1": "gate_proj", "w2": "down_proj", "w3": "up_proj"}


def _tensors(d):
    d = Path(d)
    idx = d / "model.safetensors.index.json"
    files = sorted(set(json.loads(idx.read_text())["weight_map"].values())) if idx.exists() else ["model.safetensors"]
    out = {}
    for f in files:
        with safe_open(str(d / f), framework="pt") as h:
            for k in h.keys():
                out[k] = h.get_tensor(k)
    return out


def _matches(target, name):
    if target.startswith("re:"):
        return re.match(target[3:], name) is not None
    return target == name


def _scheme_of(qc, vllm_name):
    """The (format, QuantizationScheme) of the first config group whose target matches."""
    from compressed_tensors.quantization import QuantizationScheme
    for ign in qc.get("ignore", []):
        if _matches(ign, vllm_name):
            return None
    for name, g in qc["config_groups"].items():
        if any(_matches(t, vllm_name) for t in g["targets"]):
            scheme = QuantizationScheme(targets=g["targets"], weights=g.get("weights"),
                                        input_activations=g.get("input_activations"))
            return g["format"], scheme
    return None


def expert_weights(d, tensors=None):
    """{checkpoint module: weight} for every expert Linear, decompressed by CT's compressor."""
    from compressed_tensors.compressors import BaseCompressor
    cfg = json.loads((Path(d) / "config.json").read_text())
    qc = cfg["quantization_config"]
    tensors = tensors if tensors is not None else _tensors(d)
    modules = sorted({k[: k.rfind(".")] for k in tensors if EXPERT_RE.match(k)})
    out = {}
    for m in modules:
        layer, e, w = EXPERT_RE.match(m + ".").groups()
        vname = f"model.layers.{layer}.mlp.experts.{e}.{PROJ[w]}"
        sd = {k[len(m) + 1:]: v for k, v in tensors.items() if k.startswith(m + ".")}
        s = _scheme_of(qc, vname)
        if s is None:  # unquantized (ignored): stored as it is
            out[m] = sd["weight"]
            continue
        fmt, scheme = s
        comp = BaseCompressor.get_value_from_registry(fmt)
        out[m] = comp.decompress(sd, scheme)["weight"]
    return out


def _input_quantizers(d, tensors):
    """{(layer, expert, w1|w2|w3): x -> x fake-quantized as CT's forward does} for every expert
    projection whose scheme has input_activations."""
    from compressed_tensors.quantization import QuantizationStatus
    from compressed_tensors.quantization.lifecycle.forward import forward_quantize
    qc = json.loads((Path(d) / "config.json").read_text())["quantization_config"]
    out = {}
    for m in sorted({k[: k.rfind(".")] for k in tensors if EXPERT_RE.match(k)}):
        layer, e, w = EXPERT_RE.match(m + ".").groups()
        s = _scheme_of(qc, f"model.layers.{layer}.mlp.experts.{e}.{PROJ[w]}")
        if s is None or s[1].input_activations is None:
            continue
        holder = torch.nn.Module()  # what forward_quantize reads off a quantized Linear
        holder.quantization_status = QuantizationStatus.FROZEN
        if m + ".input_global_scale" in tensors:
            holder.input_global_scale = torch.nn.Parameter(tensors[m + ".input_global_scale"].float(), requires_grad=False)
        args = s[1].input_activations
        out[(int(layer), int(e), w)] = lambda x, h=holder, a=args: forward_quantize(h, x, "input", a)
    return out


def _quantize_expert_inputs(model, quantizers):
    """Replace each MoE layer's experts forward by one that quantizes the inputs of its
    projections (w1 and w3 each with its own scheme, then w2's on act(gate) * up)."""
    import types
    ident = lambda x: x  # noqa: E731

    def forward(self, hidden_states, top_k_index, top_k_weights):
        out = torch.zeros_like(hidden_states)
        inter = self.gate_up_proj.shape[1] // 2
        mask = torch.nn.functional.one_hot(top_k_index, num_classes=self.num_experts).permute(2, 1, 0)
        for e in torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()[:, 0].tolist():
            pos, tok = torch.where(mask[e])
            x = hidden_states[tok]
            q = lambda w: quantizers.get((self.pq_layer, e, w), ident)  # noqa: E731
            gate = torch.nn.functional.linear(q("w1")(x), self.gate_up_proj[e, :inter])
            up = torch.nn.functional.linear(q("w3")(x), self.gate_up_proj[e, inter:])
            h = torch.nn.functional.linear(q("w2")(self.act_fn(gate) * up), self.down_proj[e])
            out.index_add_(0, tok, (h * top_k_weights[tok, pos, None]).to(out.dtype))
        return out

    for i, layer in enumerate(model.model.layers):
        ex = layer.mlp.experts
        ex.pq_layer = i
        ex.forward = types.MethodType(forward, ex)


def load(d, threads=None, expert_inputs=False):
    from safetensors.torch import save_file
    from transformers import CompressedTensorsConfig, MiniMaxM2ForCausalLM
    if threads:
        torch.set_num_threads(threads)
    d = Path(d)
    cfg = json.loads((d / "config.json").read_text())
    qc = cfg["quantization_config"]
    # experts are ours: drop their targets (a group left without targets is dropped)
    for name in list(qc["config_groups"]):
        g = qc["config_groups"][name]
        g["targets"] = [t for t in g["targets"] if "experts" not in t]
        if not g["targets"]:
            del qc["config_groups"][name]
    tensors = _tensors(d)
    with tempfile.TemporaryDirectory() as tmp:
        save_file({k: v for k, v in tensors.items() if not EXPERT_RE.match(k)}, str(Path(tmp) / "model.safetensors"),
                  metadata={"format": "pt"})
        if not qc["config_groups"]:
            del cfg["quantization_config"]
        (Path(tmp) / "config.json").write_text(json.dumps(cfg))
        kw = {"quantization_config": CompressedTensorsConfig(dequantize=True)} if qc["config_groups"] else {}
        model = MiniMaxM2ForCausalLM.from_pretrained(tmp, dtype=torch.float32, **kw)
    model = model.float().eval()
    model.set_experts_implementation("eager")
    ew = expert_weights(d, tensors)
    with torch.no_grad():
        for m, wt in ew.items():
            layer, e, w = EXPERT_RE.match(m + ".").groups()
            ex = model.model.layers[int(layer)].mlp.experts
            e = int(e)
            inter = ex.gate_up_proj.shape[1] // 2
            if w == "w1":
                ex.gate_up_proj[e, :inter] = wt.float()
            elif w == "w3":
                ex.gate_up_proj[e, inter:] = wt.float()
            else:
                ex.down_proj[e] = wt.float()
        # router and correction bias exactly as stored (F32)
        for i, layer in enumerate(model.model.layers):
            p = f"model.layers.{i}.block_sparse_moe."
            layer.mlp.gate.weight.copy_(tensors[p + "gate.weight"].float())
            layer.mlp.e_score_correction_bias.copy_(tensors[p + "e_score_correction_bias"].float())
    if expert_inputs:
        _quantize_expert_inputs(model, _input_quantizers(d, tensors))
    return model
