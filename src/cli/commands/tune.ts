import { pairByStem } from '../../io/dataset.js';
import { loadModel, writeModelMetadata } from '../../io/model-files.js';
import { DEFAULT_TUNE_METRIC, inferenceChoice, startingPostprocess, TTA_CHOICES, TTA_MIN_GAIN, tuneOnFiles, tuneOnProbabilityFiles, type TtaChoice, type TuneFilesResult } from '../../train/tune-files.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { defaultInstancePostprocess, describeInstancePostprocess } from '../../infer/instances.js';
import { pairProbabilityFiles } from '../../infer/probability-files.js';
import { MAX_SEED_EROSION, type InstancePostprocess } from '../../io/model-format.js';
import { DEFAULT_TUNE_GRID, type TuneGrid, type TuneMetric, type TuneResult } from '../../train/tune.js';
import { chooseEngine } from '../../infer/engine.js';
import { MEMORY_HELP, MEMORY_OPTION, memoryBytesOption, optionLine, parseFlags, requireOption, startBackend, UsageError } from '../args.js';
import { ProgressReporter } from '../progress.js';

export const TUNE_HELP = `unet tune --model DIR --images DIR --labels DIR [--metric f1|dsb-ap] [--tta auto|on|off] [--memory MB] [--dry-run]
unet tune --probs DIR --labels DIR --out FILE [--targets separated|boundary] [--metric f1|dsb-ap]

Chooses how \`unet predict --outputs instances\` turns the model's probabilities into objects: the
level above which a pixel is an object pixel (or the argmax), the watershed on or off, its seed level
and the smallest object size, by the highest mean F1 at IoU 0.5
(or DSB 2018 mAP) over validation images with instance labels (16-bit ids, 0 = background), paired by
file name. The network runs once per image, and once more averaging its 8 flips/rotations
(test-time augmentation); the post-processing is searched for each, and TTA is kept only when it
raises the score by at least ${TTA_MIN_GAIN} (it costs 8 network passes per tile). The choice is written
into the model's unet.json (unless --dry-run), and predict uses it by default (--tta / --no-tta override).
Tune on validation images, never on the images you report scores for.
${optionLine('--metric M', 'f1 | dsb-ap', DEFAULT_TUNE_METRIC)}
${optionLine('--tta T', 'auto: compare, keep TTA if it pays | on: always | off: never', 'auto')}
${optionLine('--seed-erosions R,..', 'also try seeds eroded by these radii (px) around the best watershed settings;', 'none')}
                       splits touching objects joined by a neck, but on DSB nuclei the hold-out gain did
                       not reach the test split (README)
${MEMORY_HELP}
${optionLine('--dry-run', "print the choice, leave the model's unet.json as it is")}
Probabilities of any network (instead of --model and --images): --probs DIR holds <stem>_prob.tif
(float32, a page per class, as unet predict writes them; or one page, the foreground probability) or
<stem>_prob.png (8/16-bit foreground probability), one per label file. The same search starts from
the post-processing a model trained with --targets T starts from, and the choice is written to
--out FILE (JSON, the "postprocess" of a unet.json), which \`unet instances --postprocess FILE\` applies.
${optionLine('--targets T', 'separated | boundary: the classes of the maps', 'separated')}`;

export async function tuneCommand(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
    model: { type: 'string' },
    images: { type: 'string' },
    labels: { type: 'string' },
    metric: { type: 'string' },
    ...MEMORY_OPTION,
    'dry-run': { type: 'boolean' },
    probs: { type: 'string' },
    out: { type: 'string' },
    targets: { type: 'string' },
    tta: { type: 'string' },
    'seed-erosions': { type: 'string' },
  }, TUNE_HELP);
  const grid = { ...DEFAULT_TUNE_GRID, seedErosions: seedErosionsOption(values['seed-erosions']) };
  const metric = (values.metric ?? DEFAULT_TUNE_METRIC) as TuneMetric;
  if (metric !== 'f1' && metric !== 'dsb-ap') throw new UsageError(`--metric must be f1 or dsb-ap, got "${metric}"`);
  if (values.probs !== undefined) return tuneProbabilities(values.probs, requireOption(values.labels, 'labels'), metric, values, grid);
  for (const name of ['out', 'targets'] as const) if (values[name] !== undefined) throw new UsageError(`--${name} goes with --probs (a model's choice is written into its unet.json)`);
  const tta = (values.tta ?? 'auto') as TtaChoice;
  if (!TTA_CHOICES.includes(tta)) throw new UsageError(`--tta must be ${TTA_CHOICES.join(', ')}, got "${values.tta}"`);
  const modelDir = requireOption(values.model, 'model');
  const imagesDir = requireOption(values.images, 'images');
  const labelsDir = requireOption(values.labels, 'labels');
  const memoryBytes = memoryBytesOption(values.memory);
  const backend = await startBackend('tune');
  const { engine } = await chooseEngine(backend.name, process.env.UNET_ENGINE ?? 'auto');
  const { model, metadata } = await loadModel(modelDir);
  const progress = new ProgressReporter();
  const started = Date.now();
  let result: TuneFilesResult;
  const pairs = await pairByStem(imagesDir, labelsDir);
  try {
    result = await tuneOnFiles(model, metadata, pairs, {
      metric,
      grid,
      memoryBytes,
      tta,
      engine,
      onImage: (done, total, name) => progress.update({ done, total, text: `predicted ${name}`, etaMs: ((Date.now() - started) / done) * (total - done) }),
    });
  } finally {
    model.dispose();
  }
  process.stdout.write(tuneReport(result, startingPostprocess(metadata)));
  if (!values['dry-run']) {
    await writeModelMetadata(modelDir, { ...metadata, postprocess: { ...metadata.postprocess, instances: result.best }, inference: inferenceChoice(result) });
    process.stderr.write(`unet tune: wrote the choice into ${modelDir}/unet.json\n`);
  }
  return 0;
}

/**
 * --seed-erosions: radii in pixels (0 < r <= MAX_SEED_EROSION), 0 (no erosion) always searched too.
 * @example seedErosionsOption('1,2') // [0, 1, 2]
 */
export function seedErosionsOption(value: string | undefined): number[] {
  if (value === undefined) return [0];
  return [0, ...value.split(',').map((token) => {
    const r = Number(token.trim());
    if (!(r > 0 && r <= MAX_SEED_EROSION)) throw new UsageError(`--seed-erosions: "${token.trim()}" is not a radius in pixels in (0, ${MAX_SEED_EROSION}]`);
    return r;
  })];
}

/** unet tune --probs: the search on probability maps on disk, the choice written to --out. */
async function tuneProbabilities(probsDir: string, labelsDir: string, metric: TuneMetric, values: { model?: string; images?: string; memory?: string; 'dry-run'?: boolean; out?: string; targets?: string; tta?: string }, grid: TuneGrid): Promise<number> {
  for (const name of ['model', 'images', 'memory', 'dry-run', 'tta'] as const) if (values[name] !== undefined) throw new UsageError(`--${name} does not go with --probs (the probabilities are given; the choice goes to --out)`);
  const outFile = requireOption(values.out, 'out');
  const targets = values.targets ?? 'separated';
  if (targets !== 'separated' && targets !== 'boundary') throw new UsageError(`--targets must be separated or boundary, got "${targets}"`);
  const start = defaultInstancePostprocess({ targets });
  const pairs = await pairProbabilityFiles(probsDir, labelsDir);
  const progress = new ProgressReporter();
  const started = Date.now();
  const result = await tuneOnProbabilityFiles(pairs, start, {
    metric,
    grid,
    onImage: (done, total, name) => progress.update({ done, total, text: `read ${name}`, etaMs: ((Date.now() - started) / done) * (total - done) }),
  });
  process.stdout.write(tuneReport(result, start));
  await writeFileAtomic(outFile, `${JSON.stringify({ instances: result.best }, null, 2)}\n`);
  process.stderr.write(`unet tune: wrote the choice to ${outFile}\n`);
  return 0;
}

/**
 * The five best post-processings, the one started from and the one chosen, as lines of text;
 * with a model's tuning, how test-time augmentation compared.
 */
export function tuneReport(result: TuneResult | TuneFilesResult, start: InstancePostprocess): string {
  const b = result.best;
  const top = [...result.rows].sort((x, y) => y.score - x.score).slice(0, 5);
  return [
    `mean ${String(b.tuned?.metric)} over ${String(b.tuned?.images)} validation images:`,
    ...top.map((r) => `  ${r.score.toFixed(4)}  ${describeInstancePostprocess(r)}`),
    `before: ${result.startScore.toFixed(4)} (${describeInstancePostprocess(start)})`,
    `chosen: ${result.bestScore.toFixed(4)} (${describeInstancePostprocess(b)})`,
    ...('tta' in result ? [ttaLine(result)] : []),
    '',
  ].join('\n');
}

/** How the test-time augmentation choice was made, as one line. */
function ttaLine(result: TuneFilesResult): string {
  const { plain, tta } = result.scores;
  if (plain !== undefined && tta !== undefined) {
    return `test-time augmentation: ${result.tta ? 'on' : 'off'} (best ${tta.toFixed(4)} with it, ${plain.toFixed(4)} without; kept when it gains >= ${TTA_MIN_GAIN})`;
  }
  return `test-time augmentation: ${result.tta ? 'on' : 'off'} (as asked)`;
}
