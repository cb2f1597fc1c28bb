#!/usr/bin/env bash
# Issue 14: what a newcomer gets. One DSB 2018 category split as split.sh does (every 5th image
# held out for testing), then `unet train` given only the data and a seed: no architecture,
# optimizer or step flags, so it plans from the data (unet plan: tile, w0/sigma, label mode, steps
# for the default 30 min budget from a timing probe, holds out 10 % and tunes the post-processing
# on it), then the default `unet predict --outputs instances` scored on the test split.
# usage: experiments/nuclei/newcomer.sh [CATEGORY] [WORK_DIR] [SEED] [TRAIN_ARGS...]   (after npm ci)
#   CATEGORY: fluorescence (default) | histology_color | brightfield_gray
#   TRAIN_ARGS: passed on to unet train, e.g. --iterations 3000 to fix the steps instead of probing
#   the machine for the 30 min budget (the plan is still made from the data)
#   env DATA: the DSB 2018 folder (../shared/data/dsb2018_nuclei)
set -euo pipefail
cd "$(dirname "$0")/../.."
category=${1:-fluorescence}
work=${2:-/tmp/newcomer-$category}
seed=${3:-1}
shift $(( $# < 3 ? $# : 3 ))
data=${DATA:-../shared/data/dsb2018_nuclei}
unet() { node dist/cli/main.js "$@"; }

experiments/nuclei/split.sh "$data" "$work" "$category"
model="$work/model-seed-$seed"
start=$(date +%s)
unet train --images "$work/train/images" --labels "$work/train/labels" --out "$model" --seed "$seed" "$@"
echo "newcomer.sh: train took $(( $(date +%s) - start )) s"
pred="$work/pred-seed-$seed"
unet predict --model "$model" --out "$pred" --outputs instances "$work/test/images" \
  --evaluate "$work/test/labels" --mode instances --json "$pred/metrics.json" | tail -3
