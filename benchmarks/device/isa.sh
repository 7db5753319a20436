#!/usr/bin/env bash
# The CPU half of a device session: the instruction-set matrix's x86-64-v4 (AVX-512) tests and
# bench_cost per x86-64 level at 2 cores, on a machine whose CPU has AVX-512 (the GPU machines
# do; the CI machine may not). Binaries are built beforehand on the build machine:
#   cmake -S . -B B/v4 -G Ninja -DCMAKE_BUILD_TYPE=Release -DPRISMAQUANT_CUDA=OFF \
#         -DPRISMAQUANT_TOOL=OFF -DPRISMAQUANT_BUILD_EXAMPLES=OFF -DPRISMAQUANT_MARCH=x86-64-v4
#   cmake --build B/v4 --target test_codecs_spot test_cost_simd test_cost_fused test_cost_chunk \
#         test_cost_isa bench_cost           (and bench_cost alone in B/v3 with x86-64-v3)
# then copied to DIR/v4/ and DIR/v3/ (tests/ and benchmarks/ flattened), with the shared
# libraries they need in DIR/lib/.
# Usage: bash benchmarks/device/isa.sh DIR [SOURCE_DIR_COMPILED_IN]
# The tests find the checkout at the path compiled into them; SOURCE_DIR_COMPILED_IN (the
# build machine's checkout) is linked to this one when it differs.
# Writes $OUT/isa_log.txt (with the costs files' hashes) and $OUT/bench_<level>.json; exit
# status non-zero if a test failed.
set -u
cd "$(dirname "$0")/../.."
DIR=$1
SRC=${2:-}
OUTDIR="${OUT:-/tmp/pq_device_out}"
mkdir -p "$OUTDIR"
LOG="$OUTDIR/isa_log.txt"
: >"$LOG"
export LD_LIBRARY_PATH="$DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -n "$SRC" ] && [ "$SRC" != "$PWD" ] && [ ! -e "$SRC" ]; then
  mkdir -p "$(dirname "$SRC")" && ln -s "$PWD" "$SRC"
fi
FAIL=0
{
  echo "== CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) processors"
  echo "   flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512dq|avx512vl)$' | tr '\n' ' ')"
} | tee -a "$LOG"
costs=/tmp/pq_isa_costs  # only their hashes go to the log (few files come back from a device)
rm -rf "$costs"
mkdir -p "$costs"
for t in test_codecs_spot test_cost_simd test_cost_fused test_cost_chunk test_cost_isa; do
  t0=$SECONDS
  PQ_COST_ISA_OUT="$costs" timeout 120 "$DIR/v4/$t" >>"$LOG" 2>&1
  rc=$?
  echo "== x86-64-v4 $t: rc=$rc, $((SECONDS - t0)) s, $(grep -E '^(All tests passed|test cases)' "$LOG" | tail -1)" | tee -a "$LOG"
  [ $rc -eq 0 ] || FAIL=1
done
echo "== costs files written by test_cost_isa (x86-64-v4 build, each SIMD width)" | tee -a "$LOG"
(cd "$costs" && find . -name 'costs.*' | sort | xargs -r sha256sum) | tee -a "$LOG"
for level in v3 v4; do
  [ -x "$DIR/$level/bench_cost" ] || continue
  echo "== bench_cost x86-64-$level, 2 cores (taskset -c 0,1)" | tee -a "$LOG"
  timeout 150 taskset -c 0,1 "$DIR/$level/bench_cost" --benchmark_min_time=0.5 \
    "--benchmark_filter=^(read|bare|cost/[0-9a])" --benchmark_out="$OUTDIR/bench_$level.json" \
    --benchmark_out_format=json >>"$LOG" 2>&1 || FAIL=1
done
grep -E "^(read|bare|cost)" "$LOG"
echo "== isa result: $([ $FAIL -eq 0 ] && echo passed || echo FAILED)" | tee -a "$LOG"
exit $FAIL
