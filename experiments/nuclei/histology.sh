#!/usr/bin/env bash
# Issue 14: a second DSB 2018 category, stained histology (histology_color: 107 RGB 256x320
# images), trained and scored the way the fluorescence model is: the same every-5th test split
# (split.sh), `unet train --label-mode instances` with the bundled model's recipe except 3 input
# channels (it holds out a seeded 10 % of the training images and ends by tuning the
# post-processing on them), then the default `unet predict --outputs instances` on the test split.
# usage: experiments/nuclei/histology.sh [DATA_DIR] [WORK_DIR] [ITERATIONS] [SEED]   (after npm ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/dsb2018_nuclei}
work=${2:-/tmp/histology}
iterations=${3:-2500}
seed=${4:-1}
unet() { node dist/cli/main.js "$@"; }

experiments/nuclei/split.sh "$data" "$work" histology_color
model="$work/model-seed-$seed"
unet train --images "$work/train/images" --labels "$work/train/labels" --label-mode instances --channels 3 \
  --out "$model" --iterations "$iterations" --seed "$seed" --filters 16 --tile 316 \
  --optimizer adam --lr 0.001 --checkpoint-every 500 --class-names background,nucleus
pred="$work/pred-seed-$seed"
unet predict --model "$model" --out "$pred" --outputs instances "$work/test/images" \
  --evaluate "$work/test/labels" --mode instances --json "$pred/metrics.json" | tail -3
