"""Live check: our Lawson-Hanson NNLS (include/prismaquant/proxies/nnls.hpp) against
scipy.optimize.nnls on random problems (well- and ill-conditioned, over- and under-determined,
with and without an interior solution)."""
import json
import os
import subprocess
import sys

import numpy as np

try:
    from scipy.optimize import nnls
except ImportError:
    print("scipy not installed: skip")
    sys.exit(77)

exe = os.path.join(os.environ.get("PQ_BUILD_DIR", "build"), "tests", "nnls_dump")
if not os.path.exists(exe):
    print(f"{exe} not built: skip")
    sys.exit(77)

rng = np.random.default_rng(2024)
cases = []
for k in range(400):
    m = int(rng.integers(2, 30)); n = int(rng.integers(1, 12))
    A = rng.normal(size=(m, n))
    if k % 5 == 0:
        A = np.abs(A)                        # gains: non-negative design, like calibrated_gain
    if k % 7 == 0:
        A[:, 0] = A[:, -1] * (1 + 1e-9)      # nearly collinear columns
    x_true = np.maximum(rng.normal(size=n), 0)
    b = A @ x_true + (0 if k % 3 == 0 else rng.normal(scale=0.3, size=m))
    cases.append((A, b))

proc = subprocess.run([exe], input="\n".join(json.dumps({"A": A.tolist(), "b": b.tolist()}) for A, b in cases) + "\n",
                      capture_output=True, text=True, check=True)
got = [json.loads(l) for l in proc.stdout.splitlines()]
assert len(got) == len(cases)
worst = 0.0
bad = 0
for (A, b), g in zip(cases, got):
    x_ref, r_ref = nnls(A, b)
    x = np.array(g["x"])
    assert (x >= 0).all()
    r = np.linalg.norm(A @ x - b)
    # Same optimum: residual norms agree (x may differ only where the problem is degenerate).
    rel = abs(r - r_ref) / max(r_ref, 1e-12)
    worst = max(worst, rel if r_ref > 1e-9 else abs(r - r_ref))
    if rel > 1e-7 and abs(r - r_ref) > 1e-9:
        bad += 1
        if bad < 5:
            print("MISMATCH", A.shape, r, r_ref)
print(f"{len(cases)} NNLS problems vs scipy.optimize.nnls: {bad} mismatches, worst relative residual difference {worst:.2e}")
assert bad == 0
