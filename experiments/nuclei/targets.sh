#!/usr/bin/env bash
# Boundary targets (background / interior / boundary, --targets boundary) against the paper's
# two-class target on the DSB 2018 fluorescence split: trains the three-class net on the training
# split minus the 44 validation images of experiments/nuclei/tune.sh (every 10th training image),
# tunes its post-processing on those 44, and scores the held-out test split. The two-class side
# is the bundled model tuned by experiments/nuclei/tune.sh. Same recipe otherwise as the bundled
# model: 16 filters, 316 tiles, 2500 Adam steps (lr 0.001), w0 10, sigma 5, seed 1.
# usage: experiments/nuclei/targets.sh [DATA_DIR] [WORK_DIR]     (after npm ci and tune.sh's split)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/dsb2018_nuclei}
work=${2:-/tmp/nuclei}
unet() { node dist/cli/main.js "$@"; }

experiments/nuclei/split.sh "$data" "$work"
mkdir -p "$work/val/images" "$work/val/labels" "$work/train388/images" "$work/train388/labels"
i=0
for f in $(ls "$work/train/images" | sort); do
  part=train388; [ $((i % 10)) -eq 0 ] && part=val
  ln -sf "$(readlink -f "$work/train/images/$f")" "$work/$part/images/$f"
  ln -sf "$(readlink -f "$work/train/labels/$f")" "$work/$part/labels/$f"
  i=$((i + 1))
done
model="$work/model-3class"
unet train --images "$work/train388/images" --labels "$work/train388/labels" --label-mode instances --targets boundary \
  --val-images "$work/val/images" --val-labels "$work/val/labels" \
  --out "$model" --iterations 2500 --seed 1 --filters 16 --tile 316 --optimizer adam --lr 0.001 --w0 10 --sigma 5 --checkpoint-every 500
# (training with --val-images already ends by tuning on them; run again to print the table)
unet tune --model "$model" --images "$work/val/images" --labels "$work/val/labels"
pred="$work/pred-3class"
unet predict --model "$model" --out "$pred" --outputs instances "$work/test/images"
unet evaluate --pred "$pred" --truth "$work/test/labels" --mode instances --json "$pred/metrics.json" | tail -1
