#!/usr/bin/env bash
# The README's test command: set up dependencies, build everything, run every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
# ccache keyed on paths relative to the checkout, so fresh clones reuse earlier builds
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
build=${PQ_BUILD:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)"

# Every Catch2 test (test_*) and the tool they run, again under AddressSanitizer +
# UndefinedBehaviorSanitizer (+ float-cast-overflow), -O1; examples, benchmarks and CUDA are
# left out (their code is what the tests exercise). PQ_SANITIZE=0 skips this stage;
# PQ_SANITIZE_TESTS=<ctest regex> runs fewer tests.
if [ "${PQ_SANITIZE:-1}" = 1 ]; then
  asan=${build}-asan
  t0=$SECONDS
  cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DPRISMAQUANT_SANITIZE=ON \
        -DPRISMAQUANT_CUDA=OFF -DPRISMAQUANT_BUILD_EXAMPLES=OFF -DPRISMAQUANT_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$asan" -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$asan" --output-on-failure -j"$(nproc)" -R "${PQ_SANITIZE_TESTS:-^test_}"
  echo "sanitizer stage: $((SECONDS - t0)) s"
fi

# The fuzz targets (libFuzzer, clang): every reader of untrusted input, PQ_FUZZ_SECONDS each
# (default 20) from the committed seeds. PQ_FUZZ=0 skips this stage.
if [ "${PQ_FUZZ:-1}" = 1 ]; then
  t0=$SECONDS
  PQ_FUZZ_BUILD="${build}-fuzz" bash fuzz/run.sh "${PQ_FUZZ_SECONDS:-20}"
  echo "fuzz stage: $((SECONDS - t0)) s"
fi

# The whole suite last, so its summary closes the output.
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
