#!/usr/bin/env bash
# An ensemble of nuclei models (`unet predict --model A,B,C` averages their probabilities), its
# post-processing tuned on the seeded hold-out the seed-1 models of targets.sh share (the 43
# images in the models' unet.json training.validationImages), then scored on the test split.
# usage: experiments/nuclei/ensemble.sh WORK_DIR MODEL_A,MODEL_B,...     (after targets.sh)
#   WORK_DIR as given to targets.sh (holds train/ and test/); results in WORK_DIR/ensemble
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$1
models=$2
unet() { node dist/cli/main.js "$@"; }
out="$work/ensemble"
mkdir -p "$out/holdout/images" "$out/holdout/labels"
first=${models%%,*}
node -e '
const fs = require("fs"); const [model, work, out] = process.argv.slice(1);
for (const stem of JSON.parse(fs.readFileSync(model + "/unet.json")).training.validationImages)
  for (const k of ["images", "labels"]) fs.copyFileSync(`${work}/train/${k}/${stem}.png`, `${out}/holdout/${k}/${stem}.png`);
' "$first" "$work" "$out"
unet predict --model "$models" --no-tta --out "$out/holdout-prob" --outputs prob "$out/holdout/images" > /dev/null
unet tune --probs "$out/holdout-prob" --labels "$out/holdout/labels" --targets boundary --out "$out/postprocess.json" | tail -3
unet predict --model "$models" --no-tta --out "$out/test-prob" --outputs prob "$work/test/images" > /dev/null
unet instances --probs "$out/test-prob" --postprocess "$out/postprocess.json" --out "$out/test-pred" \
  --evaluate "$work/test/labels" --json "$out/test-metrics.json" | tail -1
