/**
 * The training loop (Sec. 3): stochastic gradient descent with high momentum (0.99)
 * on batches of one large tile, so that "a large number of the previously seen
 * training samples determine the update in the current optimization step".
 * The library reports through callbacks and never prints.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { weightedSoftmaxCrossEntropy } from '../loss/cross-entropy.js';
import { setDropoutSeedSource } from '../model/dropout.js';
import { modelInputShape } from '../model/unet.js';
import { Rng, type RngState } from '../util/rng.js';
import { installLeanBackprop } from './lean-backprop.js';
import { InPlaceAdamOptimizer, InPlaceMomentumOptimizer, setOptimizerLearningRate } from './optimizers.js';
import { LR_SCHEDULES, scheduledLearningRate, type LrSchedule } from './schedule.js';
import { inThreadProducer, planStep, type TileJob, type TileProducer } from './tile-jobs.js';
import { TILE_SAMPLINGS, type Tile, type TileAugmenter, type TileGeometry, type TileSampling, type TrainingSample } from './tiles.js';
import type { PredictorOpener } from '../infer/predictor.js';
import { bestValidation, evaluateValidation, metricName, type MetricScores, type ValidationEntry, type ValidationMetric } from './validation-metric.js';

export type OptimizerKind = 'sgd' | 'adam';

/**
 * The defaults of TrainOptions, defined once: `train` applies them and `unet train` parses
 * and documents its flags from them, so a library run and a CLI run without flags agree.
 * - optimizer 'sgd' with momentum 0.99, batch 1: the paper's recipe (Sec. 3: large tiles,
 *   batch of one image, high momentum so that many earlier samples shape each update);
 * - learningRate 0.001: with momentum 0.99 and a loss averaged over pixels, 0.01 has collapsed
 *   runs to a single class on ISBI 2012;
 * - validateEvery 100: a caller who passes a validation set wants its loss during training,
 *   and 100 steps keep its cost small next to the training steps (0 turns it off);
 * - checkpointEvery 100: a caller who passes onCheckpoint wants a crash to lose at most a few
 *   minutes of a run (0: only at the end).
 * - lrSchedule 'constant': the paper's fixed step size (src/train/schedule.ts).
 */
export const TRAIN_DEFAULTS = {
  optimizer: 'sgd',
  learningRate: 0.001,
  momentum: 0.99,
  batchSize: 1,
  validateEvery: 100,
  checkpointEvery: 100,
  tileSampling: 'uniform',
  lrSchedule: 'constant',
} as const satisfies Partial<Record<keyof TrainOptions, unknown>>;

/**
 * Steps whose tiles are requested ahead of the one training. With 1 (step i + 1's tiles made
 * while step i runs) a tile worker sat idle whenever it finished before the step, and the
 * training thread waited on every step whose tiles took longer; 2 lets a fast tile make up for
 * a slow one. One more batch of tiles in memory (a few MB at 572).
 */
const TILE_LOOKAHEAD = 2;

/**
 * The jobs of the steps a fresh run asks for before its first step (TILE_LOOKAHEAD of them, or
 * all when the run is shorter), as train() plans them: for a tile producer to start on early
 * (TileWorkerOptions.first).
 */
export function firstStepJobs(seed: number, iterations: number, loop: { readonly batchSize: number; readonly tileSampling: TileSampling }, samples: readonly TrainingSample[], geo: TileGeometry): TileJob[][] {
  return Array.from({ length: Math.min(iterations, TILE_LOOKAHEAD) }, (_, i) => planStep(seed, i + 1, loop.batchSize, samples, geo, loop.tileSampling));
}

/** An optimizer slot as TF.js' Optimizer.getWeights() returns it. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export interface TrainOptions {
  /** Optimisation steps. */
  readonly iterations: number;
  /**
   * Seed of every random choice (tiles, augmentation, dropout). The tiles of step i depend only
   * on the seed and i (planStep in src/train/tile-jobs.ts).
   */
  readonly seed: number;
  /** 'sgd' (with momentum, the paper's) or 'adam'. Default TRAIN_DEFAULTS.optimizer ('sgd'). */
  readonly optimizer?: OptimizerKind;
  /** Step size. Default TRAIN_DEFAULTS.learningRate (0.001; see there why). */
  readonly learningRate?: number;
  /** How the step size changes over the run (src/train/schedule.ts). Default TRAIN_DEFAULTS.lrSchedule ('constant'). */
  readonly lrSchedule?: LrSchedule;
  /** SGD momentum. Default TRAIN_DEFAULTS.momentum (0.99, Sec. 3). */
  readonly momentum?: number;
  /** Tiles per step. Default TRAIN_DEFAULTS.batchSize (1, Sec. 3). */
  readonly batchSize?: number;
  /**
   * Validation loss (and `validationMetric`) every N steps (and after the last); 0 = never. Default
   * TRAIN_DEFAULTS.validateEvery (100). The loss is the weighted cross-entropy of the overlap-tile
   * prediction of each validation image whole (every pixel once), the prediction the metric scores.
   */
  readonly validateEvery?: number;
  /**
   * The task's metric, from the same overlap-tile prediction of the validation images as the
   * validation loss (src/train/validation-metric.ts); recorded in the history, passed to
   * onProgress, and what `best` checkpoints are chosen by. Absent: the loss only.
   */
  readonly validationMetric?: ValidationMetric;
  /**
   * Opens the predictor each validation pass runs on (src/train/validation-metric.ts). Absent:
   * TF.js on the active backend; `unet train` passes ONNX Runtime's when it loads (openCurrentWeights
   * in src/infer/engine.ts), the same scores in less time.
   */
  readonly validationPredictor?: PredictorOpener;
  /** Where tiles are placed in an image (src/train/tiles.ts TileSampling). Default TRAIN_DEFAULTS.tileSampling ('uniform'). */
  readonly tileSampling?: TileSampling;
  /**
   * Cuts and jointly augments one input window (image, labels and weights together) from the
   * sample, drawing randomness only from `rng` (makeAugmenter in src/augment/augment.ts).
   * Absent: the window is cut as it is (cutTile).
   */
  readonly augment?: TileAugmenter;
  /**
   * Makes the tiles of each step; train() asks for the next step's before running the current
   * one, so a producer off the main thread (startTileWorkers in src/train/tile-workers.ts, Node)
   * prepares them during the step. It must make what `augment` would (the tiles are the same
   * either way, tested); the caller owns it and closes it. Absent: tiles are made in this
   * thread with `augment`.
   */
  readonly tiles?: TileProducer;
  /** Called after every step. */
  readonly onProgress?: (p: TrainProgress) => void;
  /** Stops training after the current step. */
  readonly signal?: AbortSignal;
  /** Continue a run from a checkpoint: the model must already hold the checkpoint's weights. */
  readonly resume?: ResumeFrom;
  /** Calls onCheckpoint every N steps (and when training ends or stops); 0 = only at the end. Default TRAIN_DEFAULTS.checkpointEvery (100). */
  readonly checkpointEvery?: number;
  /**
   * Receives the complete training state, awaited before the next step. The model's
   * weights are read from the model; `optimizerWeights` are the optimizer's slots
   * (momentum accumulators, Adam moments), valid only during the call: copy, don't keep.
   */
  readonly onCheckpoint?: (c: TrainCheckpoint) => Promise<void>;
}

/** Everything besides the weights that a resumed run needs to continue bit for bit. */
export interface TrainState {
  /** Steps completed. */
  readonly iteration: number;
  readonly iterations: number;
  readonly seed: number;
  readonly rng: RngState;
  readonly dropoutRng: RngState;
  readonly losses: readonly number[];
  readonly validation: readonly ValidationEntry[];
  /** Name of the validation metric of the entries that carry one. */
  readonly metricName?: string;
  /** Wall-clock seconds spent validating (loss and metric, summed over resumes), and of them on the metric. */
  readonly validationSeconds?: number;
  readonly metricSeconds?: number;
  readonly tileSampling?: TileSampling;
  readonly optimizer: OptimizerKind;
  readonly learningRate: number;
  /** Absent in checkpoints from before schedules: 'constant'. */
  readonly lrSchedule?: LrSchedule;
  readonly momentum: number;
  readonly batchSize: number;
  /** Wall-clock seconds spent before this run (summed over resumes). */
  readonly seconds: number;
}

export interface TrainCheckpoint {
  readonly state: TrainState;
  readonly optimizerWeights: NamedTensor[];
  readonly reason: 'interval' | 'end' | 'stopped';
}

export interface ResumeFrom {
  readonly state: TrainState;
  readonly optimizerWeights: NamedTensor[];
}

export interface TrainProgress {
  readonly iteration: number;
  readonly iterations: number;
  readonly loss: number;
  readonly elapsedMs: number;
  readonly etaMs: number;
  /** Present on steps where validation ran. */
  readonly validationLoss?: number;
  /** Present on steps where the validation metric ran. */
  readonly metric?: MetricScores;
  /** Seconds this step's validation took (loss and metric), on steps where it ran. */
  readonly validationSeconds?: number;
}

export interface TrainSummary {
  readonly iterations: number;
  readonly seed: number;
  readonly optimizer: OptimizerKind;
  /** The base step size; under a schedule other than 'constant', that of step 1. */
  readonly learningRate: number;
  readonly lrSchedule: LrSchedule;
  readonly momentum: number | null;
  readonly batchSize: number;
  readonly tileSize: readonly [number, number];
  readonly outputSize: readonly [number, number];
  readonly finalLoss: number;
  /** Mean training loss over the last min(50, iterations) steps. */
  readonly recentLoss: number;
  readonly losses: number[];
  readonly validation: ValidationEntry[];
  /** The validation entry with the best metric (the lowest loss without one); null without validation. */
  readonly best: ValidationEntry | null;
  readonly metricName?: string;
  /** Of `seconds`, those spent validating (loss and metric), and of them on the metric. */
  readonly validationSeconds: number;
  readonly metricSeconds: number;
  readonly tileSampling: TileSampling;
  readonly seconds: number;
  /**
   * Seconds of this run the training thread spent making or waiting for tiles (the data
   * pipeline's share of the critical path; near 0 when a producer prepares them in time).
   */
  readonly dataSeconds: number;
  readonly stoppedEarly: boolean;
}

export function makeOptimizer(kind: OptimizerKind, learningRate: number, momentum: number): tf.Optimizer {
  if (!(learningRate > 0)) throw new Error(`makeOptimizer: learningRate must be > 0, got ${learningRate}`);
  if (kind === 'sgd') {
    if (!(momentum >= 0 && momentum < 1)) throw new Error(`makeOptimizer: momentum must be in [0, 1), got ${momentum}`);
    return new InPlaceMomentumOptimizer(learningRate, momentum);
  }
  if (kind === 'adam') return new InPlaceAdamOptimizer(learningRate, 0.9, 0.999);
  throw new Error(`makeOptimizer: optimizer must be 'sgd' or 'adam', got ${String(kind)}`);
}

/**
 * Frees an optimizer's tensors. TF.js 4.22's MomentumOptimizer.dispose() overrides
 * SGDOptimizer.dispose() without calling it, leaking the learning-rate scalar `c`.
 */
export function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  const c = (optimizer as unknown as { c?: tf.Tensor }).c;
  if (optimizer instanceof tf.MomentumOptimizer && c && !c.isDisposed) c.dispose();
}

/** Output shape of `model` for its own input tile, read from the model. */
export function tileGeometry(model: tfl.LayersModel): TileGeometry {
  const outShape = model.outputs[0]!.shape;
  return { input: modelInputShape(model), output: [outShape[1]!, outShape[2]!] };
}

/** Trains `model` in place. Resolves with a summary; rejects on a bad option or non-finite loss. */
export async function train(
  model: tfl.LayersModel,
  trainSet: readonly TrainingSample[],
  options: TrainOptions,
  validationSet: readonly TrainingSample[] = [],
): Promise<TrainSummary> {
  const iterations = options.iterations;
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error(`train: iterations must be a positive integer, got ${iterations}`);
  if (trainSet.length === 0) throw new Error('train: the training set is empty');
  const batchSize = options.batchSize ?? TRAIN_DEFAULTS.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`train: batchSize must be a positive integer, got ${batchSize}`);
  const validateEvery = options.validateEvery ?? TRAIN_DEFAULTS.validateEvery;
  const placement: TileSampling = options.tileSampling ?? TRAIN_DEFAULTS.tileSampling;
  if (!TILE_SAMPLINGS.includes(placement)) throw new Error(`train: tileSampling must be one of ${TILE_SAMPLINGS.join(', ')}, got ${String(placement)}`);
  const metric = options.validationMetric;
  const metricLabel = metric ? metricName(metric) : undefined;
  const kind: OptimizerKind = options.optimizer ?? TRAIN_DEFAULTS.optimizer;
  const learningRate = options.learningRate ?? TRAIN_DEFAULTS.learningRate;
  const lrSchedule: LrSchedule = options.lrSchedule ?? TRAIN_DEFAULTS.lrSchedule;
  if (!LR_SCHEDULES.includes(lrSchedule)) throw new Error(`train: lrSchedule must be one of ${LR_SCHEDULES.join(', ')}, got ${String(lrSchedule)}`);
  const momentum = options.momentum ?? TRAIN_DEFAULTS.momentum;
  const geo = tileGeometry(model);
  const channels = model.inputs[0]!.shape[3]!;
  checkSamples(trainSet, channels, 'train');
  checkSamples(validationSet, channels, 'train (validation)');

  const resume = options.resume;
  if (resume) checkResume(resume.state, { iterations, seed: options.seed, kind, learningRate, lrSchedule, momentum, batchSize, placement });
  const rng = resume ? Rng.fromState(resume.state.rng) : new Rng(options.seed);
  const dropoutRng = resume ? Rng.fromState(resume.state.dropoutRng) : rng.fork();
  const optimizer = makeOptimizer(kind, learningRate, momentum);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (resume) await optimizer.setWeights(resume.optimizerWeights);
  const losses: number[] = resume ? [...resume.state.losses] : [];
  const validation: ValidationEntry[] = resume ? [...resume.state.validation] : [];
  let validationSeconds = resume?.state.validationSeconds ?? 0;
  let metricSeconds = resume?.state.metricSeconds ?? 0;
  const firstStep = resume ? resume.state.iteration + 1 : 1;
  const priorSeconds = resume ? resume.state.seconds : 0;
  const checkpointEvery = options.checkpointEvery ?? TRAIN_DEFAULTS.checkpointEvery;
  const start = Date.now();
  let stoppedEarly = false;

  const checkpoint = async (it: number, reason: TrainCheckpoint['reason']): Promise<void> => {
    if (!options.onCheckpoint) return;
    const optimizerWeights = await optimizer.getWeights();
    const state: TrainState = {
      iteration: it,
      iterations,
      seed: options.seed,
      rng: rng.state(),
      dropoutRng: dropoutRng.state(),
      losses: [...losses],
      validation: [...validation],
      ...(metricLabel ? { metricName: metricLabel } : {}),
      validationSeconds,
      metricSeconds,
      tileSampling: placement,
      optimizer: kind,
      learningRate,
      lrSchedule,
      momentum,
      batchSize,
      seconds: priorSeconds + (Date.now() - start) / 1000,
    };
    try {
      await options.onCheckpoint({ state, optimizerWeights, reason });
    } finally {
      // getWeights() hands out the optimizer's live slot variables; only the fresh iteration scalar is ours.
      for (const w of optimizerWeights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
    }
  };

  setDropoutSeedSource(model, () => dropoutRng.nextUint32());
  const producer = options.tiles ?? inThreadProducer(trainSet, geo, channels, options.augment);
  const request = (step: number): { jobs: TileJob[]; tiles: Promise<Tile[]> } => {
    const jobs = planStep(options.seed, step, batchSize, trainSet, geo, placement);
    const tiles = producer.make(jobs);
    // Awaited at its step; a run that ends first (stop, error) never awaits it.
    tiles.catch(() => undefined);
    return { jobs, tiles };
  };
  let dataMs = 0;
  try {
    let it = firstStep - 1;
    // Requests for the next TILE_LOOKAHEAD steps are always out, so a step that runs short (or
    // a producer that is slow once) does not leave the training thread waiting.
    const ahead: { jobs: TileJob[]; tiles: Promise<Tile[]> }[] = [];
    for (let s = firstStep; s <= Math.min(iterations, firstStep + TILE_LOOKAHEAD - 1); s++) ahead.push(request(s));
    while (it < iterations) {
      it++;
      const t0 = performance.now();
      const next = ahead.shift()!;
      const tiles = await next.tiles;
      const jobs = next.jobs;
      tiles.forEach((tile, b) => {
        // A NaN pixel does not always make the loss NaN (ReLU kernels may map it to 0), so it
        // would silently corrupt training: stop at the source instead.
        const bad = tile.image.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) {
          throw new Error(`train: the input tile from ${trainSet[jobs[b]!.sample]!.name} has a non-finite pixel (${tile.image[bad]}) at index ${bad}${options.augment || options.tiles ? ' after augmentation' : ''}`);
        }
      });
      if (it + TILE_LOOKAHEAD <= iterations) ahead.push(request(it + TILE_LOOKAHEAD));
      dataMs += performance.now() - t0;
      // The constant schedule never touches the optimizer, so its runs stay bit for bit as before schedules.
      if (lrSchedule !== 'constant') setOptimizerLearningRate(optimizer, scheduledLearningRate(lrSchedule, learningRate, it, iterations));
      const loss = trainStep(model, optimizer, tiles, geo, channels, vars);
      if (!Number.isFinite(loss)) {
        throw new Error(`train: loss became ${loss} at iteration ${it}; stopped without saving this step (the last checkpoint, if any, is the last good state); lower the learning rate (now ${learningRate})`);
      }
      losses.push(loss);

      let validationLoss: number | undefined;
      let scores: MetricScores | undefined;
      let stepValidationSeconds: number | undefined;
      if (validationSet.length > 0 && validateEvery > 0 && (it % validateEvery === 0 || it === iterations)) {
        const t0 = Date.now();
        // One prediction of each validation image gives the loss and the metric.
        const pass = await evaluateValidation(model, validationSet, metric, { batchSize, ...(options.validationPredictor ? { openPredictor: options.validationPredictor } : {}) });
        validationLoss = pass.loss;
        if (pass.metric) {
          scores = pass.metric;
          metricSeconds += scores.seconds;
        }
        validation.push({ iteration: it, loss: validationLoss, ...(scores ? { metric: scores.value, scores: scores.scores } : {}) });
        stepValidationSeconds = (Date.now() - t0) / 1000;
        validationSeconds += stepValidationSeconds;
      }
      const elapsedMs = Date.now() - start;
      options.onProgress?.({
        iteration: it,
        iterations,
        loss,
        elapsedMs,
        etaMs: (elapsedMs / (it - firstStep + 1)) * (iterations - it),
        ...(validationLoss === undefined ? {} : { validationLoss, validationSeconds: stepValidationSeconds! }),
        ...(scores ? { metric: scores } : {}),
      });
      // Let signal handlers, timers and (in a browser) rendering run between steps.
      await yieldToEventLoop();
      if (options.signal?.aborted && it < iterations) {
        stoppedEarly = true;
        await checkpoint(it, 'stopped');
        break;
      }
      if (it === iterations) await checkpoint(it, 'end');
      else if (checkpointEvery > 0 && it % checkpointEvery === 0) await checkpoint(it, 'interval');
    }
  } finally {
    setDropoutSeedSource(model, null);
    disposeOptimizer(optimizer);
  }
  const recent = losses.slice(-Math.min(50, losses.length));
  return {
    iterations: losses.length,
    seed: options.seed,
    optimizer: kind,
    learningRate,
    lrSchedule,
    momentum: kind === 'sgd' ? momentum : null,
    batchSize,
    tileSize: geo.input,
    outputSize: geo.output,
    finalLoss: losses[losses.length - 1]!,
    recentLoss: recent.reduce((a, b) => a + b, 0) / recent.length,
    losses,
    validation,
    best: bestValidation(validation),
    ...(metricLabel ? { metricName: metricLabel } : {}),
    validationSeconds,
    metricSeconds,
    tileSampling: placement,
    seconds: priorSeconds + (Date.now() - start) / 1000,
    dataSeconds: dataMs / 1000,
    stoppedEarly,
  };
}

/**
 * Resolves after the host has run its pending macrotasks: I/O and signal callbacks in
 * Node, timers, input and progress rendering in a browser. This file is part of the
 * browser entry, so Node's `setImmediate` is used only when the host provides one:
 * it runs after the poll phase, so a SIGINT/SIGTERM that arrived during a step is seen
 * before the next. Elsewhere a MessageChannel message (a task without setTimeout's
 * 4 ms clamp on nested timers, the way browser schedulers yield) and, failing that,
 * setTimeout(0). The host is checked on every call, not cached at import.
 */
export function yieldToEventLoop(): Promise<void> {
  const host = globalThis as { setImmediate?: (cb: () => void) => unknown };
  if (typeof host.setImmediate === 'function') {
    const setImmediateFn = host.setImmediate;
    return new Promise((resolve) => setImmediateFn(resolve));
  }
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** One optimisation step on a batch of tiles; returns the loss before the update. */
export function trainStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  tiles: readonly Tile[],
  geo: TileGeometry,
  channels: number,
  // An explicit list keeps the optimizer's slot order fixed, so its state can be restored.
  vars: tf.Variable[] = model.trainableWeights.map((w) => w.read() as tf.Variable),
): number {
  installLeanBackprop();
  return tf.tidy(() => {
    const { x, y, w } = batchTensors(tiles, geo, channels);
    const cost = optimizer.minimize(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor4D;
      return weightedSoftmaxCrossEntropy(logits, y, w);
    }, true, vars);
    return cost!.dataSync()[0]!;
  });
}

/** Model input [n, inH, inW, C], and labels and weights centre-cropped to the output [n, outH, outW] (plain array copies, cheaper than tensor slices). */
function batchTensors(tiles: readonly Tile[], geo: TileGeometry, channels: number): { x: tf.Tensor4D; y: tf.Tensor3D; w: tf.Tensor3D } {
  const [inH, inW] = geo.input;
  const [outH, outW] = geo.output;
  const top = (inH - outH) / 2;
  const left = (inW - outW) / 2;
  const n = tiles.length;
  const px = inH * inW;
  const outPx = outH * outW;
  const xs = new Float32Array(n * px * channels);
  const ys = new Int32Array(n * outPx);
  const ws = new Float32Array(n * outPx);
  tiles.forEach((t, i) => {
    xs.set(t.image, i * px * channels);
    for (let r = 0; r < outH; r++) {
      const from = (r + top) * inW + left;
      ys.set(t.labels.subarray(from, from + outW), i * outPx + r * outW);
      ws.set(t.weights.subarray(from, from + outW), i * outPx + r * outW);
    }
  });
  return { x: tf.tensor4d(xs, [n, inH, inW, channels]), y: tf.tensor3d(ys, [n, outH, outW], 'int32'), w: tf.tensor3d(ws, [n, outH, outW]) };
}

function checkSamples(samples: readonly TrainingSample[], channels: number, caller: string): void {
  for (const s of samples) {
    if (s.image.channels !== channels) throw new Error(`${caller}: ${s.name} has ${s.image.channels} channels, the model takes ${channels}`);
    if (s.labels.height !== s.image.height || s.labels.width !== s.image.width) {
      throw new Error(`${caller}: ${s.name} labels are ${s.labels.height}x${s.labels.width}, the image is ${s.image.height}x${s.image.width}`);
    }
    if (s.weights && (s.weights.height !== s.image.height || s.weights.width !== s.image.width)) {
      throw new Error(`${caller}: ${s.name} weight map is ${s.weights.height}x${s.weights.width}, the image is ${s.image.height}x${s.image.width}`);
    }
  }
}

function checkResume(
  state: TrainState,
  now: { iterations: number; seed: number; kind: OptimizerKind; learningRate: number; lrSchedule: LrSchedule; momentum: number; batchSize: number; placement: TileSampling },
): void {
  const mismatches: string[] = [];
  if (state.seed !== now.seed) mismatches.push(`seed ${state.seed} vs ${now.seed}`);
  if (state.optimizer !== now.kind) mismatches.push(`optimizer ${state.optimizer} vs ${now.kind}`);
  if (state.learningRate !== now.learningRate) mismatches.push(`learning rate ${state.learningRate} vs ${now.learningRate}`);
  if ((state.lrSchedule ?? 'constant') !== now.lrSchedule) mismatches.push(`learning-rate schedule ${state.lrSchedule ?? 'constant'} vs ${now.lrSchedule}`);
  // A schedule's step sizes depend on the run's length: a resumed run must keep it.
  if (now.lrSchedule !== 'constant' && state.iterations !== now.iterations) mismatches.push(`iterations ${state.iterations} vs ${now.iterations} (the ${now.lrSchedule} schedule is laid over the whole run)`);
  if (state.momentum !== now.momentum) mismatches.push(`momentum ${state.momentum} vs ${now.momentum}`);
  if (state.batchSize !== now.batchSize) mismatches.push(`batch size ${state.batchSize} vs ${now.batchSize}`);
  // Checkpoints from before the placement was recorded continue with the current one.
  if (state.tileSampling !== undefined && state.tileSampling !== now.placement) mismatches.push(`tile sampling ${state.tileSampling} vs ${now.placement}`);
  if (mismatches.length) throw new Error(`train: the checkpoint was made with other settings (${mismatches.join(', ')}); resume with the original ones`);
  if (state.iteration > now.iterations) throw new Error(`train: the checkpoint is at iteration ${state.iteration}, past the requested ${now.iterations}`);
}
