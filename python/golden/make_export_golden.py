#!/usr/bin/env python3
"""Goldens for `prismaquant export` of the shipped model (models/minimax-m2-tiny), checked by
the REAL client: transformers 5.17 + compressed-tensors 0.19 (.venv-ref) through
python/export/prismaquant_load.py.

Cases (tests/golden/export/<case>/): the layer configs are written here (deterministic):
  nvfp4        every Linear NVFP4, --weight-only (NVFP4A16 everywhere)
  mixed_pruned attention per layer FP8_SOURCE / NVFP4A16 / FP8_E4M3 / MXFP4 (o_proj: BF16,
               MXFP4, MXFP8, NVFP4), experts one format per layer (MXFP8_E4M3, FP8_E4M3, BF16,
               NVFP4), experts 3, 9, 17, 20, 21, 25, 28, 31 dropped in every layer
  experts_mixed  experts differ within a layer (w1/w3 NVFP4, w2 MXFP8; every 4th expert
               FP8_SOURCE or MXFP4), 4 experts dropped per layer, --loader transformers
  attn_w_a     attention in the schemes that quantize activations (NVFP4 W4A4 with the
               calibrated input_global_scale, FP8_BLOCK, MXFP4, MXFP8, FP8_DYNAMIC), experts BF16
  gptq         --rounding gptq+sweep with --calib: attention NVFP4A16 / MXFP4 / NVFP4 (W4A4) /
               MXFP8, o_proj MXFP4 / NVFP4 / FP8_E4M3 / NVFP4A16, experts NVFP4A16 / MXFP4 /
               NVFP4A16 / MXFP8 per layer, experts 5 and 11 dropped in every layer
  gptq_nvfp4   --rounding gptq (no sweep) with --calib, every Linear NVFP4A16, no pruning
The others with --rounding rtn (attn_w_a calibrates only NVFP4's input_global_scale). Per case:
  layer_config.json (+ .prune.json)   the inputs
  export_flags.json  the case's `prismaquant export` options (paths relative to the repository):
                 tests/test_cli_export.cpp and tests/live/test_export_golden.py read them
  files.json     sha256 and size of every file prismaquant wrote (tests/live/test_export_golden.py
                 re-exports and compares: any change in our output fails CI)
  client.json    what the client computed: held-out loss per domain (models/.../eval_tokens.bin,
                 code/prose/math thirds), and check (a): for every Linear, how the weight
                 compressed-tensors decompressed compares with prismaquant's own dequantization
                 (tests/live/export_dequant): "exact" (bit for bit in float32) or "bf16" (CT
                 returns bf16: equal to ours rounded to bf16), with the count of each
  logits.safetensors   the client's float32 logits for eval row 0
  client.json "eval_loss_f32", logits_f32.safetensors: the same client forward on prismaquant's
                 own float32 dequantized weights with compressed-tensors' activation
                 fake-quantization switched off — what `prismaquant eval --act-quant off
                 --model <export>` computes; tests/test_cli_export.cpp compares the two (CT
                 returns some weights in bf16 and fake-quantizes activations of W+A schemes,
                 which the plain client numbers include)
  client.json "eval_loss_f32_act", logits_f32_act.safetensors: the same with the activation
                 fake-quantization on (the stock path quantizes attention inputs; expert inputs
                 are never quantized by the client) — `eval --act-quant on` where the experts'
                 schemes have no input activations (nvfp4, attn_w_a)
  client.json "eval_loss_f32_act_all", logits_f32_act_all.safetensors: where some expert's
                 scheme has input activations (gptq), the same with every expert input
                 fake-quantized as well, by compressed-tensors' forward_quantize with the
                 expert's own scheme (prismaquant_load.load(expert_inputs=True)) — what a
                 server computes, and `eval --act-quant on` must match

Usage: .venv-ref/bin/python python/golden/make_export_golden.py --build build [--check]
--check: recompute into a temporary folder and compare (files.json exactly; losses and logits
within 1e-5; check (a) exactly).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "minimax-m2-tiny"
CALIB = "models/minimax-m2-tiny/calib_tokens.bin"  # export flags name files relative to the repository
LAYERS, EXPERTS = 4, 32
ENTRY = {"NVFP4": (4, 16, "nv_fp"), "NVFP4A16": (4, 16, "nv_fp"), "MXFP4": (4, 32, "mx_fp"),
         "MXFP8_E4M3": (8, 32, "mx_fp"), "FP8_SOURCE": (8, 128, "fp8_e4m3"), "FP8_E4M3": (8, -1, "fp8_e4m3"),
         "BF16": (16, -1, "float")}


def entry(fmt):
    b, g, d = ENTRY[fmt]
    return {"bits": b, "group_size": g, "data_type": d, "fmt": fmt}


def attn(l):
    return f"model.layers.{l}.self_attn."


def expert(l, e, w):
    return f"model.layers.{l}.block_sparse_moe.experts.{e}.{w}"


def prune(dropped):
    m = {}
    for l in range(LAYERS):
        kept = [e for e in range(EXPERTS) if e not in dropped]
        m[f"model.layers.{l}.block_sparse_moe.gate"] = {
            "num_experts_orig": EXPERTS, "num_experts_kept": len(kept), "pruned_expert_ids": dropped,
            "kept_expert_ids": kept, "orig_to_new_eid": {str(e): i for i, e in enumerate(kept)}}
    return m


def per_layer(qkv, o, ex, dropped=()):
    """Layer l's q/k/v in qkv[l], o_proj in o[l], every kept expert in ex[l]."""
    lc = {}
    for l in range(LAYERS):
        for p in "qkv":
            lc[attn(l) + p + "_proj"] = entry(qkv[l])
        lc[attn(l) + "o_proj"] = entry(o[l])
        for e in range(EXPERTS):
            if e in dropped:
                continue
            for w in ("w1", "w2", "w3"):
                lc[expert(l, e, w)] = entry(ex[l])
    return lc


def cases():
    c = {}
    every = ["NVFP4"] * LAYERS
    c["nvfp4"] = (per_layer(every, every, every), None, ["--weight-only"])

    dropped = [3, 9, 17, 20, 21, 25, 28, 31]
    lc = per_layer(qkv=["FP8_SOURCE", "NVFP4A16", "FP8_E4M3", "MXFP4"], o=["BF16", "MXFP4", "MXFP8_E4M3", "NVFP4"],
                   ex=["MXFP8_E4M3", "FP8_E4M3", "BF16", "NVFP4"], dropped=dropped)
    c["mixed_pruned"] = (lc, prune(dropped), ["--weight-only"])

    dropped = [0, 7, 8, 30]
    lc = {}
    for l in range(LAYERS):
        for p in "qkvo":
            lc[attn(l) + p + "_proj"] = entry("NVFP4A16")
        for e in range(EXPERTS):
            if e in dropped:
                continue
            w13 = "FP8_SOURCE" if e % 4 == 1 else "MXFP4" if e % 4 == 2 else "NVFP4"
            lc[expert(l, e, "w1")] = entry(w13)
            lc[expert(l, e, "w3")] = entry(w13)
            lc[expert(l, e, "w2")] = entry("MXFP8_E4M3" if e % 2 else "FP8_SOURCE")
    c["experts_mixed"] = (lc, prune(dropped), ["--weight-only", "--loader", "transformers"])

    # attention in every scheme that quantizes activations (NVFP4 W4A4 with calibrated
    # input_global_scale, FP8_BLOCK, MXFP4, MXFP8, FP8_DYNAMIC), experts BF16: the client
    # fake-quantizes exactly the attention inputs, which `eval --act-quant on` must reproduce
    lc = per_layer(qkv=["NVFP4", "FP8_SOURCE", "MXFP4", "MXFP8_E4M3"], o=["FP8_E4M3", "MXFP4", "MXFP8_E4M3", "NVFP4"],
                   ex=["BF16"] * LAYERS)
    c["attn_w_a"] = (lc, None, ["--calib", CALIB, "--rounding", "rtn"])

    # GPTQ with the scale sweep, on a pruned model: the codes and the scales the sweep chose
    # must be what compressed-tensors decompresses (check (a)); NVFP4 W4A4 attention carries
    # the calibrated input_global_scale, experts get H from the tokens routed to them after
    # pruning
    dropped = [5, 11]
    lc = per_layer(qkv=["NVFP4A16", "MXFP4", "NVFP4", "MXFP8_E4M3"], o=["MXFP4", "NVFP4", "FP8_E4M3", "NVFP4A16"],
                   ex=["NVFP4A16", "MXFP4", "NVFP4A16", "MXFP8_E4M3"], dropped=dropped)
    c["gptq"] = (lc, prune(dropped), ["--calib", CALIB, "--rounding", "gptq+sweep"])
    # plain GPTQ, no pruning: every Linear NVFP4A16
    c["gptq_nvfp4"] = (per_layer(every, every, every), None,
                       ["--weight-only", "--calib", CALIB, "--rounding", "gptq"])
    return c


def sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def write_inputs(case_dir, lc, pm, flags):
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / "layer_config.json").write_text(json.dumps(lc, indent=1, sort_keys=True) + "\n")
    (case_dir / "export_flags.json").write_text(json.dumps(flags) + "\n")
    pmf = case_dir / "layer_config.json.prune.json"
    if pm is not None:
        pmf.write_text(json.dumps(pm, indent=1, sort_keys=True) + "\n")
    elif pmf.exists():
        pmf.unlink()


def export(build, case_dir, flags, out):
    cmd = [str(build / "prismaquant"), "export", "--model", str(MODEL), "--layer-config",
           str(case_dir / "layer_config.json"), "--out", str(out)] + flags
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)


def files_of(out):
    return {p.name: {"sha256": sha(p), "bytes": p.stat().st_size} for p in sorted(out.iterdir())}


def client(build, out, tmp):
    import numpy as np
    import torch
    from safetensors.torch import load_file
    sys.path.insert(0, str(ROOT / "python" / "export"))
    sys.path.insert(0, str(ROOT / "python" / "model"))
    import common
    from prismaquant_load import EXPERT_RE, _input_quantizers, _quantize_expert_inputs, _tensors, expert_weights, load
    torch.set_num_threads(2)
    model = load(out)
    deq = tmp / "dequant.safetensors"
    subprocess.run([str(build / "tests" / "export_dequant"), str(out), str(deq)], check=True, stdout=subprocess.DEVNULL)
    ours = load_file(str(deq))
    report = json.loads((out / "export_report.json").read_text())["linears"]
    ew = expert_weights(out)
    sd = model.state_dict()
    kinds = {}
    bad = []
    for m, w in ours.items():
        mod = m[: -len(".weight")]
        if ".block_sparse_moe.experts." in mod:
            ct = ew[mod]
        else:
            ct = sd[mod + ".weight"]
        fmt = report[mod]["format"]
        if ct.dtype == torch.float32 and torch.equal(ct, w):
            k = "exact"
        elif torch.equal(ct.to(torch.bfloat16).float(), ct.float()) and torch.equal(ct.float(), w.to(torch.bfloat16).float()):
            k = "bf16"
        else:
            k = "differs"
            bad.append(mod)
        kinds.setdefault(fmt, {}).setdefault(k, 0)
        kinds[fmt][k] += 1
    tok = common.read_tokens(MODEL / "eval_tokens.bin").reshape(-1, 256)
    third = tok.shape[0] // 3
    losses = {d: common.eval_loss(model, tok[i * third:(i + 1) * third].reshape(-1))
              for i, d in enumerate(["code", "prose", "math"])}
    losses["all"] = common.eval_loss(model, tok.reshape(-1))
    with torch.no_grad():
        logits = model(torch.from_numpy(tok[:1].astype(np.int64))).logits[0].float().contiguous()
    # (b) the same client forward on prismaquant's own float32 weights, with compressed-tensors'
    # activation fake-quantization off: what `prismaquant eval` of the export computes (it reads
    # the weights in float32 and does not quantize activations), so the two agree to float
    # rounding and any difference is the engine's.
    with torch.no_grad():
        for m, w in ours.items():
            mod = m[: -len(".weight")]
            x = EXPERT_RE.match(mod + ".")
            if x:
                layer, e, p = x.groups()
                ex = model.model.layers[int(layer)].mlp.experts
                inter = ex.gate_up_proj.shape[1] // 2
                if p == "w1":
                    ex.gate_up_proj[int(e), :inter] = w
                elif p == "w3":
                    ex.gate_up_proj[int(e), inter:] = w
                else:
                    ex.down_proj[int(e)] = w
            else:
                model.get_submodule(mod).weight.copy_(w)
        for mod in model.modules():
            mod.quantization_enabled = False
        losses_f32 = {d: common.eval_loss(model, tok[i * third:(i + 1) * third].reshape(-1))
                      for i, d in enumerate(["code", "prose", "math"])}
        losses_f32["all"] = common.eval_loss(model, tok.reshape(-1))
        logits_f32 = model(torch.from_numpy(tok[:1].astype(np.int64))).logits[0].float().contiguous()
        # and with the activation fake-quantization back on (stock path only: attention)
        for mod in model.modules():
            mod.quantization_enabled = True
        losses_act = {d: common.eval_loss(model, tok[i * third:(i + 1) * third].reshape(-1))
                      for i, d in enumerate(["code", "prose", "math"])}
        losses_act["all"] = common.eval_loss(model, tok.reshape(-1))
        logits_act = model(torch.from_numpy(tok[:1].astype(np.int64))).logits[0].float().contiguous()
        # and with the experts' inputs fake-quantized too (compressed-tensors' forward_quantize
        # per expert projection), where an expert's scheme has input activations: what a
        # server computes, and `eval --act-quant on` must match
        res = {"check_a": kinds, "differs": bad, "eval_loss": losses, "eval_loss_f32": losses_f32,
               "eval_loss_f32_act": losses_act}
        logits_all = None
        quantizers = _input_quantizers(out, _tensors(out))
        if quantizers:
            _quantize_expert_inputs(model, quantizers)
            res["eval_loss_f32_act_all"] = {d: common.eval_loss(model, tok[i * third:(i + 1) * third].reshape(-1))
                                            for i, d in enumerate(["code", "prose", "math"])}
            res["eval_loss_f32_act_all"]["all"] = common.eval_loss(model, tok.reshape(-1))
            res["expert_input_quantizers"] = len(quantizers)
            logits_all = model(torch.from_numpy(tok[:1].astype(np.int64))).logits[0].float().contiguous()
    return res, logits, logits_f32, logits_act, logits_all


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--out", default=str(ROOT / "tests" / "golden" / "export"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--cases", nargs="*")
    a = ap.parse_args()
    build, gold = Path(a.build), Path(a.out)
    from safetensors.torch import load_file, save_file
    import torch
    fails = []
    for name, (lc, pm, flags) in cases().items():
        if a.cases and name not in a.cases:
            continue
        if a.check and not (gold / name / "files.json").exists():
            print(name, "skipped: no golden yet")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            case_dir = (tmp / "in") if a.check else gold / name
            write_inputs(case_dir, lc, pm, flags)
            out = tmp / "export"
            export(build, case_dir, flags, out)
            files = files_of(out)
            res, logits, logits_f32, logits_act, logits_all = client(build, out, tmp)
            if res["differs"]:
                fails.append(f"{name}: check (a) differs for {res['differs'][:5]}")
            if not a.check:
                (gold / name / "files.json").write_text(json.dumps(files, indent=1, sort_keys=True) + "\n")
                (gold / name / "client.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
                save_file({"logits": logits}, str(gold / name / "logits.safetensors"), metadata={"format": "pt"})
                save_file({"logits": logits_f32}, str(gold / name / "logits_f32.safetensors"), metadata={"format": "pt"})
                save_file({"logits": logits_act}, str(gold / name / "logits_f32_act.safetensors"), metadata={"format": "pt"})
                if logits_all is not None:
                    save_file({"logits": logits_all}, str(gold / name / "logits_f32_act_all.safetensors"),
                              metadata={"format": "pt"})
                print(name, json.dumps(res["eval_loss"]), json.dumps(res["check_a"]))
                continue
            for f in ("layer_config.json", "layer_config.json.prune.json", "export_flags.json"):
                if (case_dir / f).exists() != (gold / name / f).exists() or (
                        (case_dir / f).exists() and (case_dir / f).read_bytes() != (gold / name / f).read_bytes()):
                    fails.append(f"{name}: {f} differs from the generator's")
            want = json.loads((gold / name / "files.json").read_text())
            if files != want:
                fails.append(f"{name}: exported files differ from files.json")
            wc = json.loads((gold / name / "client.json").read_text())
            if wc["check_a"] != res["check_a"]:
                fails.append(f"{name}: check (a) summary differs")
            for d, v in wc["eval_loss"].items():
                if abs(v - res["eval_loss"][d]) > 1e-5:
                    fails.append(f"{name}: {d} loss {res['eval_loss'][d]} vs golden {v}")
            if ("eval_loss_f32_act_all" in wc) != ("eval_loss_f32_act_all" in res):
                fails.append(f"{name}: expert input quantizers found in one of golden / export only")
            for key in ("eval_loss_f32", "eval_loss_f32_act", "eval_loss_f32_act_all"):
                for d, v in wc.get(key, {}).items():
                    if abs(v - res[key][d]) > 1e-5:
                        fails.append(f"{name}: {d} {key} {res[key][d]} vs golden {v}")
            for f, lg in (("logits.safetensors", logits), ("logits_f32.safetensors", logits_f32),
                          ("logits_f32_act.safetensors", logits_act), ("logits_f32_act_all.safetensors", logits_all)):
                if lg is None:
                    continue
                gl = load_file(str(gold / name / f))["logits"]
                if (gl - lg).abs().max().item() > 1e-4:
                    fails.append(f"{name}: {f} differs by {(gl - lg).abs().max().item()}")
            print(name, "checked")
    for f in fails:
        print("FAIL", f)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
