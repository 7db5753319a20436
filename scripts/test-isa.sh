#!/usr/bin/env bash
# The instruction-set matrix of the CPU cost pass (docs/cost.md, "Instruction sets"): the codec
# and cost tests (on aarch64 also the format, solver and safetensors tests) built and run once
# per ISA, then the shipped model's costs file, written by test_cost_isa at every SIMD width
# each build has, compared byte for byte across all of them.
#   x86-64-v2  SSE4.2, 4 lanes     built and run
#   x86-64-v3  AVX2, 8 lanes       built and run
#   x86-64-v4  AVX-512, 16 lanes   built; run where the CPU has AVX-512, reported skipped elsewhere
#   aarch64    NEON, 4 lanes       cross-compiled (g++-aarch64-linux-gnu), run under qemu-user-static
# Each build compiles only the tests it runs (ccache makes reruns cheap). The native build's
# test_cost_isa ($PQ_BUILD/tests, built by scripts/test.sh) joins the comparison when present.
#
# Usage: scripts/test-isa.sh [STAGE...]     stages: x86-64-v2 x86-64-v3 x86-64-v4 aarch64 (default: all)
# Env:   PQ_BUILD   prefix of the build folders (default: build -> build-isa/<stage>)
#        PQ_JOBS    parallel compile jobs (default: nproc)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh --cross
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
build=${PQ_BUILD:-build}
jobs=${PQ_JOBS:-$(nproc)}
stages=("$@")
((${#stages[@]})) || stages=(x86-64-v2 x86-64-v3 x86-64-v4 aarch64)
out="$build-isa/costs"
case $out in /*) ;; *) out="$root/$out" ;; esac
rm -rf "$out"
mkdir -p "$out"

# The tests: the codecs and the cost pass (SIMD round trips and block params, the fused pass
# against the reference, the kernel's per-thread step, every width against the scalar
# definition) in every build; formats, solvers and safetensors too in the aarch64 build (on
# x86-64 the native build runs them, and they differ between levels only where the compiler's
# code generation does; PQ_ISA_FULL=1 runs them at every level).
cost_tests=(test_codecs_spot test_cost_simd test_cost_fused test_cost_chunk test_cost_isa)
all_tests=("${cost_tests[@]}" test_formats_laws test_formats_reference test_formats_ct_int test_formats_recipes
           test_formats_user test_solvers test_safetensors test_safetensors_corpus)
# Under QEMU (floating point ~100x slower than the hardware) test_solvers leaves out its four
# exhaustive brute-force sweeps (portable integer code; the solvers are checked against brute
# force natively and against the DP reference everywhere).
qemu_solvers_skip='~"solvers vs brute force: small bytes*" ~"solvers vs brute force: large byte counts*" ~"exact with its two-phase core search forced*" ~"exact: many items*"'

declare -A summary
for stage in "${stages[@]}"; do
  dir="$build-isa/$stage"
  args=(-DCMAKE_BUILD_TYPE=Release -DPRISMAQUANT_CUDA=OFF -DPRISMAQUANT_BUILD_EXAMPLES=OFF
        -DPRISMAQUANT_BUILD_BENCHMARKS=OFF)
  case $stage in
    x86-64-v2 | x86-64-v3 | x86-64-v4)
      # the launcher exits 77 (skipped) where this CPU lacks the level
      launcher="$root/scripts/isa-run.sh;$stage"
      args+=(-DPRISMAQUANT_MARCH="$stage" -DCMAKE_CROSSCOMPILING_EMULATOR="$launcher" -DCMAKE_TEST_LAUNCHER="$launcher") ;;
    aarch64)
      args+=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake") ;;
    *) echo "test-isa: unknown stage $stage (x86-64-v2 x86-64-v3 x86-64-v4 aarch64)" >&2; exit 2 ;;
  esac
  tests=("${cost_tests[@]}")
  if [ "$stage" = aarch64 ] || [ "${PQ_ISA_FULL:-0}" = 1 ]; then tests=("${all_tests[@]}"); fi
  regex=$(IFS='|'; echo "^(${tests[*]})\$")
  echo "== ISA $stage: ${tests[*]}"
  t0=$SECONDS
  cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" --target "${tests[@]}"
  t1=$SECONDS
  log="$dir/ctest.log"
  if [ "$stage" = aarch64 ]; then
    # test_solvers with its brute-force sweeps left out (see above), the others through CTest
    eval "set -- $qemu_solvers_skip"
    PQ_COST_ISA_OUT="$out/$stage" ctest --test-dir "$dir" --output-on-failure -j"$jobs" -R "$regex" -E '^test_solvers$' | tee "$log"
    echo "test_solvers under QEMU, without: $*"
    env PQ_EMULATED=1 qemu-aarch64-static -L /usr/aarch64-linux-gnu "$dir/tests/test_solvers" "$@" | tee -a "$log"
  else
    PQ_COST_ISA_OUT="$out/$stage" ctest --test-dir "$dir" --output-on-failure -j"$jobs" -R "$regex" | tee "$log"
  fi
  summary[$stage]="$(grep -E '% tests passed' "$log" | tail -1); $(grep -c '(Skipped)' "$log" || true) skipped"
  if [ "$stage" = aarch64 ]; then summary[$stage]+="; test_solvers: $(grep -E '^All tests passed|^test cases' "$log" | tail -1)"; fi
  summary[$stage]+="; build $((t1 - t0)) s, tests $((SECONDS - t1)) s"
  echo "== ISA $stage: ${summary[$stage]}"
done

if [ -x "$build/tests/test_cost_isa" ]; then
  echo "== ISA native ($build)"
  PQ_COST_ISA_OUT="$out/native" "$build/tests/test_cost_isa" "the shipped model's costs file*"
fi

# One costs file, whatever the ISA: every JSON and every side file identical.
echo "== costs file of models/minimax-m2-tiny, all formats, per ISA and SIMD width"
(cd "$out" && find . -name 'costs.*' | sort | xargs sha256sum)
n_json=$(cd "$out" && find . -name costs.json | xargs -r sha256sum | awk '{print $1}' | sort -u | wc -l)
n_side=$(cd "$out" && find . -name costs.safetensors | xargs -r sha256sum | awk '{print $1}' | sort -u | wc -l)
n_files=$(find "$out" -name costs.json | wc -l)
echo "== ISA summary"
for stage in "${stages[@]}"; do echo "  $stage: ${summary[$stage]}"; done
echo "  costs files: $n_files written, $n_json distinct JSON, $n_side distinct side files"
# test_cost_isa writes them wherever it runs: none written means every stage was skipped, or
# the comparison is broken
all_skipped=1
for stage in "${stages[@]}"; do
  if ! [[ ${summary[$stage]} =~ out\ of\ ([0-9]+)\;\ ([0-9]+)\ skipped ]] || [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ]; then
    all_skipped=0
  fi
done
if [ "$n_files" -eq 0 ] && [ "$all_skipped" = 0 ]; then
  echo "test-isa: no costs file was written" >&2
  exit 1
fi
if [ "$n_json" -gt 1 ] || [ "$n_side" -gt 1 ]; then
  echo "test-isa: the costs files differ between instruction sets" >&2
  exit 1
fi
