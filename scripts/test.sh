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

# The parsers of untrusted input (safetensors headers, checkpoints, configs, stats/costs files,
# the commands that read them) again under AddressSanitizer + UndefinedBehaviorSanitizer.
# PQ_SANITIZE=0 skips this stage.
if [ "${PQ_SANITIZE:-1}" = 1 ]; then
  asan=${build}-asan
  cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DPRISMAQUANT_SANITIZE=ON -DPRISMAQUANT_CUDA=OFF \
        -DPRISMAQUANT_BUILD_EXAMPLES=OFF -DPRISMAQUANT_BUILD_BENCHMARKS=OFF
  sanitized=(test_safetensors test_safetensors_corpus test_model_profile test_stats test_cli_inspect test_cli_cost
             test_cli_solve test_cli_quantize test_codecs_spot test_stats_v2)
  cmake --build "$asan" -j"$(nproc)" --target prismaquant_cli "${sanitized[@]}"
  regex=$(IFS='|'; echo "^(${sanitized[*]})\$")
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$asan" --output-on-failure -j"$(nproc)" -R "$regex"
fi

# The whole suite last, so its summary closes the output.
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
