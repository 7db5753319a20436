#!/usr/bin/env bash
# The README's test command: set up dependencies, build everything, run every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
# ccache keyed on paths relative to the checkout, so fresh clones reuse earlier builds
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
build=${PQ_BUILD:-build}
# CUDA (when nvcc is present; no GPU needed to compile): Hopper and GB10 here, to keep CI's
# build short — the default build compiles sm_90, sm_100, sm_120 and sm_121.
# PQ_CUDA_ARCHS=... chooses others.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="${PQ_CUDA_ARCHS:-90;121}"
cmake --build "$build" -j"$(nproc)"

# Every Catch2 test (test_*) and the tool they run, again under AddressSanitizer +
# UndefinedBehaviorSanitizer (+ float-cast-overflow), -O1; examples, benchmarks and CUDA are
# left out (their code is what the tests exercise). PQ_SANITIZE=0 skips this stage;
# PQ_SANITIZE_TESTS=<ctest regex> runs fewer tests. One whole-model end-to-end test is left out
# by default for CI's time (PQ_SANITIZE_SKIP='' keeps it): the pipeline's runs (probes and
# evals of the shipped model, five runs); every command it runs is sanitized here through its
# own tests (test_cli_probe, test_cli_export, ...), and its option checks and stage failures
# through test_cli_bad_input.
if [ "${PQ_SANITIZE:-1}" = 1 ]; then
  asan=${build}-asan
  skip_re=${PQ_SANITIZE_SKIP-^test_cli_pipeline\$}
  skip=(); [ -n "$skip_re" ] && skip=(-E "$skip_re")
  t0=$SECONDS
  cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DPRISMAQUANT_SANITIZE=ON \
        -DPRISMAQUANT_CUDA=OFF -DPRISMAQUANT_BUILD_EXAMPLES=OFF -DPRISMAQUANT_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$asan" -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$asan" --output-on-failure -j"$(nproc)" -R "${PQ_SANITIZE_TESTS:-^test_}" "${skip[@]}"
  echo "sanitizer stage: $((SECONDS - t0)) s"
fi

# The fuzz targets (libFuzzer, clang): every reader of untrusted input, PQ_FUZZ_SECONDS each
# (default 20) from the committed seeds. PQ_FUZZ=0 skips this stage.
if [ "${PQ_FUZZ:-1}" = 1 ]; then
  t0=$SECONDS
  PQ_FUZZ_BUILD="${build}-fuzz" bash fuzz/run.sh "${PQ_FUZZ_SECONDS:-20}"
  echo "fuzz stage: $((SECONDS - t0)) s"
fi

# The instruction-set matrix (scripts/test-isa.sh): the cost tests built for x86-64-v2, -v3
# and -v4 (v2 also the codec, format, solver and safetensors tests; v4 run where the CPU has
# AVX-512, reported as skipped elsewhere), and the codec, format, cost, solver and safetensors
# tests cross-compiled for aarch64 and run under QEMU; the shipped model's costs file compared
# byte for byte across all of them. PQ_ISA=0 skips the x86-64 levels, PQ_AARCH64=0 the aarch64
# build; each stage's build and test times are printed in the matrix's summary.
isa_stages=()
if [ "${PQ_ISA:-1}" = 1 ]; then isa_stages+=(x86-64-v2 x86-64-v3 x86-64-v4); fi
if [ "${PQ_AARCH64:-1}" = 1 ]; then isa_stages+=(aarch64); fi
if ((${#isa_stages[@]})); then
  t0=$SECONDS
  PQ_BUILD="$build" bash scripts/test-isa.sh "${isa_stages[@]}"
  echo "ISA stage (${isa_stages[*]}): $((SECONDS - t0)) s"
fi

# The whole suite last, so its summary closes the output.
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
