#!/usr/bin/env python3
"""`mpirun -np 2 prismaquant probe --shard auto` + `prismaquant merge` gives the single-process
stats file byte for byte (Debian's Open MPI, installed by scripts/setup.sh). Exit 77 (skip) only
when mpirun is absent."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

build = Path(os.environ["PQ_BUILD_DIR"])
src = Path(os.environ["PQ_SOURCE_DIR"])
exe = build / "prismaquant"
mpirun = shutil.which("mpirun")
if not mpirun:
    print("SKIP: mpirun not found (scripts/setup.sh installs openmpi-bin)")
    sys.exit(77)
model = src / "models" / "minimax-m2-tiny"
common = ["probe", "--model", str(model), "--calib", str(model / "calib_tokens.bin"),
          "--domains", "code,prose,math", "--threads", "1", "--quiet"]
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    subprocess.run([str(exe)] + common + ["--out", str(d / "one.json")], check=True)
    r = subprocess.run([mpirun, "-np", "2", "--oversubscribe", str(exe)] + common +
                       ["--shard", "auto", "--out", str(d / "mpi.json")], env=env, capture_output=True, text=True)
    print(r.stdout, r.stderr)
    if r.returncode != 0:
        sys.exit(f"mpirun failed with {r.returncode}")
    parts = sorted(d.glob("mpi.shard-*-of-2.json"))
    if len(parts) != 2:
        sys.exit(f"expected two shard files, found {[p.name for p in parts]}")
    if "OMPI_COMM_WORLD_RANK" not in r.stdout:
        sys.exit("the shards did not take their rank from Open MPI's environment")
    subprocess.run([str(exe), "merge", *map(str, parts), "--out", str(d / "merged.json")], check=True)
    one = (d / "one.json").read_text().replace("one.safetensors", "SIDE")
    merged = (d / "merged.json").read_text().replace("merged.safetensors", "SIDE")
    if one != merged:
        sys.exit("merged JSON differs from the single-process run")
    if (d / "one.safetensors").read_bytes() != (d / "merged.safetensors").read_bytes():
        sys.exit("merged side file differs from the single-process run")
print("OK: mpirun -np 2 + merge is byte-identical to one process")
