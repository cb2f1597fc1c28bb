#!/usr/bin/env bash
# The paper's recipe (SGD, momentum 0.99, lr 0.001, batch 1) on ISBI 2012 slices 00-24 with the
# same U-Net (depth 4, 16 base filters, tile 412), weighted loss, augmentation, seed and
# iteration budget in unet-ts and in the PyTorch reference (torch_reference.py), run side by side
# with one thread each; both scored by `unet evaluate` on slices 25-29. /usr/bin/time -v gives
# each run's peak memory (the README's training memory figures).
# usage: experiments/isbi2012/compare-torch.sh [DATA_DIR] [WORK_DIR] [ITERATIONS] [SEED]   (after npm ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/isbi2012_em}
work=${2:-/tmp/isbi-sgd}
iterations=${3:-2000}
seed=${4:-1}
unet() { node dist/cli/main.js "$@"; }

experiments/isbi2012/split.sh "$data" "$work"
unet weights --labels "$work/train/labels" --out "$work/weights" --w0 10 --sigma 5 > /dev/null
OMP_NUM_THREADS=1 /usr/bin/time -v -o "$work/ours.time" node dist/cli/main.js train \
  --images "$work/train/images" --labels "$work/train/labels" --out "$work/ours" \
  --iterations "$iterations" --seed "$seed" --filters 16 --tile 412 --optimizer sgd --lr 0.001 --momentum 0.99 \
  --w0 10 --sigma 5 --checkpoint-every 500 --no-holdout --class-names membrane,cell > "$work/ours.log" 2>&1 &
/usr/bin/time -v -o "$work/torch.time" /usr/bin/python3 experiments/isbi2012/torch_reference.py \
  --data "$data" --weights "$work/weights" --out "$work/torch" --filters 16 --tile 412 \
  --iterations "$iterations" --seed "$seed" --optimizer sgd --lr 0.001 --momentum 0.99 --threads 1 > "$work/torch.log" 2>&1 &
wait
unet predict --model "$work/ours" --out "$work/ours-pred" --outputs prob --prob-format png16 "$work/val/images" > /dev/null
echo "unet-ts:"; unet evaluate --pred "$work/ours-pred" --truth "$work/val/labels" --mode membrane --json "$work/ours.json" | tail -2
echo "PyTorch:"; unet evaluate --pred "$work/torch" --truth "$work/val/labels" --mode membrane --pred-boundary high --json "$work/torch.json" | tail -2
for r in ours torch; do
  echo "$r: $(grep -E 'Maximum resident' "$work/$r.time"), $(grep -E 'Elapsed' "$work/$r.time")"
done
