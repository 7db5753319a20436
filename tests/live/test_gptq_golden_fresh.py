#!/usr/bin/env python3
"""Live check against the REAL llm-compressor GPTQ (quantize_weight): regenerates the golden
files in a temporary folder with python/golden/make_gptq_golden.py and requires them to be
byte-identical to tests/golden/gptq. Needs the heavy .venv-ref (scripts/setup.sh --ref; set
PQ_REF_PYTHON to use another interpreter); exit 77 (skipped) when it is not installed."""
import os
import subprocess
import sys
from pathlib import Path

src = Path(os.environ.get("PQ_SOURCE_DIR", Path(__file__).resolve().parents[2]))
py = os.environ.get("PQ_REF_PYTHON", str(src / ".venv-ref" / "bin" / "python"))
if not Path(py).exists():
    print(f"skipped: no reference python at {py} (scripts/setup.sh --ref)")
    sys.exit(77)
probe = subprocess.run([py, "-c", "import torch, compressed_tensors, llmcompressor"], capture_output=True)
if probe.returncode:
    print("skipped: torch / compressed-tensors / llmcompressor not importable:", probe.stderr.decode()[-300:])
    sys.exit(77)
r = subprocess.run([py, str(src / "python" / "golden" / "make_gptq_golden.py"), "--check",
                    "--out", str(src / "tests" / "golden" / "gptq")])
sys.exit(1 if r.returncode else 0)
