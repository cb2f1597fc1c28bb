#!/usr/bin/env bash
# Reproduces the bundled ISBI 2012 membrane model (models/isbi2012-membrane) and its
# validation figures in README.md. Slices 00-24 train, 25-29 validation (never trained on; scored
# during training for the curves only: the model is the last step's weights, not the best).
# Tiles placed 'inside' and 2400 steps: at the 412 tile (3 x 3 windows of 228 px output for a 512
# px slice) uniform placement leaves 44 % of each tile's output outside the slice (README, ISBI).
# usage: experiments/isbi2012/run.sh [DATA_DIR] [WORK_DIR]     (after npm ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/isbi2012_em}
work=${2:-/tmp/isbi}
unet() { node dist/cli/main.js "$@"; }

experiments/isbi2012/split.sh "$data" "$work"
unet train --images "$work/train/images" --labels "$work/train/labels" \
  --val-images "$work/val/images" --val-labels "$work/val/labels" \
  --out "$work/model" --iterations 2400 --seed 1 --filters 16 --tile 412 --tile-sampling inside \
  --optimizer adam --lr 0.001 --validate-every 200 --checkpoint-every 200 --class-names membrane,cell
for tta in no yes; do
  out="$work/pred-tta-$tta"
  extra=(); [ "$tta" = yes ] && extra=(--tta)
  # evaluate pairs <stem>_prob_cell.png with the label <stem>.png (membrane mode).
  unet predict --model "$work/model" --out "$out" --outputs prob --prob-format png16 "${extra[@]}" "$work/val/images" \
    --evaluate "$work/val/labels" --mode membrane --json "$out/metrics.json"
done
# The bundled folder: float16 weights (unet quantize), scored again, and the scores stored in its
# unet.json (evaluation) so that the figures travel with the model.
unet quantize --model "$work/model" --out "$work/model-f16"
unet predict --model "$work/model-f16" --out "$work/pred-f16" --outputs prob --prob-format png16 "$work/val/images" \
  --evaluate "$work/val/labels" --mode membrane --json "$work/pred-f16/metrics.json"
node -e '
const fs = require("node:fs");
const [work] = process.argv.slice(1);
const stack = (p) => { const { warping: _w, ...s } = JSON.parse(fs.readFileSync(`${work}/${p}/metrics.json`, "utf8")).stack; return s; };
const file = `${work}/model-f16/unet.json`;
const m = JSON.parse(fs.readFileSync(file, "utf8"));
m.description = "ISBI 2012 EM membrane segmentation (class 0 membrane, class 1 cell interior); U-Net depth 4, 16 base filters, valid padding, trained on slices 00-24 with unet-ts (experiments/isbi2012/run.sh).";
m.evaluation = {
  data: "ISBI 2012 training slices 25-29 (validation, never trained on)",
  command: "experiments/isbi2012/run.sh",
  without_tta: stack("pred-tta-no"),
  with_tta: stack("pred-tta-yes"),
  float16_weights_without_tta: stack("pred-f16"),
  note: "without_tta and with_tta were measured with the float32 weights the model was trained with; the bundled weights are float16 (unet quantize), scored again in float16_weights_without_tta",
};
fs.writeFileSync(file, JSON.stringify(m, null, 2) + "\n");
console.log(`run.sh: ${file} is the bundled folder (cp it to models/isbi2012-membrane)`);
' "$work"
