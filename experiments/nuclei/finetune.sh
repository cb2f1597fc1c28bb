#!/usr/bin/env bash
# Issue 14, fine-tuning: how few annotated images does a user need, from scratch and starting from
# the bundled nuclei model? The new modality is DSB 2018 brightfield_gray (16 gray 1024 x 1024
# images of dark nuclei on a bright background, 44-136 nuclei each), which the bundled model
# (fluorescence: bright nuclei on black) never saw. split.sh holds out every 5th image (4 test
# images, 345 nuclei); the first N training images by id (N in COUNTS) train
#   scratch:  unet train --images --labels --out --seed S --iterations STEPS --tile 316
#   finetune: the same with --init-from nuclei (its architecture, normalisation and tile)
# so both get the same steps on the same tile (the planner's 1024 px tile would make steps ~3x
# dearer); everything else is what `unet plan` derives from those N images (scratch: label mode,
# filters, sigma, optimizer; any architecture flag on the command line would make unet train skip
# the plan and use the paper's recipe) or what the model has (finetune: its architecture,
# normalisation, tile and training recipe). With N >= 2, train holds out 10 % (at least 1 image) and tunes the
# post-processing on it; with N = 1 it cannot, and the default post-processing is used. Then the
# default `unet predict --outputs instances --evaluate` on the 4 test images, and the bundled model
# as it is (N = 0) for reference.
# usage: experiments/nuclei/finetune.sh [WORK] [STEPS] [SEED] [COUNTS]   (after npm ci; npm run build)
#   WORK (/tmp/finetune), STEPS (1000), SEED (1), COUNTS (1,5,12); env DATA (../shared/data/dsb2018_nuclei)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/tmp/finetune}
steps=${2:-1000}
seed=${3:-1}
counts=${4:-1,5,12}
data=${DATA:-../shared/data/dsb2018_nuclei}
unet() { node dist/cli/main.js "$@"; }
mkdir -p "$work"
log="$work/commands.log"
run() { echo "+ $*" >> "$log"; "$@"; }
echo "# finetune.sh work=$work steps=$steps seed=$seed counts=$counts data=$data $(date -u +%FT%TZ) $(git rev-parse --short HEAD)" >> "$log"

run experiments/nuclei/split.sh "$data" "$work/split" brightfield_gray
test="$work/split/test"
evaluate() { # MODEL OUT
  run unet predict --model "$1" --out "$2" --outputs instances "$test/images" \
    --evaluate "$test/labels" --mode instances --json "$2/metrics.json" > "$2.txt" 2>&1
}
mkdir -p "$work/zero-shot"
evaluate nuclei "$work/zero-shot/pred"
for n in ${counts//,/ }; do
  sub="$work/train-$n"
  rm -rf "$sub" && mkdir -p "$sub/images" "$sub/labels"
  for f in $(ls "$work/split/train/images" | sort | head -n "$n"); do
    ln -sf "$(readlink -f "$work/split/train/images/$f")" "$sub/images/$f"
    ln -sf "$(readlink -f "$work/split/train/labels/$f")" "$sub/labels/$f"
  done
  for arm in scratch finetune; do
    out="$work/$arm-$n"
    rm -rf "$out" && mkdir -p "$out"
    if [ "$arm" = scratch ]; then
      run unet plan --images "$sub/images" --labels "$sub/labels" --out "$out/plan.json" --no-probe > "$out/plan.txt" 2>&1
      extra=(--plan "$out/plan.json" --tile 316)
    else
      # --init-from continues the model's own recipe (instances, Adam 1e-3, sigma 3). Before it did
      # (the first run of this script, at 7c5a807) fine-tuning got the paper's SGD 0.99, which 500
      # steps barely moved: F1 0.
      extra=(--init-from nuclei)
    fi
    run unet train --images "$sub/images" --labels "$sub/labels" --out "$out/model" --seed "$seed" \
      --iterations "$steps" "${extra[@]}" > "$out/train.log" 2>&1
    evaluate "$out/model" "$out/pred"
  done
done

/usr/bin/python3 - "$work" "$counts" "$steps" <<'EOF'
import json, sys
work, counts, steps = sys.argv[1], [int(c) for c in sys.argv[2].split(',')], sys.argv[3]
def row(name, n, path):
    m = json.load(open(f'{path}/metrics.json'))['mean']
    print(f'{name:10} {n:>6} {m["f1"]:8.3f} {m["precision"]:10.3f} {m["recall"]:8.3f} {m["dsbAP"]:8.3f}')
print(f'\nbrightfield_gray test split (4 images); {steps} steps per trained model')
print(f'{"":10} {"images":>6} {"F1@0.5":>8} {"precision":>10} {"recall":>8} {"DSB mAP":>8}')
row('bundled', 0, f'{work}/zero-shot/pred')
for n in counts:
    for arm in ('scratch', 'finetune'):
        row(arm, n, f'{work}/{arm}-{n}/pred')
EOF
