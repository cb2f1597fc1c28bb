#!/usr/bin/env bash
# Boundary targets (background / interior / boundary, --targets boundary) against the paper's
# two-class target on the DSB 2018 fluorescence split (split.sh): the three-class net trained with
# the bundled nuclei model's own recipe (its unet.json training.command: 16 filters, 316 tiles,
# 3960 Adam steps at lr 0.001, w0 10, sigma 3, seed 1, the automatic seeded 10 % hold-out, which
# is the same 43 images), tuned on that hold-out at the end of training as every instance model
# is, then the default `unet predict --outputs instances` scored on the held-out test split. The
# two-class side is the bundled model itself (README's nuclei table).
# usage: experiments/nuclei/targets.sh [WORK_DIR] [SEED]     (after npm ci)
#   env DATA: the DSB 2018 folder (../shared/data/dsb2018_nuclei)
#   env TRAIN_ARGS: more unet train flags (e.g. "--lr-schedule poly"); TAG names the model folder
#     (model-3class-TAG-seed-S) when they are given
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/tmp/nuclei-targets}
seed=${2:-1}
data=${DATA:-../shared/data/dsb2018_nuclei}
unet() { node dist/cli/main.js "$@"; }

experiments/nuclei/split.sh "$data" "$work"
tag=${TAG:+$TAG-}
model="$work/model-3class-${tag}seed-$seed"
unet train --images "$work/train/images" --labels "$work/train/labels" --out "$model" --seed "$seed" \
  --label-mode instances --targets boundary --depth 4 --filters 16 --padding valid --tile 316 --channels 1 --normalize dtype \
  --w0 10 --sigma 3 --optimizer adam --lr 0.001 --batch 1 --iterations 3960 --validate-every 396 --checkpoint-every 396 ${TRAIN_ARGS:-}
pred="$work/pred-3class-${tag}seed-$seed"
unet predict --model "$model" --out "$pred" --outputs instances "$work/test/images" \
  --evaluate "$work/test/labels" --mode instances --json "$pred/metrics.json" | tail -3
