import { parseArgs } from 'node:util';
import { initBackend } from '../../backend/index.js';
import { loadDataset, type LabelMode } from '../../io/dataset.js';
import { makeMetadata } from '../../io/model-format.js';
import { saveModel } from '../../io/model-files.js';
import { describeNormalization, parseNormalization } from '../../io/normalize.js';
import { resolveConfig } from '../../model/config.js';
import { initializeWeights } from '../../model/init.js';
import { invalidSizeMessage, isValidInputSize } from '../../model/size.js';
import { buildUNet } from '../../model/unet.js';
import { train, type OptimizerKind } from '../../train/train.js';
import { Rng } from '../../util/rng.js';
import { intOption, MODEL_HELP, MODEL_OPTIONS, modelConfigFromOptions, numberOption, requireOption, UsageError } from '../args.js';
import { ProgressReporter } from '../progress.js';
import { defaultTile } from './info.js';

export const TRAIN_HELP = `unet train --images DIR --labels DIR --out MODEL_DIR --iterations N --seed S [options]

Trains a U-Net on image/label pairs matched by file name and saves it to MODEL_DIR.
  --val-images DIR --val-labels DIR   validation pairs (loss every --validate-every steps)
  --validate-every N   default 100
  --tile N             input tile size (572 for depth 4, else the nearest valid size below)
  --batch N            tiles per step (1)
  --optimizer NAME     sgd (momentum, the paper's) | adam   (sgd)
  --lr X               learning rate (0.001)
  --momentum X         SGD momentum (0.99)
  --normalize SPEC     dtype | range:MIN,MAX | minmax | percentile:LOW,HIGH | meanstd[:MEAN,STD]   (dtype:
                       8-bit 0..255 and 16-bit 0..65535 map to 0..1)
  --label-mode MODE    binary | classes   (binary)
  --threshold T        binary labels: value > T is foreground (127)
  --invert             binary labels: swap foreground and background
  --class-names A,B    names of the classes (class0,class1,...)
${MODEL_HELP}`;

export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      images: { type: 'string' },
      labels: { type: 'string' },
      out: { type: 'string' },
      iterations: { type: 'string' },
      seed: { type: 'string' },
      'val-images': { type: 'string' },
      'val-labels': { type: 'string' },
      'validate-every': { type: 'string' },
      tile: { type: 'string' },
      batch: { type: 'string' },
      optimizer: { type: 'string' },
      lr: { type: 'string' },
      momentum: { type: 'string' },
      normalize: { type: 'string' },
      'label-mode': { type: 'string' },
      threshold: { type: 'string' },
      invert: { type: 'boolean' },
      'class-names': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...MODEL_OPTIONS,
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${TRAIN_HELP}\n`);
    return 0;
  }
  const imagesDir = requireOption(values.images, 'images');
  const labelsDir = requireOption(values.labels, 'labels');
  const outDir = requireOption(values.out, 'out');
  const iterations = intOption(requireOption(values.iterations, 'iterations'), 'iterations')!;
  const seed = intOption(requireOption(values.seed, 'seed'), 'seed')!;
  if ((values['val-images'] === undefined) !== (values['val-labels'] === undefined)) throw new UsageError('--val-images and --val-labels go together');
  const optimizer = (values.optimizer ?? 'sgd') as OptimizerKind;
  if (optimizer !== 'sgd' && optimizer !== 'adam') throw new UsageError(`--optimizer must be sgd or adam, got "${optimizer}"`);
  const config = resolveConfig(modelConfigFromOptions(values));
  const tile = intOption(values.tile, 'tile') ?? defaultTile(config);
  if (!isValidInputSize(tile, config)) throw new UsageError(invalidSizeMessage(tile, config, 'tile'));
  const normalization = parseNormalization(values.normalize ?? 'dtype');
  const labelModeName = values['label-mode'] ?? 'binary';
  let labelMode: LabelMode;
  if (labelModeName === 'binary') labelMode = { mode: 'binary', threshold: numberOption(values.threshold, 'threshold', 127)!, invert: values.invert ?? false };
  else if (labelModeName === 'classes') labelMode = { mode: 'classes' };
  else throw new UsageError(`--label-mode must be binary or classes, got "${labelModeName}"`);
  const classNames = values['class-names']?.split(',');
  if (classNames && classNames.length !== config.classes) throw new UsageError(`--class-names lists ${classNames.length} names for ${config.classes} classes`);

  const backend = await initBackend();
  const dataOpts = { normalization, labelMode, classes: config.classes, channels: config.inputChannels };
  const trainSet = await loadDataset(imagesDir, labelsDir, dataOpts);
  const valSet = values['val-images'] ? await loadDataset(values['val-images'], values['val-labels']!, dataOpts) : [];
  process.stderr.write(`unet train: ${trainSet.length} training and ${valSet.length} validation images, tile ${tile}, backend ${backend.name}\n`);

  const model = buildUNet(config, tile);
  initializeWeights(model, new Rng(seed));
  const abort = new AbortController();
  const onSignal = (): void => {
    process.stderr.write('\nunet train: stopping after this step and saving the model\n');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = new ProgressReporter();
  let lastVal: number | undefined;
  const summary = await train(
    model,
    trainSet,
    {
      iterations,
      seed,
      optimizer,
      learningRate: numberOption(values.lr, 'lr', 0.001)!,
      momentum: numberOption(values.momentum, 'momentum', 0.99)!,
      batchSize: intOption(values.batch, 'batch', 1)!,
      validateEvery: intOption(values['validate-every'], 'validate-every', 100)!,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.validationLoss !== undefined) lastVal = p.validationLoss;
        const val = lastVal === undefined ? '' : ` val ${lastVal.toFixed(4)}`;
        progress.update({ done: p.iteration, total: p.iterations, text: `loss ${p.loss.toFixed(4)}${val}`, etaMs: p.etaMs }, p.validationLoss !== undefined);
      },
    },
    valSet,
  );
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const { losses, ...rest } = summary;
  const metadata = makeMetadata({
    config,
    tileSize: [tile, tile],
    normalization,
    ...(classNames ? { classNames } : {}),
    labels: { ...labelMode },
    training: {
      ...rest,
      backend: backend.name,
      images: imagesDir,
      labels: labelsDir,
      trainImages: trainSet.map((s) => s.name),
      validationImages: valSet.map((s) => s.name),
      normalization: describeNormalization(normalization),
      // Every 10th loss keeps the curve readable without bloating the file.
      lossCurve: losses.filter((_, i) => i % 10 === 0),
      command: ['unet', 'train', ...argv].join(' '),
    },
  });
  await saveModel(outDir, model, metadata);
  process.stderr.write(`unet train: saved to ${outDir} after ${summary.iterations} iterations (final loss ${summary.finalLoss.toFixed(4)}, ${summary.seconds.toFixed(1)} s)\n`);
  return 0;
}
