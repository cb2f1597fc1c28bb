#!/usr/bin/env bash
# Issue 14: what a newcomer gets on ISBI 2012. Slices 00-24 train, 25-29 are scored (never trained
# on, never used to choose anything); `unet train` is given only the data, a seed and the class
# names, so it plans from the data (unet plan: tile, w0/sigma, label mode, steps for the default
# 30 min budget from a timing probe; it holds out a seeded 10 % of the training slices and keeps
# the best weights by V_rand on them), then the default `unet predict` (no TTA) and, for
# comparison, `--tta`, scored as run.sh scores the bundled model.
# usage: experiments/isbi2012/newcomer.sh [DATA_DIR] [WORK_DIR] [SEED] [TRAIN_ARGS...]   (after npm ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/isbi2012_em}
work=${2:-/tmp/isbi-newcomer}
seed=${3:-1}
shift $(( $# < 3 ? $# : 3 ))
unet() { node dist/cli/main.js "$@"; }

experiments/isbi2012/split.sh "$data" "$work"
model="$work/model-seed-$seed"
start=$(date +%s)
unet train --images "$work/train/images" --labels "$work/train/labels" --out "$model" --seed "$seed" \
  --class-names membrane,cell "$@"
echo "newcomer.sh: train took $(( $(date +%s) - start )) s"
for tta in no yes; do
  out="$work/pred-seed-$seed-tta-$tta"
  extra=(); [ "$tta" = yes ] && extra=(--tta)
  unet predict --model "$model" --out "$out" --outputs prob --prob-format png16 "${extra[@]}" "$work/val/images" \
    --evaluate "$work/val/labels" --mode membrane --json "$out/metrics.json" | tail -2
done
