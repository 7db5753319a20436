#!/usr/bin/env bash
# Installs everything prismaquant needs to build and test, from Debian packages
# and PyPI. Safe to rerun. Usage: scripts/setup.sh [--ref]
#   (default)  C++ toolchain deps + .venv (light references: numpy, ml_dtypes, kneed, safetensors)
#   --ref      also .venv-ref: torch (CPU), transformers, compressed-tensors, llm-compressor
#              (golden-data generators and the small-model training script)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
debs=(cmake g++ make libboost-dev xtensor-dev libxsimd-dev catch2 libbenchmark-dev
      nlohmann-json3-dev libcli11-dev python3-venv ccache libopenblas-dev openmpi-bin
      clang-14 libclang-rt-14-dev)  # clang: the libFuzzer targets (fuzz/run.sh)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
PY=${PYTHON:-python3}
if [ ! -x "$root/.venv/bin/python" ]; then "$PY" -m venv "$root/.venv"; fi
"$root/.venv/bin/pip" install -q --disable-pip-version-check -r "$root/python/requirements-light.txt"
if [ "${1:-}" = "--ref" ]; then
  if [ ! -x "$root/.venv-ref/bin/python" ]; then "$PY" -m venv "$root/.venv-ref"; fi
  "$root/.venv-ref/bin/pip" install -q --disable-pip-version-check -r "$root/python/requirements-ref.txt"
fi
