#!/usr/bin/env bash
# Reproduces the bundled nuclei model (models/nuclei-fluo) and the border-weight ablation in
# README.md: the same recipe with w0 = 10 (the paper's weight map) and with w0 = 0 (class
# balancing only), both scored on the held-out test split (experiments/nuclei/split.sh).
# Instances are connected components of the predicted nucleus mask, so separating touching
# nuclei is left to the network.
# usage: experiments/nuclei/run.sh [DATA_DIR] [WORK_DIR] [ITERATIONS]     (after npm ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/dsb2018_nuclei}
work=${2:-/tmp/nuclei}
iterations=${3:-2500}
unet() { node dist/cli/main.js "$@"; }

experiments/nuclei/split.sh "$data" "$work"
for w0 in 10 0; do
  model="$work/model-w0-$w0"
  unet train --images "$work/train/images" --labels "$work/train/labels" --label-mode instances \
    --out "$model" --iterations "$iterations" --seed 1 --filters 16 --tile 316 \
    --optimizer adam --lr 0.001 --w0 "$w0" --sigma 5 --checkpoint-every 500 --class-names background,nucleus
  pred="$work/pred-w0-$w0"
  unet predict --model "$model" --out "$pred" --outputs instances "$work/test/images" \
    --evaluate "$work/test/labels" --mode instances --json "$pred/metrics.json" | tail -3
done
