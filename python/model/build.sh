#!/usr/bin/env bash
# Rebuilds models/minimax-m2-tiny from nothing: corpus -> training -> FP8 export -> check.
# Needs .venv-ref (scripts/setup.sh --ref). About 40 minutes on one busy CPU core.
# Usage: python/model/build.sh [work-dir]   (default build-model/, git-ignored)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
W=${1:-build-model}
PY=.venv-ref/bin/python
$PY python/model/prep_data.py --out "$W/data"
$PY python/model/train.py --data "$W/data" --out "$W/train" --steps 1500 --max-minutes 35
$PY python/model/export.py --train-dir "$W/train" --data "$W/data" --out models/minimax-m2-tiny
$PY python/model/verify.py --model models/minimax-m2-tiny --train-dir "$W/train"
