#!/bin/sh
# Test launcher for a build made for one x86-64 micro-architecture level: runs PROGRAM when this
# CPU has the level's instructions, otherwise prints "prismaquant-isa-run: skipped: ..." and
# exits 77 (the tests' SKIP_REGULAR_EXPRESSION: CTest reports the test as skipped, never as
# passed). Usage: scripts/isa-run.sh LEVEL PROGRAM [ARGS...]
# (scripts/test-isa.sh passes it to CMake as the tests' launcher.)
level=$1
shift
case $level in
  x86-64-v2) need="sse4_2 ssse3 popcnt cx16" ;;
  x86-64-v3) need="avx avx2 fma bmi1 bmi2 f16c movbe" ;;
  x86-64-v4) need="avx512f avx512bw avx512cd avx512dq avx512vl" ;;
  *) need="" ;;
esac
flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
for f in $need; do
  case $flags in
    *" $f "*) ;;
    *)
      echo "prismaquant-isa-run: skipped: this CPU has no $f, built for $level"
      exit 77
      ;;
  esac
done
exec "$@"
