import { pairByStem } from '../../io/dataset.js';
import { loadModel, writeModelMetadata } from '../../io/model-files.js';
import { DEFAULT_TUNE_METRIC, startingPostprocess, tuneOnFiles } from '../../train/tune-files.js';
import type { InstancePostprocess } from '../../io/model-format.js';
import type { TuneMetric, TuneResult } from '../../train/tune.js';
import { MEMORY_HELP, MEMORY_OPTION, memoryBytesOption, optionLine, parseFlags, requireOption, startBackend, UsageError } from '../args.js';
import { ProgressReporter } from '../progress.js';

export const TUNE_HELP = `unet tune --model DIR --images DIR --labels DIR [--metric f1|dsb-ap] [--memory MB] [--dry-run]

Chooses how \`unet predict --outputs instances\` turns the model's probabilities into objects: the
level above which a pixel is an object pixel (or the argmax), the watershed on or off, its seed level,
and the smallest object size, by the highest mean F1 at IoU 0.5
(or DSB 2018 mAP) over validation images with instance labels (16-bit ids, 0 = background), paired by
file name. The network runs once per image; only the post-processing is searched. The choice is
written into the model's unet.json (unless --dry-run), and predict uses it by default.
Tune on validation images, never on the images you report scores for.
${optionLine('--metric M', 'f1 | dsb-ap', DEFAULT_TUNE_METRIC)}
${MEMORY_HELP}
${optionLine('--dry-run', "print the choice, leave the model's unet.json as it is")}`;

export async function tuneCommand(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
    model: { type: 'string' },
    images: { type: 'string' },
    labels: { type: 'string' },
    metric: { type: 'string' },
    ...MEMORY_OPTION,
    'dry-run': { type: 'boolean' },
  }, TUNE_HELP);
  const modelDir = requireOption(values.model, 'model');
  const imagesDir = requireOption(values.images, 'images');
  const labelsDir = requireOption(values.labels, 'labels');
  const metric = (values.metric ?? DEFAULT_TUNE_METRIC) as TuneMetric;
  if (metric !== 'f1' && metric !== 'dsb-ap') throw new UsageError(`--metric must be f1 or dsb-ap, got "${metric}"`);
  const memoryBytes = memoryBytesOption(values.memory);
  await startBackend('tune');
  const { model, metadata } = await loadModel(modelDir);
  const progress = new ProgressReporter();
  const started = Date.now();
  let result;
  try {
    result = await tuneOnFiles(model, metadata, await pairByStem(imagesDir, labelsDir), {
      metric,
      memoryBytes,
      onImage: (done, total, name) => progress.update({ done, total, text: `predicted ${name}`, etaMs: ((Date.now() - started) / done) * (total - done) }),
    });
  } finally {
    model.dispose();
  }
  process.stdout.write(tuneReport(result, startingPostprocess(metadata)));
  if (!values['dry-run']) {
    await writeModelMetadata(modelDir, { ...metadata, postprocess: { ...metadata.postprocess, instances: result.best } });
    process.stderr.write(`unet tune: wrote the choice into ${modelDir}/unet.json\n`);
  }
  return 0;
}

/** The five best post-processings, the one started from and the one chosen, as lines of text. */
export function tuneReport(result: TuneResult, start: InstancePostprocess): string {
  const describe = (f: number | null | undefined, w: boolean, t: number, m: number): string =>
    `${f === null || f === undefined ? 'argmax' : `foreground > ${f}`}, ${w ? `watershed, seeds >= ${t}` : 'connected components'}, min size ${m}`;
  const b = result.best;
  const top = [...result.rows].sort((x, y) => y.score - x.score).slice(0, 5);
  return [
    `mean ${String(b.tuned?.metric)} over ${String(b.tuned?.images)} validation images:`,
    ...top.map((r) => `  ${r.score.toFixed(4)}  ${describe(r.foregroundThreshold, r.watershed, r.seedThreshold, r.minSize)}`),
    `before: ${result.startScore.toFixed(4)} (${describe(start.foregroundThreshold, start.watershed, start.seedThreshold, start.minSize)})`,
    `chosen: ${result.bestScore.toFixed(4)} (${describe(b.foregroundThreshold, b.watershed, b.seedThreshold, b.minSize)})`,
    '',
  ].join('\n');
}
