#!/usr/bin/env bash
# Reproduces the bundled ISBI 2012 membrane model (models/isbi2012-membrane) and its
# validation figures in README.md. Slices 00-24 train, 25-29 validation (never trained on).
# usage: experiments/isbi2012/run.sh [DATA_DIR] [WORK_DIR]     (after npm ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/isbi2012_em}
work=${2:-/tmp/isbi}
unet() { node dist/cli/main.js "$@"; }

experiments/isbi2012/split.sh "$data" "$work"
unet train --images "$work/train/images" --labels "$work/train/labels" \
  --val-images "$work/val/images" --val-labels "$work/val/labels" \
  --out "$work/model" --iterations 1200 --seed 1 --filters 16 --tile 412 \
  --optimizer adam --lr 0.001 --validate-every 200 --checkpoint-every 200 --class-names membrane,cell
for tta in no yes; do
  out="$work/pred-tta-$tta"
  extra=(); [ "$tta" = yes ] && extra=(--tta)
  # evaluate pairs <stem>_prob_cell.png with the label <stem>.png (membrane mode).
  unet predict --model "$work/model" --out "$out" --outputs prob --prob-format png16 "${extra[@]}" "$work/val/images" \
    --evaluate "$work/val/labels" --mode membrane --json "$out/metrics.json"
done
