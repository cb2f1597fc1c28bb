#!/usr/bin/env bash
# Model size against accuracy: the bundled model's recipe (run.sh: 1200 Adam steps of 412 tiles,
# seed 1) with other base filter counts, scored on slices 25-29 without TTA. Prints seconds per
# step (from the model's training summary) and the validation scores.
# usage: experiments/isbi2012/filters.sh [DATA_DIR] [WORK_DIR] [FILTERS...]   (default: 32)
#   env SEED: the training seed (1); ITERATIONS: training steps (1200, run.sh's); TRAIN_ARGS: more unet train flags (e.g. "--tile-sampling inside"),
#   which also name the run's folders
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/isbi2012_em}
work=${2:-/tmp/isbi-filters}
shift 2 || true
filters=("${@:-32}")
seed=${SEED:-1}
iterations=${ITERATIONS:-1200}
read -r -a train_args <<< "${TRAIN_ARGS:-}"
tag=$(echo "${TRAIN_ARGS:-}" | tr -c 'a-zA-Z0-9\n' '_')
[ "$iterations" = 1200 ] || tag="$tag-it$iterations"
unet() { node dist/cli/main.js "$@"; }

experiments/isbi2012/split.sh "$data" "$work"
for f in "${filters[@]}"; do
  model="$work/model-f$f-seed-$seed$tag"
  unet train --images "$work/train/images" --labels "$work/train/labels" \
    --out "$model" --iterations "$iterations" --seed "$seed" --filters "$f" --tile 412 \
    --optimizer adam --lr 0.001 --checkpoint-every 400 --no-holdout --class-names membrane,cell ${train_args[@]+"${train_args[@]}"} > "$work/train-f$f-seed-$seed$tag.log" 2>&1
  out="$work/pred-f$f-seed-$seed$tag"
  unet predict --model "$model" --out "$out" --outputs prob --prob-format png16 "$work/val/images" > /dev/null
  echo "filters $f, seed $seed, $iterations steps${TRAIN_ARGS:+, $TRAIN_ARGS}: $(node -e "const t=require('$model/unet.json').training; console.log((t.seconds/t.iterations).toFixed(3)+' s/step')")"
  unet evaluate --pred "$out" --truth "$work/val/labels" --mode membrane --json "$out/metrics.json" | tail -2 | head -1
done
