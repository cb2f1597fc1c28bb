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
import { Rng } from '../util/rng.js';
import { coveringOrigins, cutTile, randomOutputOrigin, type Tile, type TileGeometry, type TrainingSample } from './tiles.js';

export type OptimizerKind = 'sgd' | 'adam';

export interface TrainOptions {
  /** Optimisation steps. */
  readonly iterations: number;
  /** Seed of every random choice (tiles, augmentation, dropout). */
  readonly seed: number;
  /** 'sgd' (with momentum, the paper's) or 'adam'. Default 'sgd'. */
  readonly optimizer?: OptimizerKind;
  /**
   * Step size. Default 0.001: with momentum 0.99 and a loss averaged over pixels,
   * 0.01 has collapsed runs to a single class on ISBI 2012.
   */
  readonly learningRate?: number;
  /** SGD momentum. Default 0.99 (Sec. 3). */
  readonly momentum?: number;
  /** Tiles per step. Default 1 (Sec. 3). */
  readonly batchSize?: number;
  /** Validation loss every N steps (and after the last); 0 = never. Default 0. */
  readonly validateEvery?: number;
  /**
   * Joint augmentation of one input window (image, labels and weights together),
   * drawing randomness only from `rng`. Identity when absent.
   */
  readonly augment?: (tile: Tile, geometry: TileGeometry, channels: number, rng: Rng) => Tile;
  /** Called after every step. */
  readonly onProgress?: (p: TrainProgress) => void;
  /** Stops training after the current step. */
  readonly signal?: AbortSignal;
}

export interface TrainProgress {
  readonly iteration: number;
  readonly iterations: number;
  readonly loss: number;
  readonly elapsedMs: number;
  readonly etaMs: number;
  /** Present on steps where validation ran. */
  readonly validationLoss?: number;
}

export interface TrainSummary {
  readonly iterations: number;
  readonly seed: number;
  readonly optimizer: OptimizerKind;
  readonly learningRate: number;
  readonly momentum: number | null;
  readonly batchSize: number;
  readonly tileSize: readonly [number, number];
  readonly outputSize: readonly [number, number];
  readonly finalLoss: number;
  /** Mean training loss over the last min(50, iterations) steps. */
  readonly recentLoss: number;
  readonly losses: number[];
  readonly validation: { iteration: number; loss: number }[];
  readonly seconds: number;
  readonly stoppedEarly: boolean;
}

export function makeOptimizer(kind: OptimizerKind, learningRate: number, momentum: number): tf.Optimizer {
  if (!(learningRate > 0)) throw new Error(`makeOptimizer: learningRate must be > 0, got ${learningRate}`);
  if (kind === 'sgd') {
    if (!(momentum >= 0 && momentum < 1)) throw new Error(`makeOptimizer: momentum must be in [0, 1), got ${momentum}`);
    return tf.train.momentum(learningRate, momentum);
  }
  if (kind === 'adam') return tf.train.adam(learningRate);
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
  const batchSize = options.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`train: batchSize must be a positive integer, got ${batchSize}`);
  const validateEvery = options.validateEvery ?? 0;
  const kind = options.optimizer ?? 'sgd';
  const learningRate = options.learningRate ?? 0.001;
  const momentum = options.momentum ?? 0.99;
  const geo = tileGeometry(model);
  const channels = model.inputs[0]!.shape[3]!;
  checkSamples(trainSet, channels, 'train');
  checkSamples(validationSet, channels, 'train (validation)');

  const rng = new Rng(options.seed);
  const dropoutRng = rng.fork();
  const optimizer = makeOptimizer(kind, learningRate, momentum);
  const losses: number[] = [];
  const validation: { iteration: number; loss: number }[] = [];
  const start = Date.now();
  let stoppedEarly = false;

  setDropoutSeedSource(model, () => dropoutRng.nextUint32());
  try {
    for (let it = 1; it <= iterations; it++) {
      const tiles: Tile[] = [];
      for (let b = 0; b < batchSize; b++) {
        const sample = trainSet[rng.int(0, trainSet.length - 1)]!;
        const [oy, ox] = randomOutputOrigin(rng, [sample.image.height, sample.image.width], geo.output);
        let tile = cutTile(sample, geo, oy, ox);
        if (options.augment) tile = options.augment(tile, geo, channels, rng);
        tiles.push(tile);
      }
      const loss = trainStep(model, optimizer, tiles, geo, channels);
      if (!Number.isFinite(loss)) throw new Error(`train: loss became ${loss} at iteration ${it}; lower the learning rate (now ${learningRate})`);
      losses.push(loss);

      let validationLoss: number | undefined;
      if (validationSet.length > 0 && validateEvery > 0 && (it % validateEvery === 0 || it === iterations)) {
        validationLoss = evaluateLoss(model, validationSet);
        validation.push({ iteration: it, loss: validationLoss });
      }
      const elapsedMs = Date.now() - start;
      options.onProgress?.({
        iteration: it,
        iterations,
        loss,
        elapsedMs,
        etaMs: (elapsedMs / it) * (iterations - it),
        ...(validationLoss === undefined ? {} : { validationLoss }),
      });
      // Let signal handlers and timers run between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) {
        stoppedEarly = it < iterations;
        break;
      }
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
    momentum: kind === 'sgd' ? momentum : null,
    batchSize,
    tileSize: geo.input,
    outputSize: geo.output,
    finalLoss: losses[losses.length - 1]!,
    recentLoss: recent.reduce((a, b) => a + b, 0) / recent.length,
    losses,
    validation,
    seconds: (Date.now() - start) / 1000,
    stoppedEarly,
  };
}

/** One optimisation step on a batch of tiles; returns the loss before the update. */
export function trainStep(model: tfl.LayersModel, optimizer: tf.Optimizer, tiles: readonly Tile[], geo: TileGeometry, channels: number): number {
  const [inH, inW] = geo.input;
  return tf.tidy(() => {
    const { x, y, w } = batchTensors(tiles, inH, inW, channels);
    const cost = optimizer.minimize(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor4D;
      return weightedSoftmaxCrossEntropy(logits, y, w);
    }, true);
    return cost!.dataSync()[0]!;
  });
}

function batchTensors(tiles: readonly Tile[], inH: number, inW: number, channels: number): { x: tf.Tensor4D; y: tf.Tensor3D; w: tf.Tensor3D } {
  const n = tiles.length;
  const px = inH * inW;
  const xs = new Float32Array(n * px * channels);
  const ys = new Int32Array(n * px);
  const ws = new Float32Array(n * px);
  tiles.forEach((t, i) => {
    xs.set(t.image, i * px * channels);
    ys.set(t.labels, i * px);
    ws.set(t.weights, i * px);
  });
  return { x: tf.tensor4d(xs, [n, inH, inW, channels]), y: tf.tensor3d(ys, [n, inH, inW], 'int32'), w: tf.tensor3d(ws, [n, inH, inW]) };
}

/**
 * Mean loss of `model` (inference mode) over output tiles covering each image,
 * the last tile of a row/column flush with the border (so border pixels can be
 * counted twice); every tile counts equally.
 */
export function evaluateLoss(model: tfl.LayersModel, samples: readonly TrainingSample[]): number {
  const geo = tileGeometry(model);
  const channels = model.inputs[0]!.shape[3]!;
  let sum = 0;
  let count = 0;
  for (const s of samples) {
    for (const oy of coveringOrigins(s.image.height, geo.output[0])) {
      for (const ox of coveringOrigins(s.image.width, geo.output[1])) {
        const tile = cutTile(s, geo, oy, ox);
        sum += tf.tidy(() => {
          const { x, y, w } = batchTensors([tile], geo.input[0], geo.input[1], channels);
          const logits = model.apply(x, { training: false }) as tf.Tensor4D;
          return weightedSoftmaxCrossEntropy(logits, y, w).dataSync()[0]!;
        });
        count++;
      }
    }
  }
  return sum / count;
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
