#!/usr/bin/env python3
"""Live check (light .venv): the numpy re-implementation of compressed-tensors' recipe
(python/golden/ct_recipe.py, the executable form of papers/ct-recipe.md) reproduces every
golden byte in tests/golden/ct, and each plausible deviation from it breaks some golden
bytes (python/golden/ct_recipe_ablation.py). Exit 77 (skipped) without numpy/ml_dtypes."""
import os
import subprocess
import sys
from pathlib import Path

src = Path(os.environ.get("PQ_SOURCE_DIR", Path(__file__).resolve().parents[2]))
try:
    import ml_dtypes  # noqa: F401
    import numpy  # noqa: F401
except ImportError as e:
    print("skipped:", e)
    sys.exit(77)
rc = 0
for script in ("ct_recipe.py", "ct_recipe_ablation.py"):
    r = subprocess.run([sys.executable, str(src / "python" / "golden" / script), str(src / "tests" / "golden" / "ct")])
    print(f"{script}: exit {r.returncode}", flush=True)
    rc |= r.returncode
sys.exit(1 if rc else 0)
