#!/usr/bin/env bash
# Issue 18 §4: 5-fold cross-validation on ISBI 2012 slices 00-24 (`unet train --folds 5`), then
# each fold model alone and the 5 together (`--model A,B,C,D,E`, probabilities averaged on shared
# tiles) scored on slices 25-29, which no fold ever saw. The folds are of the 25 training slices,
# not of all 30: with all 30 in the folds no labelled slice would be left to compare single model
# and ensemble on.
# usage: experiments/isbi2012/folds.sh [DATA_DIR] [WORK_DIR] [ITERATIONS]     (after npm ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/isbi2012_em}
work=${2:-/tmp/isbi-folds}
iterations=${3:-400}
unet() { node dist/cli/main.js "$@"; }

experiments/isbi2012/split.sh "$data" "$work"
unet train --folds 5 --images "$work/train/images" --labels "$work/train/labels" \
  --out "$work/cv" --iterations "$iterations" --seed 1 --filters 16 --tile 412 \
  --optimizer adam --lr 0.001 --validate-every 200 --checkpoint-every 200 --class-names membrane,cell
models=()
for i in 0 1 2 3 4; do
  models+=("$work/cv/fold-$i")
  out="$work/test-fold-$i"
  unet predict --model "$work/cv/fold-$i" --out "$out" --outputs prob --prob-format png16 "$work/val/images" \
    --evaluate "$work/val/labels" --mode membrane --pred-class cell --json "$out/metrics.json" | tail -2
done
out="$work/test-ensemble"
unet predict --model "$(IFS=,; echo "${models[*]}")" --out "$out" --outputs prob --prob-format png16 "$work/val/images" \
  --evaluate "$work/val/labels" --mode membrane --pred-class cell --json "$out/metrics.json" | tail -2
