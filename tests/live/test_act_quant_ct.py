#!/usr/bin/env python3
"""Live check with the REAL client: every activation scheme `eval --act-quant on` simulates
(engine/activation_quant.hpp) quantizes inputs bit for bit as compressed-tensors 0.19 does
(compute_dynamic_scales_and_zp, then fake_quantize, as its forward does for dynamic input
activations). Inputs: heavy-tailed rows, an all-zero row, a row with one huge value, rows of
tiny and subnormal-scale values. The scheme JSON is CT's own serialization of QuantizationArgs,
as an exported config.json holds it. Needs .venv-ref (scripts/setup.sh --ref; PQ_REF_PYTHON for
another interpreter) and the built act_quant_dump: exit 77 (skipped) without them."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

src = Path(os.environ.get("PQ_SOURCE_DIR", Path(__file__).resolve().parents[2]))
build = Path(os.environ.get("PQ_BUILD_DIR", src / "build"))
tool = build / "tests" / "act_quant_dump"
py = os.environ.get("PQ_REF_PYTHON", str(src / ".venv-ref" / "bin" / "python"))
if not Path(py).exists():
    print(f"skipped: no reference python at {py} (scripts/setup.sh --ref)")
    sys.exit(77)
if not tool.exists():
    print("skipped: act_quant_dump not built")
    sys.exit(77)
if os.environ.get("PQ_ACT_QUANT_CHILD") != "1":
    # re-run this file under the reference interpreter
    env = dict(os.environ, PQ_ACT_QUANT_CHILD="1", PQ_SOURCE_DIR=str(src), PQ_BUILD_DIR=str(build))
    probe = subprocess.run([py, "-c", "import torch, compressed_tensors, safetensors"], capture_output=True)
    if probe.returncode:
        print("skipped: torch / compressed-tensors not importable:", probe.stderr.decode()[-300:])
        sys.exit(77)
    sys.exit(subprocess.run([py, __file__], env=env).returncode)

import json  # noqa: E402

import torch  # noqa: E402
from compressed_tensors.quantization import QuantizationArgs  # noqa: E402
from compressed_tensors.quantization.lifecycle.forward import fake_quantize  # noqa: E402
from compressed_tensors.quantization.utils.helpers import compute_dynamic_scales_and_zp  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

torch.manual_seed(0)
rows, cols = 64, 256
x = (torch.randn(rows, cols) * torch.exp(torch.randn(rows, cols))).float()
x[0] = 0.0                                  # an all-zero token
x[1, 5] = 3.0e4                             # one outlier dominating its groups
x[2] *= 1e-6                                # tiny values
x[3] *= 1e-38                               # subnormal float32 inputs
x[4, :128] = 0.0                            # a zero group next to a non-zero one
global_scale = float(448.0 * 6.0 / x.abs().max())  # how an NVFP4 input_global_scale is set

schemes = {
    "fp8_token": dict(num_bits=8, type="float", strategy="token", dynamic=True, symmetric=True),
    "fp8_group128": dict(num_bits=8, type="float", strategy="group", group_size=128, dynamic=True, symmetric=True),
    "mxfp4": dict(num_bits=4, type="float", strategy="group", group_size=32, dynamic=True, symmetric=True,
                  scale_dtype=torch.uint8),
    "mxfp8": dict(num_bits=8, type="float", strategy="group", group_size=32, dynamic=True, symmetric=True,
                  scale_dtype=torch.uint8),
    "nvfp4": dict(num_bits=4, type="float", strategy="tensor_group", group_size=16, dynamic="local", symmetric=True,
                  scale_dtype=torch.float8_e4m3fn),
}
ref, spec = {}, {}
for name, a in schemes.items():
    args = QuantizationArgs(**a)
    gs = torch.tensor([global_scale], dtype=torch.float32) if name == "nvfp4" else None
    v = x.unsqueeze(0)  # [batch, tokens, hidden] as the client's forward sees it
    scale, zp = compute_dynamic_scales_and_zp(value=v, args=args, module=None, global_scale=gs)
    ref[name] = fake_quantize(x=v, scale=scale, zero_point=zp, args=args, global_scale=gs)[0].contiguous()
    spec[name] = {"input_activations": args.model_dump(mode="json"), "input_global_scale": global_scale}

with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    save_file({"x": x.contiguous()}, str(d / "x.safetensors"))
    (d / "schemes.json").write_text(json.dumps(spec))
    r = subprocess.run([str(tool), str(d / "x.safetensors"), str(d / "schemes.json"), str(d / "ours.safetensors")])
    if r.returncode:
        sys.exit(1)
    ours = load_file(str(d / "ours.safetensors"))

bad = 0
for name in schemes:
    a, b = ours[name], ref[name]
    same = (a == b) | (torch.isnan(a) & torch.isnan(b))
    n = int((~same).sum())
    print(f"{name}: {n} of {a.numel()} elements differ" + ("" if n == 0 else
          f" (first at {tuple(int(i) for i in (~same).nonzero()[0])}: ours {a[~same][0].item()!r}, CT {b[~same][0].item()!r})"))
    bad += n > 0
sys.exit(1 if bad else 0)
