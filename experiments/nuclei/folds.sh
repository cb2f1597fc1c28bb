#!/usr/bin/env bash
# Issue 18 §4 on nuclei: K-fold cross-validation on the DSB 2018 fluorescence training split
# (`unet train --folds K --label-mode instances`: each fold model is tuned on its own held-out
# fold), then each fold model alone and the K together (`--model A,B,C`, probabilities averaged
# on shared tiles; the ensemble uses fold 0's tuned post-processing) scored on the test split,
# which no fold saw.
# usage: experiments/nuclei/folds.sh [DATA_DIR] [WORK_DIR] [K] [ITERATIONS] [TRAIN_OPTION...]   (after npm ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/dsb2018_nuclei}
work=${2:-/tmp/nuclei-folds}
k=${3:-3}
iterations=${4:-800}
shift $(( $# < 4 ? $# : 4 ))
unet() { node dist/cli/main.js "$@"; }

experiments/nuclei/split.sh "$data" "$work"
unet train --folds "$k" --images "$work/train/images" --labels "$work/train/labels" --label-mode instances \
  --out "$work/cv" --iterations "$iterations" --seed 1 --filters 16 --tile 316 \
  --optimizer adam --lr 0.001 --checkpoint-every 500 --class-names background,nucleus "$@"
models=()
for i in $(seq 0 $((k - 1))); do
  models+=("$work/cv/fold-$i")
  out="$work/test-fold-$i"
  unet predict --model "$work/cv/fold-$i" --out "$out" --outputs instances "$work/test/images" \
    --evaluate "$work/test/labels" --mode instances --json "$out/metrics.json" | tail -2
done
out="$work/test-ensemble"
unet predict --model "$(IFS=,; echo "${models[*]}")" --out "$out" --outputs instances "$work/test/images" \
  --evaluate "$work/test/labels" --mode instances --json "$out/metrics.json" | tail -2
