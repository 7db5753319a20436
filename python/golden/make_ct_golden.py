#!/usr/bin/env python3
"""Golden files for prismaquant's compressed-tensors (CT) parity test.

Runs the REAL reference code (compressed-tensors + llm-compressor, from
.venv-ref: scripts/setup.sh --ref) on deterministic bf16 weights and writes

  tests/golden/ct/<set>/input.safetensors          the bf16 weights (shared by all schemes)
  tests/golden/ct/<set>/<SCHEME>/output.safetensors what the reference wrote
  tests/golden/ct/<set>/<SCHEME>/config.json        the config.json it wrote
  tests/golden/ct/manifest.json                     versions, seeds, which path made which file

Reference paths (recorded per output in the manifest):
  * "llmcompressor.model_free_ptq": NVFP4A16, MXFP4, MXFP8, FP8_DYNAMIC (and
    FP8 per-tensor via a custom scheme). This is LLM Compressor's data-free entry point;
    it turns a safetensors folder into a CT checkpoint, fusing the NVFP4 global scale of
    q/k/v, gate/up and w1/w3.
  * "ct-lifecycle+llmc-calibration" for NVFP4 (W4A4): model_free_ptq refuses it
    ("Model Free PTQ cannot calibrate activations") because W4A4 stores a static
    input_global_scale. We run the same converter code for the weights, and calibrate
    the input observer with llm-compressor's own calibration functions on the
    activations saved in <set>/NVFP4/activations.safetensors.

Usage: .venv-ref/bin/python python/golden/make_ct_golden.py [--out tests/golden/ct] [--check]
Deterministic: fixed seeds, CPU only, single thread (two runs give identical files).
--check regenerates into a temporary folder and compares with the committed files.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import torch  # noqa: E402

torch.set_num_threads(1)

BF16 = torch.bfloat16
SEED = 20261127


# --------------------------------------------------------------------------- inputs
def _gen(seed):
    g = torch.Generator().manual_seed(seed)
    return g


def _normal(g, shape, std):
    return (torch.randn(shape, generator=g, dtype=torch.float32) * std).to(BF16)


def _student_t(g, shape, df, std):
    # heavy tails: normal / sqrt(chi2/df)
    z = torch.randn(shape, generator=g, dtype=torch.float64)
    s = torch.zeros(shape, dtype=torch.float64)  # chi2(df) as a sum of squares
    for _ in range(df):
        s += torch.randn(shape, generator=g, dtype=torch.float64) ** 2
    return (z / torch.sqrt(s / df) * std).to(BF16)


def set_random():
    """Random weights, real-model names so CT's fusion applies."""
    g = _gen(SEED)
    L0 = "model.layers.0."
    L1 = "model.layers.1."
    t = {}
    # q/k/v fused: k has the largest amax, so q and v get k's global scale
    t[L0 + "self_attn.q_proj.weight"] = _normal(g, (128, 512), 0.02)
    t[L0 + "self_attn.k_proj.weight"] = _normal(g, (64, 512), 0.05)
    t[L0 + "self_attn.v_proj.weight"] = _normal(g, (64, 512), 0.01)
    t[L0 + "self_attn.o_proj.weight"] = _student_t(g, (512, 128), 3, 0.02)
    # gate/up fused
    t[L0 + "mlp.gate_proj.weight"] = (torch.rand((96, 256), generator=g) * 0.2 - 0.1).to(BF16)
    t[L0 + "mlp.up_proj.weight"] = _normal(g, (96, 256), 0.03)
    t[L0 + "mlp.down_proj.weight"] = _student_t(g, (256, 96), 4, 0.03)
    # MiniMax-style expert (w1/w3 fused), thin slices of [1536,3072] / [3072,1536]
    E = L1 + "block_sparse_moe.experts.0."
    t[E + "w1.weight"] = _normal(g, (8, 3072), 0.015)
    t[E + "w3.weight"] = _normal(g, (8, 3072), 0.04)
    t[E + "w2.weight"] = _normal(g, (32, 1536), 0.02)
    # non-quantized tensors: copied through unchanged
    t["model.norm.weight"] = (1 + _normal(g, (128,), 0.1).float()).to(BF16)
    t[L0 + "input_layernorm.weight"] = (1 + _normal(g, (512,), 0.1).float()).to(BF16)
    return t


def set_odd():
    """Shapes whose input dim is a multiple of 16 but not 32 (NVFP4 / FP8 only)."""
    g = _gen(SEED + 1)
    t = {}
    t["model.layers.0.self_attn.o_proj.weight"] = _normal(g, (96, 160), 0.02)
    t["model.layers.0.mlp.down_proj.weight"] = _student_t(g, (40, 48), 3, 0.05)
    t["model.layers.0.mlp.gate_proj.weight"] = _normal(g, (7, 16), 1.0)
    t["model.layers.0.mlp.up_proj.weight"] = _normal(g, (7, 16), 3.0)
    return t


def _tie_row_fp4(scale):
    # E2M1 midpoints (ties) and exact grid points, times scale; includes +-6 so the
    # block amax is 6*scale.
    v = [6, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5, 0.5]
    return [x * scale for x in v]


def set_adversarial():
    """Hand-made edge cases; every input dim is a multiple of 32 so all formats apply.

    Tensor amax 21 makes the NVFP4 global scale exactly 128 (= bf16(bf16(1/21)*2688)),
    so a block with amax 6 gets fp8 scale 128 and effective scale exactly 1: the
    block's values are exact E2M1 ties. MX: a block with amax 6 gets scale 2^0.
    FP8 channel: a row with amax 448 gets scale 1, so its values are exact e4m3 ties.
    """
    g = _gen(SEED + 2)
    t = {}

    # --- ties -------------------------------------------------------------------
    a = torch.zeros((8, 64), dtype=torch.float32)
    a[0, 0] = 21.0  # tensor amax -> global scale 128
    a[1, :16] = torch.tensor(_tie_row_fp4(1.0))
    a[1, 16:32] = torch.tensor(_tie_row_fp4(0.5))
    a[1, 32:48] = torch.tensor(_tie_row_fp4(2.0))
    a[1, 48:64] = torch.tensor(_tie_row_fp4(0.25))
    # e4m3 ties with scale 1 (row amax 448): 17 (16|18), 19 (18|20), 1.0625, 0.5+2^-5,
    # subnormal ties 1.5*2^-9, 2.5*2^-9, and 464 (the overflow boundary, clamped)
    r = [448, 17, 19, 1.0625, 0.53125, 1.5 * 2**-9, 2.5 * 2**-9, -17, -19, -1.0625,
         2**-10, -(2**-10), 240, 248, 232, 3.25, 13, 26, 52, 104, 208, 416, -416, -13,
         0.0703125, 0.017578125, 0.0, -0.0, 5 * 2**-10, 7 * 2**-11, 9 * 2**-11, 0.5]
    a[2, :32] = torch.tensor(r)
    a[2, 32:] = torch.tensor(r) * -1
    # MX: block amax 6 -> scale 1 (fp4 ties); block amax 448 -> MXFP8 scale 2
    a[3, :32] = torch.tensor(_tie_row_fp4(1.0) + _tie_row_fp4(0.5))
    a[3, 32:] = torch.tensor([448.0] + r[1:])
    # round_to_power_2 boundary: amax mantissa just below / at 1.75
    a[4, 0] = 1.7421875  # 0x3FDF: stays 2^0
    a[4, 32] = 1.75  # 0x3FE0: rounds up to 2^1
    a[4, 1:32] = torch.linspace(-1.7, 1.7, 31)
    a[4, 33:64] = torch.linspace(-1.7, 1.7, 31)
    # negative values that round to zero (keep the sign bit), mixed with amax
    a[5, :16] = torch.tensor([6.0] + [-0.1, -0.2, -0.25, -0.0, 0.1, -0.01, -1e-3] * 2 + [-0.24])
    a[5, 16:] = -1e-4
    a[5, 40] = 3.0
    # rows 6, 7: all zero (zero rows, zero blocks)
    t["model.layers.0.self_attn.q_proj.weight"] = a.to(BF16)

    # k/v share q's global scale; v is all zero (fused with nonzero partners)
    t["model.layers.0.self_attn.k_proj.weight"] = _normal(g, (4, 64), 1.0)
    t["model.layers.0.self_attn.v_proj.weight"] = torch.zeros((4, 64), dtype=BF16)

    # --- magnitudes -------------------------------------------------------------
    m = torch.zeros((6, 64), dtype=torch.float32)
    m[0] = torch.randn(64, generator=g) * 1e-30  # tiny (normal bf16)
    m[1] = torch.randn(64, generator=g) * 1e30  # huge
    m[2, :32] = torch.randn(32, generator=g) * 1e-39  # bf16 subnormals
    m[2, 32:] = torch.randn(32, generator=g) * 1e-3
    m[3] = torch.randn(64, generator=g) * 1e-20
    m[4, :32] = torch.randn(32, generator=g) * 1e20
    m[5] = torch.randn(64, generator=g)
    t["model.layers.0.mlp.down_proj.weight"] = m.to(BF16)

    # tensor of only subnormal / tiny values: NVFP4 global scale falls back to 1.0
    s = (torch.randn((4, 32), generator=g) * 1e-38).to(BF16)
    s[0, 0] = 9.2e-41  # near the smallest bf16 subnormal
    t["model.layers.0.mlp.gate_proj.weight"] = s
    # an all-zero tensor (its gate partner above is all tiny)
    t["model.layers.0.mlp.up_proj.weight"] = torch.zeros((4, 32), dtype=BF16)

    # single outliers in otherwise small random rows
    o = torch.randn((16, 128), generator=g) * 0.01
    o[3, 77] = 40.0
    o[9, 5] = -1000.0
    o[12, 127] = 3e4
    t["model.layers.0.self_attn.o_proj.weight"] = o.to(BF16)

    # the largest finite bf16 values (MX scale rounds up past 2^127)
    h = torch.randn((2, 32), generator=g)
    h[0, 3] = 3.3895313892515355e38
    h[1, 7] = -3.3895313892515355e38
    t["model.layers.2.mlp.down_proj.weight"] = h.to(BF16)

    # NVFP4 operation order: tensor amax 42.75 gives global scale 63; blocks with these
    # amaxes get fp8 scales 0.140625 / 0.0703125, and CT's x / (s / gs) puts
    # 0.00390625 at 1.7499999 / 3.4999998 (codes 1.5 / 3), where exact arithmetic or
    # x * (gs / s) gives the ties 1.75 / 3.5 (codes 2 / 4).
    e = torch.zeros((3, 32), dtype=torch.float32)
    e[0, 0] = 42.75
    e[0, 1:] = torch.randn(31, generator=g)
    e[1, :16] = torch.tensor([0.0128173828125, 0.00390625, 0.0078125, -0.00390625, -0.0078125,
                              0.005859375, 0.01171875, -0.01171875] * 2)
    e[1, 16:] = torch.tensor([0.00634765625, 0.00390625, -0.00390625, 0.0029296875] * 4)
    e[2] = e[1] * -1
    t["model.layers.3.self_attn.o_proj.weight"] = e.to(BF16)
    return t


SETS = {
    "random": (set_random, ["NVFP4A16", "NVFP4", "MXFP4", "MXFP8", "FP8_DYNAMIC", "FP8_TENSOR"]),
    "odd": (set_odd, ["NVFP4A16", "FP8_DYNAMIC"]),
    "adversarial": (set_adversarial, ["NVFP4A16", "NVFP4", "MXFP4", "MXFP8", "FP8_DYNAMIC", "FP8_TENSOR"]),
}


# --------------------------------------------------------------------------- reference runs
def _fp8_tensor_scheme():
    """FP8 per-tensor weights with dynamic per-token activations (the FP8 preset has
    static activations, which model_free_ptq cannot calibrate)."""
    from compressed_tensors.quantization import (
        QuantizationArgs,
        QuantizationScheme,
        QuantizationStrategy,
        QuantizationType,
    )

    return QuantizationScheme(
        targets=["Linear"],
        weights=QuantizationArgs(num_bits=8, type=QuantizationType.FLOAT,
                                 strategy=QuantizationStrategy.TENSOR, symmetric=True,
                                 dynamic=False),
        input_activations=QuantizationArgs(num_bits=8, type=QuantizationType.FLOAT,
                                           strategy=QuantizationStrategy.TOKEN,
                                           symmetric=True, dynamic=True),
    )


def _write_input_folder(tensors, folder):
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with open(folder / "config.json", "w") as f:
        json.dump({"architectures": ["PrismaquantGoldenForCausalLM"], "model_type": "prismaquant_golden"}, f)


def run_model_free(tensors, scheme, out_dir):
    from llmcompressor import model_free_ptq

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        dst = Path(tmp) / "out"
        _write_input_folder(tensors, src)
        sch = _fp8_tensor_scheme() if scheme == "FP8_TENSOR" else scheme
        model_free_ptq(model_stub=str(src), save_directory=str(dst), scheme=sch, ignore=[],
                       max_workers=1, device="cpu")
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dst / "model.safetensors", out_dir / "output.safetensors")
        shutil.copyfile(dst / "config.json", out_dir / "config.json")


def _activations(tensors, seed):
    """One bf16 calibration batch per distinct input width (q/k/v share theirs)."""
    g = _gen(seed)
    acts = {}
    for name, w in sorted(tensors.items()):
        if w.ndim != 2 or name.endswith("norm.weight"):
            continue
        mod = name[: -len(".weight")]
        x = torch.randn((2, 8, w.shape[1]), generator=g) * 2.0
        acts[mod] = x.to(BF16)
    # fused siblings see the same activation (they read the same hidden state)
    for mod in list(acts):
        for a, b in (("k_proj", "q_proj"), ("v_proj", "q_proj"), ("up_proj", "gate_proj"), ("w3", "w1")):
            if mod.endswith(a) and mod[: -len(a)] + b in acts:
                acts[mod] = acts[mod[: -len(a)] + b]
    return acts


def run_nvfp4_w4a4(tensors, out_dir, seed):
    """W4A4: weights exactly as model_free_ptq's converter does them; input_global_scale
    from llm-compressor's calibration functions on the saved activations."""
    from compressed_tensors.compressors import compress_module
    from compressed_tensors.quantization import QuantizationConfig, QuantizationStatus, preset_name_to_scheme
    from safetensors.torch import save_file

    import llmcompressor.entrypoints.model_free.converter as conv
    from llmcompressor.entrypoints.model_free.save_utils import update_config
    from llmcompressor.modifiers.quantization.calibration import (
        calibrate_input_hook,
        freeze_module_quantization,
        initialize_observer,
        observe,
        update_qparams,
        apply_calibration_status,
    )
    from llmcompressor.observers import FusionHandler

    scheme = preset_name_to_scheme("NVFP4", ["Linear"])
    config = QuantizationConfig(config_groups={"NVFP4": scheme},
                                quantization_status=QuantizationStatus.INITIALIZED, ignore=[])
    acts = _activations(tensors, seed)

    # Same steps as ModelFreePtqConverter._process_microscale, plus input calibration
    # (the part oneshot does with forward hooks) before compression.
    tensors = dict(tensors)
    device = torch.device("cpu")
    fused_sets, _ = conv.get_fused_names(list(tensors.keys()))
    fused_index = {n: i for i, s in enumerate(fused_sets) for n in s.values() if n is not None}
    modules = {}
    for module_name, name, sch in conv._match_tensors_to_schemes(tensors, config):
        conv.validate_weight_for_quantization(tensors[name], sch, name)
        module = conv.initialize_quantized_linear(tensors[name], sch, device)
        initialize_observer(module, "weight")
        initialize_observer(module, "input")
        apply_calibration_status(module)
        with torch.no_grad():  # what oneshot's forward pre-hook does on each batch
            calibrate_input_hook(module, (acts[module_name],))
        modules[name] = (module_name, module)
    groups = {}
    for name, (mn, m) in modules.items():
        groups.setdefault(fused_index.get(name, "solo:" + name), []).append((name, mn, m))
    for key, members in groups.items():
        mods = [m for _, _, m in members]
        if len(mods) > 1:
            FusionHandler.fuse([(m.weight_observer, m) for m in mods])
        observe(mods, base_name="weight")
        update_qparams(mods, base_name="weight")
        update_qparams(mods, base_name="input")
        for name, mn, m in members:
            freeze_module_quantization(m)
            compress_module(m)
            del tensors[name]
            for k, v in m.state_dict(prefix=mn + ".").items():
                tensors[k] = v
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / "output.safetensors"))
    save_file({k + ".input": v.clone() for k, v in sorted(acts.items())},
              str(out_dir / "activations.safetensors"))
    with tempfile.TemporaryDirectory() as tmp:
        _write_input_folder({}, Path(tmp))
        os.remove(Path(tmp) / "model.safetensors")
        update_config(tmp, config)
        shutil.copyfile(Path(tmp) / "config.json", out_dir / "config.json")


# --------------------------------------------------------------------------- main
def check_against(golden, sets):
    """Re-run the reference into a temporary folder and compare every input/output file."""
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, __file__, "--out", tmp, "--sets", sets])
        if r.returncode:
            return r.returncode
        fresh = sorted(p.relative_to(tmp) for p in Path(tmp).rglob("*") if p.is_file() and p.name != "manifest.json")
        committed = sorted(p.relative_to(golden) for p in golden.rglob("*")
                           if p.is_file() and p.name != "manifest.json" and p.parts[len(golden.parts)] in sets.split(","))
        bad = [str(p) for p in fresh if not (golden / p).exists() or (golden / p).read_bytes() != (Path(tmp) / p).read_bytes()]
        bad += [f"{p} (not regenerated)" for p in committed if p not in fresh]
        for b in bad:
            print("[golden] differs:", b)
        print(f"[golden] {len(fresh)} files regenerated, {len(bad)} differ")
        return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[2]
    ap.add_argument("--out", default=str(root / "tests" / "golden" / "ct"))
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temporary folder and compare with --out byte for byte "
                         "(exit 1 on any difference); writes nothing under --out")
    args = ap.parse_args()
    if args.check:
        return check_against(Path(args.out), args.sets)

    import compressed_tensors
    import llmcompressor
    from safetensors.torch import save_file

    out = Path(args.out)
    manifest = {
        "generator": "python/golden/make_ct_golden.py",
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "compressed-tensors": compressed_tensors.__version__,
            "llmcompressor": llmcompressor.__version__,
        },
        "seed": SEED,
        "layout": "<set>/input.safetensors (bf16 weights); <set>/<SCHEME>/output.safetensors + config.json "
                  "(+ activations.safetensors for NVFP4 W4A4)",
        "sets": {},
    }
    mpath = out / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text())
        manifest["sets"] = old.get("sets", {})
    for set_name in args.sets.split(","):
        make, schemes = SETS[set_name]
        tensors = make()
        sdir = out / set_name
        if sdir.exists():
            shutil.rmtree(sdir)
        sdir.mkdir(parents=True)
        save_file(tensors, str(sdir / "input.safetensors"), metadata={"format": "pt"})
        from llmcompressor.entrypoints.model_free.microscale import get_fused_names

        fused, _ = get_fused_names(list(tensors))  # LLMC's own fusion matching
        entry = {"input": f"{set_name}/input.safetensors",
                 "tensors": {k: [str(v.dtype), list(v.shape)] for k, v in sorted(tensors.items())},
                 "fused_groups": [[n for n in grp.values()] for grp in fused],
                 "outputs": {}}
        for sch in schemes:
            odir = sdir / sch
            if sch == "NVFP4":
                run_nvfp4_w4a4(tensors, odir, SEED + 100)
                path = "ct-lifecycle+llmc-calibration (model_free converter steps + input observer)"
            else:
                run_model_free(tensors, sch, odir)
                path = "llmcompressor.model_free_ptq(scheme=%s)" % (
                    "custom FP8 per-tensor weights, dynamic per-token inputs" if sch == "FP8_TENSOR" else repr(sch))
            entry["outputs"][sch] = {"dir": f"{set_name}/{sch}", "reference_path": path}
            print(f"[golden] {set_name}/{sch}: {path}", flush=True)
        manifest["sets"][set_name] = entry
    mpath.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"[golden] total size {total / 1e6:.2f} MB under {out}")


if __name__ == "__main__":
    sys.exit(main())
