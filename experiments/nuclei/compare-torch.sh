#!/usr/bin/env bash
# unet-ts against the PyTorch reference (experiments/nuclei/torch_reference.py) on the DSB 2018
# fluorescence split (experiments/nuclei/split.sh), same recipe and budget, several seeds.
# Recipe (README "Nuclei with touching objects"): instance labels trained as TARGETS, by default
# boundary (three classes background / interior / boundary, what `unet train --label-mode
# instances` plans and the bundled nuclei model uses; separated: the paper's two classes with a
# one-pixel background line cut between touching nuclei), the border weight map (w0 10, sigma
# SIGMA, class balancing), elastic + geometric + gray-value augmentation, depth 4, 16 filters,
# tile 316, Adam lr 0.001 under LR_SCHEDULE (poly: decayed to near 0 over the run, what unet train
# plans for instance labels since 7fb9a0f), batch 1, ITERATIONS steps, TILE_SAMPLING tile placement,
# THREADS threads.
# Per seed S:
#   - validation images: the seeded 10% hold-out `unet train --label-mode instances` makes with
#     seed S (holdoutNames, src/train/holdout.ts); both frameworks train on the rest, the same images
#     (unet-ts is given them as --val-images so it holds out nothing else);
#   - targets and weights: both train on what unet-ts computes (the PyTorch side reads them from
#     `unet weights --label-mode instances --write-targets`);
#   - post-processing: both frameworks' probability maps (float32 TIFF) go through the same path:
#     `unet tune --probs` on the validation maps (watershed / seed level / min size by F1@0.5),
#     then `unet instances --evaluate` on the test split (F1@0.5 and DSB mAP, as unet evaluate).
# unet train runs with --validate-every 0 (the PyTorch side does not validate either); it still
# tunes its own unet.json on the validation images at the end, which this comparison does not use,
# test-time augmentation included: both frameworks' maps come from one pass per tile (--no-tta;
# runs before 2026-12-04 predicted with the model's tuned TTA choice, 8 passes when it paid).
# Train seconds are each framework's own training-loop time (unet.json training.seconds,
# summary.json seconds); wall seconds also count loading, predicting the validation and test
# images, and for unet-ts its end-of-training tuning.
# usage: experiments/nuclei/compare-torch.sh [SEEDS] [ITERATIONS] [WORK]     (after npm ci)
#   SEEDS comma-separated (1,2,3), ITERATIONS (2500), WORK (/tmp/nuclei-torch)
#   env: DATA (../shared/data/dsb2018_nuclei), THREADS (2), TARGETS (boundary | separated),
#        SIGMA (3: what unet plan chooses for these nuclei; README's two-class table used 5),
#        TILE_SAMPLING (uniform | clamped | inside; default: unet train's), LIMIT=N: only the first
#        N training and N test images (toy runs that check the pipeline), LR_SCHEDULE (poly | constant;
#        runs before 7fb9a0f trained at the constant rate)
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-1,2,3}
iterations=${2:-2500}
work=${3:-/tmp/nuclei-torch}
data=${DATA:-../shared/data/dsb2018_nuclei}
threads=${THREADS:-2}
limit=${LIMIT:-}
targets=${TARGETS:-boundary}
sigma=${SIGMA:-3}
schedule=${LR_SCHEDULE:-poly}
sampling=${TILE_SAMPLING:-$(node -e "import('./dist/train/train.js').then((m) => console.log(m.TRAIN_DEFAULTS.tileSampling))")}
case "$targets" in
  boundary) classes=3; class_names=background,interior,boundary ;;
  separated) classes=2; class_names=background,nucleus ;;
  *) echo "compare-torch.sh: TARGETS must be boundary or separated, got '$targets'" >&2; exit 2 ;;
esac
unet() { node dist/cli/main.js "$@"; }
mkdir -p "$work"
# Every command goes to the log as it runs.
log="$work/commands.log"
run() { echo "+ $*" >> "$log"; "$@"; }
echo "# compare-torch.sh seeds=$seeds iterations=$iterations work=$work data=$data threads=$threads targets=$targets sigma=$sigma schedule=$schedule sampling=$sampling limit=${limit:-all} $(date -u +%FT%TZ)" >> "$log"

run experiments/nuclei/split.sh "$data" "$work/split"
if [ -n "$limit" ]; then
  # The first LIMIT images (by id) of each part, as links.
  for part in train test; do
    mkdir -p "$work/limited/$part/images" "$work/limited/$part/labels"
    for f in $(ls "$work/split/$part/images" | sort | head -n "$limit"); do
      ln -sf "$(readlink -f "$work/split/$part/images/$f")" "$work/limited/$part/images/$f"
      ln -sf "$(readlink -f "$work/split/$part/labels/$f")" "$work/limited/$part/labels/$f"
    done
  done
  split="$work/limited"
else
  split="$work/split"
fi
train="$split/train"
test="$split/test"

# Targets and weights exactly as unet train computes them for these options.
run unet weights --labels "$train/labels" --out "$work/targets" --label-mode instances --targets "$targets" --w0 10 --sigma "$sigma" --write-targets 2> "$work/weights.log"

recipe=(--iterations "$iterations" --filters 16 --tile 316 --optimizer adam --lr 0.001 --lr-schedule "$schedule" --tile-sampling "$sampling")
for seed in ${seeds//,/ }; do
  s="$work/seed-$seed"
  rm -rf "$s" && mkdir -p "$s"
  # The names unet train holds out for this seed (its default fraction), from the library itself.
  run node -e "import('./dist/train/holdout.js').then(({ holdoutNames, DEFAULT_HOLDOUT_FRACTION }) => {
    const names = require('node:fs').readdirSync(process.argv[1]).filter((n) => n.endsWith('.png')).map((n) => n.slice(0, -4));
    for (const n of [...holdoutNames(names, DEFAULT_HOLDOUT_FRACTION, Number(process.argv[2]))].sort()) console.log(n);
  })" "$train/images" "$seed" > "$s/val.txt"
  for part in fit val; do mkdir -p "$s/$part/images" "$s/$part/labels"; done
  for f in $(ls "$train/images" | sort); do
    part=fit; grep -qx "${f%.png}" "$s/val.txt" && part=val
    ln -sf "$(readlink -f "$train/images/$f")" "$s/$part/images/$f"
    ln -sf "$(readlink -f "$train/labels/$f")" "$s/$part/labels/$f"
  done
  echo "seed $seed: $(ls "$s/fit/images" | wc -l) training, $(ls "$s/val/images" | wc -l) validation, $(ls "$test/images" | wc -l) test images"

  # unet-ts (wall time: training and predicting the validation and test images, as the PyTorch command does)
  start=$(date +%s.%N)
  run env OMP_NUM_THREADS="$threads" node dist/cli/main.js train --images "$s/fit/images" --labels "$s/fit/labels" \
    --val-images "$s/val/images" --val-labels "$s/val/labels" --validate-every 0 --label-mode instances --targets "$targets" \
    --out "$s/ours" --seed "$seed" "${recipe[@]}" --w0 10 --sigma "$sigma" --checkpoint-every 500 \
    --class-names "$class_names" > "$s/ours.log" 2>&1
  for part in val test; do
    dir="$s/val/images"; [ "$part" = test ] && dir="$test/images"
    run env OMP_NUM_THREADS="$threads" node dist/cli/main.js predict --model "$s/ours" --out "$s/ours-prob/$part" \
      --outputs prob --prob-format tif --no-tta "$dir" > /dev/null 2>> "$s/ours.log"
  done
  echo "$(date +%s.%N) - $start" | bc > "$s/ours.wall"

  # PyTorch
  start=$(date +%s.%N)
  run /usr/bin/python3 experiments/nuclei/torch_reference.py --images "$s/fit/images" --targets "$work/targets" --classes "$classes" \
    --out "$s/torch-prob" --seed "$seed" "${recipe[@]}" --threads "$threads" \
    --predict "val=$s/val/images" --predict "test=$test/images" > "$s/torch.log" 2>&1
  echo "$(date +%s.%N) - $start" | bc > "$s/torch.wall"

  # The same post-processing path for both.
  for r in ours torch; do
    prob="$s/$r-prob"
    run unet tune --probs "$prob/val" --labels "$s/val/labels" --targets "$targets" --out "$s/$r-postprocess.json" > "$s/$r-tune.txt" 2>> "$s/$r.log"
    run unet instances --probs "$prob/test" --out "$s/$r-instances" --postprocess "$s/$r-postprocess.json" \
      --evaluate "$test/labels" --json "$s/$r-test.json" > "$s/$r-test.txt" 2>> "$s/$r.log"
    echo "  $r: $(grep '^chosen' "$s/$r-tune.txt")"
  done
done

/usr/bin/python3 - "$work" "$seeds" "$iterations" "$targets" "$sampling" "$schedule" <<'EOF'
import json, statistics, sys
work, seeds, iterations, targets, sampling, schedule = sys.argv[1], [int(s) for s in sys.argv[2].split(',')], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
rows = {'unet-ts': [], 'PyTorch': []}
for seed in seeds:
    s = f'{work}/seed-{seed}'
    for name, r in (('unet-ts', 'ours'), ('PyTorch', 'torch')):
        mean = json.load(open(f'{s}/{r}-test.json'))['mean']
        train = json.load(open(f'{s}/ours/unet.json'))['training']['seconds'] if r == 'ours' else json.load(open(f'{s}/torch-prob/summary.json'))['seconds']
        wall = float(open(f'{s}/{r}.wall').read())
        rows[name].append((seed, mean['f1'], mean['dsbAP'], train, wall))
print(f'\nheld-out test split, {targets} targets, {sampling} tile placement, {iterations} steps per run ({schedule} learning rate); post-processing tuned on each seed\'s validation images')
print(f'{"":10} {"seed":>6} {"F1@0.5":>8} {"DSB mAP":>8} {"train s":>9} {"wall s":>9}')
for name, rs in rows.items():
    for seed, f1, ap, train, wall in rs:
        print(f'{name:10} {seed:>6} {f1:8.3f} {ap:8.3f} {train:9.0f} {wall:9.0f}')
    cols = list(zip(*rs))[1:]
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else float('nan')
    print(f'{name:10} {"mean":>6} ' + ' '.join(f'{statistics.mean(v):{w}.{p}f}' for v, w, p in zip(cols, (8, 8, 9, 9), (3, 3, 0, 0))))
    print(f'{name:10} {"± std":>6} ' + ' '.join(f'{sd(v):{w}.{p}f}' for v, w, p in zip(cols, (8, 8, 9, 9), (3, 3, 0, 0))))
EOF
