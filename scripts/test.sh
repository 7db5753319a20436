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
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
