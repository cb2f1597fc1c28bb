#!/usr/bin/env bash
# Tunes the instance post-processing of a nuclei model (default: the bundled models/nuclei-fluo)
# on validation images taken from the training split, then scores the held-out test split with
# the tuned default `unet predict --outputs instances`, beside connected components (the
# post-processing before tuning). The validation images are every 10th training image (sorted by
# id: 44 of 432); the bundled model was trained on them too, so its validation scores are
# optimistic, but the test split is never used for tuning.
# usage: experiments/nuclei/tune.sh [MODEL_DIR] [DATA_DIR] [WORK_DIR]     (after npm ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-models/nuclei-fluo}
data=${2:-../shared/data/dsb2018_nuclei}
work=${3:-/tmp/nuclei}
unet() { node dist/cli/main.js "$@"; }

experiments/nuclei/split.sh "$data" "$work"
mkdir -p "$work/val/images" "$work/val/labels"
i=0
for f in $(ls "$work/train/images" | sort); do
  if [ $((i % 10)) -eq 0 ]; then
    ln -sf "$(readlink -f "$work/train/images/$f")" "$work/val/images/$f"
    ln -sf "$(readlink -f "$work/train/labels/$f")" "$work/val/labels/$f"
  fi
  i=$((i + 1))
done
tuned="$work/model-tuned"
rm -rf "$tuned" && cp -r "$model" "$tuned"
unet tune --model "$tuned" --images "$work/val/images" --labels "$work/val/labels"
for variant in components tuned; do
  pred="$work/pred-$variant"
  extra=(); [ "$variant" = components ] && extra=(--no-watershed --min-size 0)
  unet predict --model "$tuned" --out "$pred" --outputs instances "${extra[@]}" "$work/test/images"
  unet evaluate --pred "$pred" --truth "$work/test/labels" --mode instances --json "$pred/metrics.json" | tail -1
done
