#!/usr/bin/env bash
# bench_cost once per instruction set this machine runs, in one table: one bench_cost binary per
# x86-64 level (x86-64-v2, -v3, -v4: each built with PRISMAQUANT_MARCH=<level>, run where the
# CPU has the level) or the native build elsewhere (aarch64). Every run measures its own read
# ceiling next to the cost pass (benchmarks/bench_cost.cpp).
# Usage: scripts/bench-isa.sh [BENCHMARK ARGS...]
#   default args: --benchmark_min_time=1 --benchmark_filter='^(read|bare|cost/[0-9a])'
# Env: PQ_BUILD (prefix of the build folders, default build), PQ_JOBS, PQ_LEVELS (default:
#   "x86-64-v2 x86-64-v3 x86-64-v4" on x86-64, "native" elsewhere).
# Writes $PQ_BUILD-isa/bench/<level>.json and prints a table of GB/s (mean / fastest iteration).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh --cross
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
build=${PQ_BUILD:-build}
jobs=${PQ_JOBS:-$(nproc)}
args=("$@")
((${#args[@]})) || args=(--benchmark_min_time=1 "--benchmark_filter=^(read|bare|cost/[0-9a])")
if [ "$(uname -m)" = x86_64 ]; then default_levels="x86-64-v2 x86-64-v3 x86-64-v4"; else default_levels=native; fi
read -r -a levels <<< "${PQ_LEVELS:-$default_levels}"
out="$build-isa/bench"
mkdir -p "$out"
ran=()
for level in "${levels[@]}"; do
  if [ "$level" != native ] && ! scripts/isa-run.sh "$level" true; then continue; fi
  dir="$build-isa/bench-$level"
  march=()
  [ "$level" = native ] || march=(-DPRISMAQUANT_MARCH="$level")
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPRISMAQUANT_CUDA=OFF -DPRISMAQUANT_BUILD_TESTS=OFF \
        -DPRISMAQUANT_BUILD_EXAMPLES=OFF -DPRISMAQUANT_TOOL=OFF "${march[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" --target bench_cost >/dev/null
  echo "== bench_cost, $level ($(uptime | sed 's/.*load/load/'))"
  "$dir/benchmarks/bench_cost" "${args[@]}" --benchmark_out="$out/$level.json" --benchmark_out_format=json
  ran+=("$level")
done

# One table: a row per benchmark, a column per level.
python3 - "$out" "${ran[@]}" <<'EOF'
import json, sys
out, levels = sys.argv[1], sys.argv[2:]
runs = {l: json.load(open(f"{out}/{l}.json")) for l in levels}
names = []
for l in levels:
    for b in runs[l]["benchmarks"]:
        if b["name"] not in names:
            names.append(b["name"])
isa = {l: runs[l]["context"].get("isa", l) for l in levels}
print("| benchmark | " + " | ".join(isa[l] for l in levels) + " |")
print("|---|" + "---|" * len(levels))
for n in names:
    cells = []
    for l in levels:
        b = next((b for b in runs[l]["benchmarks"] if b["name"] == n), None)
        cells.append(f'{b["GB/s"]:.2f} / {b["best_GB/s"]:.2f}' if b else "")
    print(f"| {n} | " + " | ".join(cells) + " |")
print("GB/s of weight read: mean over iterations / fastest iteration")
EOF
