#!/usr/bin/env bash
# The GPU check of the cost pass, in one call on a machine with an NVIDIA GPU (H100/H200, or
# any the nvcc there targets). From the repository root:
#   bash benchmarks/device/run.sh [PRISMAQUANT_BINARY]
# 1. builds the CUDA tests and the timing binary with nvcc alone for the GPU present (the
#    kernels and the scalar reference are header-only; no other dependency), with the
#    compiler's register / spill report;
# 2. runs the tests: the device codecs against the host codecs and NVIDIA's cuda_fp*.h, and the
#    cost kernels against the scalar reference — every format, every input dtype, job groups;
# 3. times the kernels on MiniMax-M2.7 shapes for 1, 4 and all formats next to a measured
#    device-to-device copy (bench_cost_device.cu);
# 4. if a prismaquant binary built with CUDA is given (or found in build-cuda/), runs
#    `cost --device cuda` against `cost --device cpu` on the shipped model (same costs file up to
#    the order of the double sums; max |error| identical), then times both end to end on one
#    synthesized full-size MiniMax-M2.7 layer (FP8 source, 256 experts), and compares those
#    costs files too.
# Logs and tables go to $OUT (if set, else /tmp/pq_device_out). Exit status: non-zero if any
# step failed. PQ_DEVICE_PREBUILT=DIR takes the three CUDA binaries (and their .ptxas reports)
# from DIR instead of building them there (nvcc on the GPU machine costs its time).
set -u
cd "$(dirname "$0")/../.."
OUTDIR="${OUT:-/tmp/pq_device_out}"
mkdir -p "$OUTDIR"
LOG="$OUTDIR/device_log.txt"
: >"$LOG"
say() { echo "$@" | tee -a "$LOG"; }
NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
CC="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)"
ARCH="${PQ_CUDA_ARCH:-sm_${CC:-90}}"
BUILD="${PQ_DEVICE_BUILD:-/tmp/pq_device_build}"
CLI="${1:-}"
[ -z "$CLI" ] && [ -x build-cuda/prismaquant ] && CLI=build-cuda/prismaquant
mkdir -p "$BUILD"
FLAGS=(-std=c++20 -O3 -arch="$ARCH" -fmad=false --expt-relaxed-constexpr -Iinclude -I. -diag-suppress 179,186 -Xptxas -v)
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1 | tee -a "$LOG"
"$NVCC" --version | tail -1 | tee -a "$LOG"
FAIL=0
step() {  # step NAME SECONDS CMD...: run with a limit, log, record failure
  local name=$1 secs=$2; shift 2
  local t0=$SECONDS
  say "== $name"
  timeout "$secs" "$@" >>"$LOG" 2>&1
  local rc=$?
  say "   $name: rc=$rc, $((SECONDS - t0)) s"
  [ $rc -eq 0 ] || FAIL=1
  return $rc
}

build() {  # build SRC OUT: nvcc, resource report to OUT.ptxas
  "$NVCC" "${FLAGS[@]}" "$1" -o "$2" 2>"$2.ptxas"
}
if [ -n "${PQ_DEVICE_PREBUILT:-}" ]; then
  say "== prebuilt CUDA binaries from $PQ_DEVICE_PREBUILT"
  cp "$PQ_DEVICE_PREBUILT"/test_cost_kernel "$PQ_DEVICE_PREBUILT"/test_codecs_device "$PQ_DEVICE_PREBUILT"/bench_cost_device \
     "$PQ_DEVICE_PREBUILT"/*.ptxas "$BUILD"/
  B1=0; B2=0; B3=0
else
  say "== build ($ARCH)"
  t0=$SECONDS
  build tests/cuda/test_cost_kernel.cu "$BUILD/test_cost_kernel" & P1=$!
  build tests/cuda/test_codecs_device.cu "$BUILD/test_codecs_device" & P2=$!
  build benchmarks/device/bench_cost_device.cu "$BUILD/bench_cost_device" & P3=$!
  wait $P1; B1=$?; wait $P2; B2=$?; wait $P3; B3=$?
  say "   build: cost test rc=$B1, codec test rc=$B2, bench rc=$B3, $((SECONDS - t0)) s"
fi
for f in "$BUILD"/*.ptxas; do
  # registers, spills and stack of each kernel entry, one line each
  grep -E "Compiling entry|Used [0-9]+ registers|spill" "$f" | sed 's/^ptxas info *: //' >"$OUTDIR/$(basename "$f").txt"
done
grep -h -A2 "cost_kernel" "$OUTDIR"/*.ptxas.txt 2>/dev/null | grep -E "registers|spill" | sort | uniq -c | head -20 | tee -a "$LOG"
[ $B1 -eq 0 ] && [ $B2 -eq 0 ] && [ $B3 -eq 0 ] || FAIL=1

[ $B2 -eq 0 ] && step "device codecs vs host and cuda_fp*.h" 120 "$BUILD/test_codecs_device"
[ $B1 -eq 0 ] && step "cost kernels vs scalar reference" 300 "$BUILD/test_cost_kernel"
[ $B3 -eq 0 ] && step "kernel timing" 300 "$BUILD/bench_cost_device"
grep -A8 "^| tensors" "$LOG" >"$OUTDIR/cost_table.md"

if [ -n "$CLI" ] && [ -x "$CLI" ]; then
  M=models/minimax-m2-tiny
  step "cost --device cuda, shipped model, all formats" 120 "$CLI" cost --model $M --formats all --out "$BUILD/tiny_gpu.json" --quiet --device cuda
  step "cost --device cpu, shipped model, all formats" 300 "$CLI" cost --model $M --formats all --out "$BUILD/tiny_cpu.json" --quiet --device cpu
  step "costs file: GPU vs CPU" 120 python3 benchmarks/device/compare_costs.py "$BUILD/tiny_gpu.json" "$BUILD/tiny_cpu.json"
  L=/tmp/pq_layer
  step "synthesize one MiniMax-M2.7 layer" 300 "$CLI" synthesize --out $L --layers 1 --no-embeddings
  du -sh $L | tee -a "$LOG"
  cat $L/*.safetensors >/dev/null  # page cache warm for both runs
  step "layer: cost --device cuda, seed formats" 300 "$CLI" cost --model $L --out "$BUILD/layer_gpu_seed.json" --device cuda --quiet
  step "layer: cost --device cuda, all formats" 300 "$CLI" cost --model $L --formats all --out "$BUILD/layer_gpu_all.json" --device cuda --quiet
  step "layer: cost --device cpu, seed formats" 400 "$CLI" cost --model $L --out "$BUILD/layer_cpu_seed.json" --quiet
  step "layer: cost --device cpu, all formats" 400 "$CLI" cost --model $L --formats all --out "$BUILD/layer_cpu_all.json" --quiet
  step "layer costs: GPU vs CPU (seed formats)" 120 python3 benchmarks/device/compare_costs.py "$BUILD/layer_gpu_seed.json" "$BUILD/layer_cpu_seed.json"
  step "layer costs: GPU vs CPU (all formats)" 120 python3 benchmarks/device/compare_costs.py "$BUILD/layer_gpu_all.json" "$BUILD/layer_cpu_all.json"
  grep -E "^cost:" "$LOG" | tee "$OUTDIR/cli_times.txt"
else
  say "(no prismaquant binary with CUDA given: the CLI steps are skipped)"
fi
say "== result: $([ $FAIL -eq 0 ] && echo passed || echo FAILED)"
cat "$OUTDIR/cost_table.md"
exit $FAIL
