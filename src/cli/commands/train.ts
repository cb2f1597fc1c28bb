import { constants as osConstants } from 'node:os';
import { parseArgs } from 'node:util';
import { loadDataset, pairByStem } from '../../io/dataset.js';
import { holdoutCount, holdoutNames } from '../../train/holdout.js';
import { inferenceChoice, startingPostprocess, tuneOnFiles } from '../../train/tune-files.js';
import { tuneReport } from './tune.js';
import { makeAugmenter } from '../../augment/augment.js';
import { defaultInstancePostprocess } from '../../infer/instances.js';
import { makeMetadata } from '../../io/model-format.js';
import { readModelMetadata, saveModel, writeModelMetadata } from '../../io/model-files.js';
import { describeNormalization } from '../../io/normalize.js';
import { resolveConfig } from '../../model/config.js';
import { defaultTileSize, invalidSizeMessage, isValidInputSize, outputSize, PAPER_TILE } from '../../model/size.js';
import { buildUNet } from '../../model/unet.js';
import { DEFAULT_HOLDOUT_FRACTION } from '../../train/holdout.js';
import { DEFAULT_TILE_WORKERS, startTileWorkers } from '../../train/tile-workers.js';
import { preferShortOpenMpSpin } from '../../backend/onednn.js';
import { chooseEngine, openCurrentWeights } from '../../infer/engine.js';
import { firstStepJobs, tileGeometry, train, TRAIN_DEFAULTS, type OptimizerKind, type ResumeFrom } from '../../train/train.js';
import { CheckpointStore, DEFAULT_KEEP_LAST, latestCheckpoint, readCheckpoint } from '../../train/checkpoint-files.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { join } from 'node:path';
import {
  AUGMENT_FLAGS_HELP, AUGMENT_OPTIONS, augmentOptionsFrom, CONNECTIVITY_HELP, CONNECTIVITY_OPTION, connectivityOption, decodeOptionsFrom, givenOptions, intOption,
  LABEL_MODE_HELP, LABEL_MODE_OPTIONS, labelModeFromOptions, MAX_PIXELS_HELP, MAX_PIXELS_OPTION, MODEL_HELP, MODEL_OPTIONS, modeClassesOption, modelConfigFromOptions,
  NORMALIZE_HELP, NORMALIZE_OPTION, normalizationOption, numberOption, optionLine, parseFlags, requireOption, UsageError, startBackend, WEIGHT_MAP_HELP, WEIGHT_MAP_OPTIONS, weightMapOptions,
} from '../args.js';
import { metricNotice, ProgressReporter, validationSummary, validationText } from '../progress.js';
import { TILE_SAMPLINGS, type TileGeometry, type TileSampling } from '../../train/tiles.js';
import { LR_SCHEDULES, type LrSchedule } from '../../train/schedule.js';
import { metricForLabelMode, type MetricScores, type ValidationEntry } from '../../train/validation-metric.js';
import { writeCurves } from '../../report/curves.js';
import { trainArgvWithPlan } from './plan.js';
import { trainFolds } from './folds.js';
import { initialModelForTile, loadInitialModel, trainArgvFromModel } from './init-from.js';

export const TRAIN_HELP = `unet train --images DIR --labels DIR --out MODEL_DIR --iterations N --seed S [options]
unet train --plan plan.json --images DIR --labels DIR --out MODEL_DIR --seed S [options]
unet train --resume MODEL_DIR

Trains a U-Net on image/label pairs matched by file name and saves it to MODEL_DIR.
Checkpoints (weights, optimizer state, RNG state, loss history) go to MODEL_DIR/checkpoints
every --checkpoint-every steps and on Ctrl-C/SIGTERM (the model is saved, and the exit status is
130/143, so --folds and scripts stop too); --resume continues the newest one with the run's
original options and reaches the same weights as an uninterrupted run.
  --folds K            K-fold cross-validation: K models in MODEL_DIR/fold-<i> on a split seeded by
                       --seed, each scored on its held-out fold (unet predict --evaluate); prints and
                       writes MODEL_DIR/folds.json (mean and spread); the fold models form an ensemble
  --plan FILE          a plan written by unet plan (its flags first; flags given here override them).
                       Without --plan and without --depth/--filters/--tile/--padding, unet train plans
                       from the data itself and prints what it chose
  --checkpoint-every N every N steps (${TRAIN_DEFAULTS.checkpointEvery}); the last --keep N are kept (${DEFAULT_KEEP_LAST}) plus 'best' by the
                       validation metric (by the loss with --no-metric)
  --val-images DIR --val-labels DIR   validation pairs (loss every --validate-every steps)
  --holdout F          without validation pairs: hold out this fraction of the training images (seeded
                       by --seed) for validation, 'best' and (instances) tuning   (${DEFAULT_HOLDOUT_FRACTION})
                       Binary and class labels are held out by default only when the fraction is at
                       least one image (10 or more images); --holdout F holds out from 2 on
  --init-from MODEL    fine-tune: start from a trained model's weights (a folder, or nuclei / isbi), with
                       its architecture, normalisation and class names (contradicting options are refused),
                       and its training recipe: label mode, weights, augmentation, optimizer, learning rate,
                       batch (valued flags you give override these; its switches such as --invert stay)
  --no-holdout         train on every image; no validation, no tuning
                       With instance labels, training ends by choosing the post-processing (foreground level, watershed,
                       seed level, minimum size) that maximises F1 on the validation images, and whether
                       test-time augmentation pays for its 8 passes there (unet tune).
${optionLine('--validate-every N', "validation loss and the task's metric every N steps (and after the last); 0 = never", TRAIN_DEFAULTS.validateEvery)}
                       The metric: F1@0.5 and DSB mAP of the instances (untuned post-processing) for
                       --label-mode instances, V_rand at threshold 0.5 for binary labels, mean IoU for
                       classes; 'best' is kept by it
${optionLine('--no-metric', "validation loss only ('best' by the loss)")}
${optionLine('--tile-sampling S', 'uniform (every pixel in as many training tiles, border or not; pixels outside', TRAIN_DEFAULTS.tileSampling)}
                       the image weigh 0) | clamped (uniform's windows moved inside the image: none
                       wasted, each pixel in 1-2x uniform's share) | inside (uniform over the
                       placements inside the image: border pixels rarely seen)
${optionLine('--tile N', `input tile size (${PAPER_TILE} for depth 4, else the nearest valid size below)`)}
${optionLine('--batch N', 'tiles per step', TRAIN_DEFAULTS.batchSize)}
${optionLine('--optimizer NAME', "sgd (momentum, the paper's) | adam", TRAIN_DEFAULTS.optimizer)}
${optionLine('--lr X', 'learning rate', TRAIN_DEFAULTS.learningRate)}
${optionLine('--lr-schedule S', "constant (the paper's) | poly (nnU-Net's decay to near 0: lr (1 - t/T)^0.9)", TRAIN_DEFAULTS.lrSchedule)}
${optionLine('--momentum X', 'SGD momentum', TRAIN_DEFAULTS.momentum)}
${NORMALIZE_HELP}
  --class-names A,B    names of the classes (class0,class1,...)
  --no-augment         train on the tiles as cut (augmentation is on by default)
${WEIGHT_MAP_HELP}
  --no-weights         all pixel weights 1 (no class balancing, no border term)
${CONNECTIVITY_HELP}
${optionLine('--data-workers N', "worker threads making the next step's tiles during a step; 0 = in the training thread (same tiles)", DEFAULT_TILE_WORKERS)}
${AUGMENT_FLAGS_HELP}
${MAX_PIXELS_HELP}
${LABEL_MODE_HELP}
${MODEL_HELP}`;

export const TRAIN_OPTIONS = {
      images: { type: 'string' },
      labels: { type: 'string' },
      out: { type: 'string' },
      iterations: { type: 'string' },
      seed: { type: 'string' },
      'val-images': { type: 'string' },
      'val-labels': { type: 'string' },
      'validate-every': { type: 'string' },
      'no-metric': { type: 'boolean' },
      'tile-sampling': { type: 'string' },
      tile: { type: 'string' },
      batch: { type: 'string' },
      optimizer: { type: 'string' },
      lr: { type: 'string' },
      'lr-schedule': { type: 'string' },
      momentum: { type: 'string' },
      ...NORMALIZE_OPTION,
      'class-names': { type: 'string' },
      'no-augment': { type: 'boolean' },
      ...WEIGHT_MAP_OPTIONS,
      'no-weights': { type: 'boolean' },
      ...CONNECTIVITY_OPTION,
      'data-workers': { type: 'string' },
      ...AUGMENT_OPTIONS,
      ...LABEL_MODE_OPTIONS,
      ...MAX_PIXELS_OPTION,
      resume: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      holdout: { type: 'string' },
      'init-from': { type: 'string' },
      'no-holdout': { type: 'boolean' },
      keep: { type: 'string' },
      plan: { type: 'string' },
      folds: { type: 'string' },
      ...MODEL_OPTIONS,
} as const;

export async function trainCommand(cliArgv: string[]): Promise<number> {
  const first = parseFlags(cliArgv, TRAIN_OPTIONS, TRAIN_HELP);
  // Before anything loads the addon (the plan's probe does): tile threads need the idle cores.
  if (first['data-workers'] !== '0') preferShortOpenMpSpin();
  let argv = cliArgv;
  // A fine-tuning run takes its architecture from the model it starts from, and its recipe from
  // the model's training command: nothing to plan.
  if (first.resume === undefined && first['init-from'] !== undefined) {
    const fromModel = await trainArgvFromModel(first['init-from'], cliArgv, TRAIN_OPTIONS);
    argv = fromModel.argv;
    process.stderr.write(`${fromModel.note}\n`);
  } else if (first.resume === undefined) {
    const planned = await trainArgvWithPlan(cliArgv, first);
    argv = planned.argv;
    if (planned.note) process.stderr.write(`${planned.note}\n`);
    if (first.folds !== undefined) return trainFolds(argv, trainCommand, (a) => parseArgs({ args: a, options: TRAIN_OPTIONS, strict: true }).values);
  }
  let resumeDir: string | null = null;
  // A resumed run keeps the images its checkpoint held out, whatever today's hold-out rule says.
  let resumedHoldout: readonly string[] | undefined;
  if (first.resume !== undefined) {
    const others = givenOptions(cliArgv, TRAIN_OPTIONS).filter((n) => n !== 'resume');
    if (others.length > 0) throw new UsageError(`--resume takes no other options (got --${others.join(', --')}); the run continues with its original ones`);
    resumeDir = await latestCheckpoint(join(first.resume, 'checkpoints'));
    if (resumeDir === null) throw new Error(`no checkpoint under ${join(first.resume, 'checkpoints')}; nothing to resume`);
    const training = (await readModelMetadata(resumeDir)).training;
    const previous = training?.argv;
    if (!Array.isArray(previous)) throw new Error(`${resumeDir}: its metadata has no training command to resume`);
    argv = previous as string[];
    if (Array.isArray(training?.validationImages)) resumedHoldout = (training.validationImages as unknown[]).map(String);
  }
  const { values } = parseArgs({ args: argv, options: TRAIN_OPTIONS, strict: true });
  const imagesDir = requireOption(values.images, 'images');
  const labelsDir = requireOption(values.labels, 'labels');
  const outDir = requireOption(values.out, 'out');
  const iterations = intOption(requireOption(values.iterations, 'iterations'), 'iterations')!;
  const seed = intOption(requireOption(values.seed, 'seed'), 'seed')!;
  if ((values['val-images'] === undefined) !== (values['val-labels'] === undefined)) throw new UsageError('--val-images and --val-labels go together');
  const loop = trainLoopOptions(values);
  const labelMode = labelModeFromOptions(values);
  const asked = modelConfigFromOptions(values);
  const modeClasses = modeClassesOption(labelMode, asked.classes);
  const initial = values['init-from'] === undefined || resumeDir ? null : await loadInitialModel(values['init-from'], asked, values.normalize === undefined ? undefined : normalizationOption(values.normalize));
  if (initial && modeClasses !== undefined && initial.config.classes !== modeClasses) {
    initial.model.dispose();
    throw new UsageError(`--init-from ${values['init-from']}: the model has ${initial.config.classes} classes, but --targets boundary trains ${modeClasses}`);
  }
  const config = initial?.config ?? resolveConfig({ ...asked, ...(modeClasses !== undefined ? { classes: modeClasses } : {}) });
  const tile = intOption(values.tile, 'tile') ?? (initial ? initial.metadata.tileSize[0] : defaultTileSize(config));
  if (!isValidInputSize(tile, config)) throw new UsageError(invalidSizeMessage(tile, config, 'tile'));
  const normalization = initial?.metadata.normalization ?? normalizationOption(values.normalize);
  const augmentOptions = values['no-augment'] ? null : augmentOptionsFrom(values);
  const weightMap = values['no-weights'] ? (false as const) : weightMapOptions(values);
  const connectivity = connectivityOption(values.connectivity);
  const dataWorkers = intOption(values['data-workers'], 'data-workers', DEFAULT_TILE_WORKERS)!;
  if (dataWorkers < 0) throw new UsageError(`--data-workers must be >= 0, got ${dataWorkers}`);
  const classNames = values['class-names']?.split(',') ?? initial?.metadata.classNames ?? (modeClasses !== undefined ? ['background', 'interior', 'boundary'] : undefined);
  if (classNames && classNames.length !== config.classes) throw new UsageError(`--class-names lists ${classNames.length} names for ${config.classes} classes`);

  const backend = await startBackend('train');
  const onWarning = (message: string): void => void process.stderr.write(`unet train: warning: ${message}\n`);
  const dataOpts = { normalization, labelMode, classes: config.classes, channels: config.inputChannels, weightMap, connectivity, ...decodeOptionsFrom(values['max-pixels']), onWarning };
  const loaded = await loadDataset(imagesDir, labelsDir, dataOpts);
  // Without given validation images, a seeded fraction of the training images is held out (and
  // said so) for the task's metric, the 'best' checkpoint and, for instances, the tuning of the
  // post-processing; binary and class labels only when the fraction is at least one image
  // (holdoutCount in src/train/holdout.ts).
  const holdoutFraction = loop.holdout;
  if (values.holdout !== undefined && (values['no-holdout'] || values['val-images'] !== undefined)) throw new UsageError('--holdout applies only without --val-images and --no-holdout');
  const mayHold = values['val-images'] === undefined && !values['no-holdout'];
  const toHold = mayHold && !resumedHoldout
    ? holdoutCount({ mode: labelMode.mode, images: loaded.length, fraction: holdoutFraction, asked: values.holdout !== undefined })
    : 0;
  const held = mayHold && resumedHoldout ? new Set(resumedHoldout)
    : toHold > 0 ? holdoutNames(loaded.map((s) => s.name), holdoutFraction, seed) : new Set<string>();
  // Instance ids are the validation metric's truth: training tiles need only the class labels.
  const trainSet = loaded.filter((s) => !held.has(s.name)).map(({ instances: _ids, ...s }) => s);
  const valSet = values['val-images'] ? await loadDataset(values['val-images'], values['val-labels']!, dataOpts) : loaded.filter((s) => held.has(s.name));
  const purpose = labelMode.mode === 'instances' ? 'validation and tuning' : 'validation';
  if (held.size > 0) process.stderr.write(`unet train: holding out ${held.size} of ${loaded.length} images (seed ${seed}) for ${purpose}; --val-images/--val-labels choose them, --no-holdout trains on all\n`);
  else if (mayHold && !resumedHoldout && loaded.length >= 2) {
    process.stderr.write(`unet train: no validation: ${loaded.length} images are too few to hold out ${Math.round(holdoutFraction * 100)}% of them; --holdout F or --val-images/--val-labels give a validation set\n`);
  }
  // Validation passes and the closing tuning predict on the fastest engine, as unet predict does.
  const predictEngine = valSet.length > 0 ? (await chooseEngine(backend.name, process.env.UNET_ENGINE ?? 'auto')).engine : 'tfjs';
  const onEngine = predictEngine === 'ort' ? ', validation on onnxruntime' : '';
  process.stderr.write(`unet train: ${trainSet.length} training and ${valSet.length} validation images, tile ${tile}, backend ${backend.name}${onEngine}\n`);
  const validationMetric = values['no-metric'] || valSet.length === 0 || loop.validateEvery === 0 ? undefined : metricForLabelMode(labelMode);
  if (validationMetric) process.stderr.write(`unet train: ${metricNotice(validationMetric, valSet.length, held.size > 0, loop.validateEvery)}\n`);

  // The tile threads start before the model is built, with the first steps' jobs, so that their
  // first tiles (a cold worker's slowest) are made meanwhile; a resumed run's first step is in
  // its checkpoint, so it gets none early.
  const outSide = outputSize(tile, config);
  const geometry: TileGeometry = { input: [tile, tile], output: [outSide, outSide] };
  const workersStarting = dataWorkers > 0
    ? startTileWorkers(trainSet, { geometry, channels: config.inputChannels, augment: augmentOptions, workers: dataWorkers, first: resumeDir ? [] : firstStepJobs(seed, iterations, loop, trainSet, geometry) })
    : Promise.resolve(null);
  let model: tfl.LayersModel;
  let resume: ResumeFrom | undefined;
  try {
    if (resumeDir) {
      const ckpt = await readCheckpoint(resumeDir);
      model = ckpt.model;
      resume = { state: ckpt.state, optimizerWeights: ckpt.optimizerWeights };
      process.stderr.write(`unet train: resuming ${resumeDir} at iteration ${ckpt.state.iteration}\n`);
    } else {
      model = initial ? initialModelForTile(initial, tile) : buildUNet(config, tile, { seed });
      if (initial) {
        initial.model.dispose();
        process.stderr.write(`unet train: starting from the weights of ${initial.dir}\n`);
      }
    }
  } catch (e) {
    await (await workersStarting.catch(() => null))?.close();
    throw e;
  }
  const store = new CheckpointStore(join(outDir, 'checkpoints'), { keepLast: loop.keepLast });
  const metadataFor = (state: Readonly<Record<string, unknown>> & { readonly losses: readonly number[] }): ReturnType<typeof makeMetadata> => {
    const { losses, ...rest } = state;
    return makeMetadata({
      config,
      tileSize: [tile, tile],
      normalization,
      ...(classNames ? { classNames } : {}),
      labels: { ...labelMode, weightMap, connectivity, augment: augmentOptions },
      ...(labelMode.mode === 'instances' ? { postprocess: { instances: defaultInstancePostprocess(labelMode) } } : {}),
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
        ...(initial ? { initFrom: initial.dir } : {}),
        command: ['unet', 'train', ...argv].join(' '),
        argv,
      },
    });
  };
  const abort = new AbortController();
  // The signal that stopped the run decides the exit status (128 + its number, as a shell
  // reports it), so whatever drives unet train (--folds, a workflow engine, a script with
  // set -e) stops too instead of taking the saved partial model for a finished one.
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    stoppedBy = signal;
    process.stderr.write(`\nunet train: ${signal}: stopping after this step and saving the model\n`);
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = new ProgressReporter();
  let lastVal: number | undefined;
  let lastMetric: MetricScores | undefined;
  // curves.svg / curves.png follow the run at every checkpoint (the last one included); a plotting failure must not end training.
  let curvesWarned = false;
  const updateCurves = async (h: { losses: readonly number[]; validation: readonly ValidationEntry[]; learningRate: number; metricName?: string }): Promise<void> => {
    try {
      await writeCurves(outDir, { losses: h.losses, validation: h.validation, learningRate: h.learningRate, ...(h.metricName ? { metricName: h.metricName } : {}) }, `Training curves: ${outDir}`);
    } catch (e) {
      if (!curvesWarned) process.stderr.write(`unet train: could not write the curves (${(e as Error).message}); training goes on\n`);
      curvesWarned = true;
    }
  };
  const tileWorkers = await workersStarting;
  const modelGeometry = tileGeometry(model);
  if (tileWorkers && JSON.stringify(modelGeometry) !== JSON.stringify(geometry)) {
    await tileWorkers.close();
    throw new Error(`unet train: the model's tile ${modelGeometry.input.join('x')} -> ${modelGeometry.output.join('x')} is not the ${tile} -> ${outSide} the tile threads were started for`);
  }
  if (dataWorkers > 0 && !tileWorkers) process.stderr.write('unet train: warning: no worker threads for the tiles; making them in the training thread (the same tiles)\n');
  const summary = await train(
    model,
    trainSet,
    {
      iterations,
      seed,
      optimizer: loop.optimizer,
      learningRate: loop.learningRate,
      lrSchedule: loop.lrSchedule,
      momentum: loop.momentum,
      batchSize: loop.batchSize,
      validateEvery: loop.validateEvery,
      tileSampling: loop.tileSampling,
      ...(validationMetric ? { validationMetric } : {}),
      validationPredictor: (m) => openCurrentWeights(predictEngine, m),
      signal: abort.signal,
      ...(resume ? { resume } : {}),
      checkpointEvery: loop.checkpointEvery,
      onCheckpoint: async (c) => {
        // The generator states live in state.json; the metadata keeps the readable summary.
        await store.write(model, c, metadataFor({ ...c.state, rng: undefined, dropoutRng: undefined }));
        await updateCurves(c.state);
      },
      ...(augmentOptions ? { augment: makeAugmenter(augmentOptions) } : {}),
      ...(tileWorkers ? { tiles: tileWorkers } : {}),
      onProgress: (p) => {
        if (p.validationLoss !== undefined) lastVal = p.validationLoss;
        if (p.metric) lastMetric = p.metric;
        progress.update({ done: p.iteration, total: p.iterations, text: `loss ${p.loss.toFixed(4)}${validationText(lastVal, lastMetric, held.size > 0)}`, etaMs: p.etaMs }, p.validationLoss !== undefined);
      },
    },
    valSet,
  ).finally(() => tileWorkers?.close());
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  let metadata = metadataFor({ ...summary });
  await saveModel(outDir, model, metadata);
  if (labelMode.mode === 'instances' && valSet.length > 0 && !summary.stoppedEarly) {
    const pairs = values['val-images'] ? await pairByStem(values['val-images'], values['val-labels']!) : (await pairByStem(imagesDir, labelsDir)).filter((p) => held.has(p.name));
    const tuned = await tuneOnFiles(model, metadata, pairs, { engine: predictEngine });
    process.stderr.write(`unet train: post-processing tuned on ${pairs.length} validation images\n${tuneReport(tuned, startingPostprocess(metadata))}`);
    metadata = { ...metadata, postprocess: { ...metadata.postprocess, instances: tuned.best }, inference: inferenceChoice(tuned) };
    await writeModelMetadata(outDir, metadata);
  }
  if (summary.validation.length > 0) process.stderr.write(`unet train: ${validationSummary(summary, store.best, join(outDir, 'checkpoints', 'best'))}\n`);
  process.stderr.write(`unet train: saved to ${outDir} after ${summary.iterations} iterations${summary.stoppedEarly ? ' (stopped early; --resume continues)' : ''} (final loss ${summary.finalLoss.toFixed(4)}, ${summary.seconds.toFixed(1)} s)\n`);
  return stoppedBy ? 128 + osConstants.signals[stoppedBy] : 0;
}

export type TrainValues = ReturnType<typeof parseFlags<typeof TRAIN_OPTIONS>>;

/**
 * The training loop's settings from unet train's flags: the library's defaults
 * (TRAIN_DEFAULTS, DEFAULT_KEEP_LAST, DEFAULT_HOLDOUT_FRACTION) where a flag is absent.
 */
export function trainLoopOptions(values: Pick<TrainValues, 'optimizer' | 'lr' | 'momentum' | 'batch' | 'validate-every' | 'checkpoint-every' | 'keep' | 'holdout' | 'tile-sampling' | 'lr-schedule'>): {
  optimizer: OptimizerKind; learningRate: number; lrSchedule: LrSchedule; momentum: number; batchSize: number; validateEvery: number; checkpointEvery: number; keepLast: number; holdout: number; tileSampling: TileSampling;
} {
  const optimizer = values.optimizer ?? TRAIN_DEFAULTS.optimizer;
  if (optimizer !== 'sgd' && optimizer !== 'adam') throw new UsageError(`--optimizer must be sgd or adam, got "${optimizer}"`);
  const holdout = numberOption(values.holdout, 'holdout', DEFAULT_HOLDOUT_FRACTION)!;
  if (!(holdout > 0 && holdout < 1)) throw new UsageError(`--holdout must be a fraction in (0, 1), got ${holdout}`);
  const tileSampling = (values['tile-sampling'] ?? TRAIN_DEFAULTS.tileSampling) as TileSampling;
  if (!TILE_SAMPLINGS.includes(tileSampling)) throw new UsageError(`--tile-sampling must be one of ${TILE_SAMPLINGS.join(', ')}, got "${tileSampling}"`);
  const lrSchedule = (values['lr-schedule'] ?? TRAIN_DEFAULTS.lrSchedule) as LrSchedule;
  if (!LR_SCHEDULES.includes(lrSchedule)) throw new UsageError(`--lr-schedule must be one of ${LR_SCHEDULES.join(', ')}, got "${lrSchedule}"`);
  return {
    optimizer,
    learningRate: numberOption(values.lr, 'lr', TRAIN_DEFAULTS.learningRate)!,
    lrSchedule,
    momentum: numberOption(values.momentum, 'momentum', TRAIN_DEFAULTS.momentum)!,
    batchSize: intOption(values.batch, 'batch', TRAIN_DEFAULTS.batchSize)!,
    validateEvery: intOption(values['validate-every'], 'validate-every', TRAIN_DEFAULTS.validateEvery)!,
    checkpointEvery: intOption(values['checkpoint-every'], 'checkpoint-every', TRAIN_DEFAULTS.checkpointEvery)!,
    keepLast: intOption(values.keep, 'keep', DEFAULT_KEEP_LAST)!,
    holdout,
    tileSampling,
  };
}
