"""Golden data for prismaquant's INT formats from the real compressed-tensors packer.

llm-compressor's model_free_ptq turns bf16 weights into CT `pack-quantized` checkpoints for
the W4A16 (int4, g128, symmetric), W4A16_ASYM and W8A16 (int8, g128) presets. For each
output tensor set we also store CT's own dequantization (compressed_tensors
unpack_from_int32 + (q - zp) * scale, in float32) as `<m>.dequant`, so the C++ test can check
that prismaquant reads CT's packing, scales and zero points exactly. (The scale recipe is
not compared: prismaquant's symmetric INT scale is amax/qmax, CT's amax/7.5 — see
docs/formats.md.)

Usage: .venv-ref/bin/python python/golden/make_ct_int_golden.py [--out tests/golden/ct_int]
"""
import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

SHAPES = {"model.layers.0.mlp.down_proj.weight": (8, 256),
          "model.layers.0.mlp.up_proj.weight": (20, 384),
          "model.layers.1.self_attn.o_proj.weight": (3, 128),
          "model.layers.1.self_attn.q_proj.weight": (9, 128)}
SCHEMES = {"W4A16": (4, True), "W4A16_ASYM": (4, False), "W8A16": (8, True)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/golden/ct_int")
    args = ap.parse_args()
    from llmcompressor import model_free_ptq
    import compressed_tensors
    import llmcompressor
    from compressed_tensors.compressors.pack_quantized.helpers import unpack_from_int32

    g = torch.Generator().manual_seed(1234)
    tensors = {}
    for name, shape in SHAPES.items():
        w = torch.randn(shape, generator=g) * 0.02
        w[0, :5] += torch.tensor([0.3, -0.25, 0.0, 0.1, -0.05])  # some structure
        if "up_proj" in name:
            w += 0.01  # shifted rows: asymmetric zero points away from the middle
        tensors[name] = w.to(torch.bfloat16)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "input.safetensors"), metadata={"format": "pt"})
    manifest = {"compressed_tensors": compressed_tensors.__version__,
                "llmcompressor": llmcompressor.__version__, "torch": torch.__version__,
                "reference": "llmcompressor.model_free_ptq + compressed_tensors unpack_from_int32",
                "schemes": {}}
    for scheme, (bits, sym) in SCHEMES.items():
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in", Path(tmp) / "out"
            src.mkdir()
            save_file(tensors, str(src / "model.safetensors"), metadata={"format": "pt"})
            (src / "config.json").write_text(json.dumps({"architectures": ["X"], "model_type": "x"}))
            model_free_ptq(model_stub=str(src), save_directory=str(dst), scheme=scheme, ignore=[],
                           max_workers=1, device="cpu")
            res = load_file(str(dst / "model.safetensors"))
            cfg = json.loads((dst / "config.json").read_text())
        for name in SHAPES:
            m = name[: -len(".weight")]
            shape = torch.Size(res[m + ".weight_shape"].tolist())
            q = unpack_from_int32(res[m + ".weight_packed"], bits, shape).to(torch.float32)
            scale = res[m + ".weight_scale"].to(torch.float32)
            gsz = 128
            s = scale.repeat_interleave(gsz, dim=1)[:, : shape[1]]
            if sym:
                zp = torch.zeros_like(s)
            else:
                zpi = unpack_from_int32(res[m + ".weight_zero_point"], bits,
                                        torch.Size([shape[0], scale.shape[1]]), packed_dim=0)
                zp = zpi.to(torch.float32).repeat_interleave(gsz, dim=1)[:, : shape[1]]
            res[m + ".dequant"] = ((q - zp) * s).contiguous()
        (out / scheme).mkdir(exist_ok=True)
        save_file(res, str(out / scheme / "output.safetensors"), metadata={"format": "pt"})
        manifest["schemes"][scheme] = {"format": cfg["quantization_config"]["format"],
                                       "weights": cfg["quantization_config"]["config_groups"]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n")


if __name__ == "__main__":
    main()
