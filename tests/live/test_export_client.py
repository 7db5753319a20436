#!/usr/bin/env python3
"""Live check with the REAL client: transformers 5.17 + compressed-tensors 0.19 load each
golden export (python/export/prismaquant_load.py) and must reproduce tests/golden/export:
check (a) (every decompressed weight equals prismaquant's dequantization: bit for bit where
CT decompresses in float32, equal to ours rounded to bf16 where CT returns bf16), the held-out
losses per domain (1e-5) and logits (1e-4). Runs python/golden/make_export_golden.py --check.
Needs .venv-ref (scripts/setup.sh --ref; PQ_REF_PYTHON for another interpreter): exit 77
(skipped) without it."""
import os
import subprocess
import sys
from pathlib import Path

src = Path(os.environ.get("PQ_SOURCE_DIR", Path(__file__).resolve().parents[2]))
build = Path(os.environ.get("PQ_BUILD_DIR", src / "build"))
py = os.environ.get("PQ_REF_PYTHON", str(src / ".venv-ref" / "bin" / "python"))
if not Path(py).exists():
    print(f"skipped: no reference python at {py} (scripts/setup.sh --ref)")
    sys.exit(77)
probe = subprocess.run([py, "-c", "import torch, transformers, compressed_tensors"], capture_output=True)
if probe.returncode:
    print("skipped: torch / transformers / compressed-tensors not importable:", probe.stderr.decode()[-300:])
    sys.exit(77)
if not (build / "tests" / "export_dequant").exists() or not (build / "prismaquant").exists():
    print("skipped: prismaquant / export_dequant not built")
    sys.exit(77)
r = subprocess.run([py, str(src / "python" / "golden" / "make_export_golden.py"), "--check", "--build", str(build)])
sys.exit(1 if r.returncode else 0)
