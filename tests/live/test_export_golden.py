#!/usr/bin/env python3
"""`prismaquant export` of the shipped model writes exactly the files the real client was
checked on: re-exports every case of tests/golden/export (layer configs made by
python/golden/make_export_golden.py) and compares each file's sha256 with files.json. The
client side (transformers + compressed-tensors loading those very bytes, check (a), losses,
logits) is recorded in client.json / logits.safetensors and re-run by
tests/live/test_export_client.py where .venv-ref exists. So a change in our output fails here,
in CI, until the goldens are regenerated (and re-checked by the real client)."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

src = Path(os.environ.get("PQ_SOURCE_DIR", Path(__file__).resolve().parents[2]))
build = Path(os.environ.get("PQ_BUILD_DIR", src / "build"))
exe = build / "prismaquant"
if not exe.exists():
    print(f"skipped: {exe} not built")
    sys.exit(77)
CASES = ["nvfp4", "mixed_pruned", "experts_mixed", "attn_w_a", "gptq", "gptq_nvfp4"]
fails = []
for case in CASES:
    g = src / "tests" / "golden" / "export" / case
    if not (g / "files.json").exists() or not (g / "export_flags.json").exists():
        fails.append(f"{case}: no files.json / export_flags.json (python/golden/make_export_golden.py)")
        continue
    flags = json.loads((g / "export_flags.json").read_text())  # paths relative to the repository
    want = json.loads((g / "files.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "export"
        r = subprocess.run([str(exe), "export", "--model", str(src / "models" / "minimax-m2-tiny"), "--layer-config",
                            str(g / "layer_config.json"), "--out", str(out)] + flags, capture_output=True, text=True,
                           cwd=src)
        if r.returncode:
            fails.append(f"{case}: export failed: {r.stdout}{r.stderr}")
            continue
        got = {p.name: {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
               for p in sorted(out.iterdir())}
        for name in sorted(set(want) | set(got)):
            if "--calib" in flags and name == "export_report.json" and name in got:
                continue  # calibrated output errors: float sums whose last digits follow the compiler
            if want.get(name) != got.get(name):
                fails.append(f"{case}: {name}: {got.get(name)} != golden {want.get(name)}")
    print(f"{case}: {'ok' if not any(f.startswith(case) for f in fails) else 'FAIL'}")
for f in fails:
    print("FAIL", f)
sys.exit(1 if fails else 0)
