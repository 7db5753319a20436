#!/usr/bin/env bash
# GPU check for the fused cost pass. Run from the repository root on a
# machine with an H100/H200 (sm_90):  bash benchmarks/device/run.sh
# 1. builds the CUDA test and the timing binary with nvcc alone (no CMake dependencies needed:
#    the kernels and the scalar reference are header-only);
# 2. checks GPU results against the scalar reference (random + adversarial, all formats, all
#    input dtypes) — tests/cuda/test_cost_kernel.cu;
# 3. times the pass for 1, 4 and all formats on MiniMax-M2.7 shapes against a measured
#    device-to-device cudaMemcpy, and prints a table.
# Results go to $OUT (if set) as cost_check.txt and cost_table.md.
set -u
cd "$(dirname "$0")/../.."
OUTDIR="${OUT:-/tmp/pq_device_out}"
mkdir -p "$OUTDIR"
NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
ARCH="${PQ_CUDA_ARCH:-sm_90}"
BUILD="${PQ_DEVICE_BUILD:-/tmp/pq_device_build}"
mkdir -p "$BUILD"
FLAGS=(-std=c++20 -O3 -arch="$ARCH" --expt-relaxed-constexpr -Iinclude -I. -diag-suppress 179)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$OUTDIR/gpu.txt"
"$NVCC" --version | tail -1

echo "== build (nvcc $ARCH)"
"$NVCC" "${FLAGS[@]}" tests/cuda/test_cost_kernel.cu -o "$BUILD/test_cost_kernel" &
P1=$!
"$NVCC" "${FLAGS[@]}" benchmarks/device/bench_cost_device.cu -o "$BUILD/bench_cost_device" &
P2=$!
wait $P1; B1=$?
wait $P2; B2=$?
echo "build: test rc=$B1 bench rc=$B2"

RC=0
if [ $B1 -eq 0 ]; then
  echo "== GPU vs scalar reference"
  "$BUILD/test_cost_kernel" 2>&1 | tee "$OUTDIR/cost_check.txt"
  RC=${PIPESTATUS[0]}
  echo "check rc=$RC"
fi
if [ $B2 -eq 0 ]; then
  echo "== timing"
  "$BUILD/bench_cost_device" 2>&1 | tee "$OUTDIR/cost_table.md"
fi
[ $B1 -eq 0 ] && [ $B2 -eq 0 ] && [ $RC -eq 0 ]
