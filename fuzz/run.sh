#!/usr/bin/env bash
# Build and run the fuzz targets (libFuzzer + ASan + UBSan, clang), one after the other.
#   fuzz/run.sh [SECONDS=600] [TARGET...] [-- extra libFuzzer flags...]
# TARGETs: safetensors_header stats costs problem layer_config prune_manifest (default: all);
# SECONDS is per target. Builds into $PQ_FUZZ_BUILD (default build-fuzz/), runs each on a copy of
# its seed corpus (fuzz/corpus/ for the header, fuzz/corpus_<target>/ for the JSON readers; new
# inputs land in build-fuzz/, so the checked-in seeds stay small), one process. Crashes are
# written to build-fuzz/<target>/crash-*; the script exits non-zero if one is found.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
secs="${1:-600}"; shift || true
targets=(); extra=()
while (($#)); do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  targets+=("$1"); shift
done
((${#targets[@]})) || targets=(safetensors_header stats costs problem layer_config prune_manifest)
out="${PQ_FUZZ_BUILD:-$root/build-fuzz}"
mkdir -p "$out"; out="$(cd "$out" && pwd)"  # absolute: each target runs from its own folder
cxx="${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++)}"
launcher=(); command -v ccache >/dev/null && launcher=(ccache)
for t in "${targets[@]}"; do
  src="$here/fuzz_$t.cpp"
  [ -f "$src" ] || { echo "fuzz/run.sh: no target $t" >&2; exit 2; }
  seeds="$here/corpus_$t"; [ "$t" = safetensors_header ] && seeds="$here/corpus"
  dict=(); [ "$t" = safetensors_header ] && dict=(-dict="$here/safetensors.dict")
  mkdir -p "$out/$t/corpus"
  flags=(-g -O1 -fsanitize=fuzzer,address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer)
  # compile and link apart: ccache caches the compile only
  "${launcher[@]}" "$cxx" -std=c++20 "${flags[@]}" -I"$root/include" -c "$src" -o "$out/fuzz_$t.o"
  "$cxx" "${flags[@]}" "$out/fuzz_$t.o" -o "$out/fuzz_$t"
  cp -n "$seeds"/* "$out/$t/corpus/" 2>/dev/null || true
  echo "== fuzz_$t: ${secs}s"
  (cd "$out/$t" && "$out/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -max_len=65536 -timeout=10 \
     -rss_limit_mb=4096 -artifact_prefix="$out/$t/" "${dict[@]}" "${extra[@]}" corpus)
done
