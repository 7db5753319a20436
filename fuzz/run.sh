#!/usr/bin/env bash
# Build and run the safetensors header fuzzer (libFuzzer + ASan + UBSan, clang).
#   fuzz/run.sh [SECONDS=600] [extra libFuzzer flags...]
# Builds into $PQ_FUZZ_BUILD (default build-fuzz/), runs on a copy of fuzz/corpus/ (new inputs
# land in build-fuzz/corpus, so the checked-in seeds stay small), one process. Crashes are written
# to build-fuzz/crash-*; the script exits non-zero if one is found.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
secs="${1:-600}"; shift || true
out="${PQ_FUZZ_BUILD:-$root/build-fuzz}"
cxx="${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++)}"
mkdir -p "$out/corpus"
"$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer -I"$root/include" "$here/fuzz_safetensors_header.cpp" -o "$out/fuzz_safetensors_header"
cp -n "$here"/corpus/* "$out/corpus/" 2>/dev/null || true
cd "$out"
exec ./fuzz_safetensors_header -max_total_time="$secs" -print_final_stats=1 \
  -max_len=65536 -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$out/" -dict="$here/safetensors.dict" "$@" corpus
