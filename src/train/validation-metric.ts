/**
 * The task's metric on the validation images during training (issue 14 §4): the validation loss
 * says how well the pixels are classified, not whether touching cells come out separate or
 * membranes closed. So at validation steps the current weights predict every validation image
 * whole, by overlap-tile inference (src/infer/predict.ts, the path `unet predict` takes), and the
 * prediction is scored as the task is:
 * - 'instances': F1 at IoU 0.5 (and the DSB 2018 mAP, precision, recall) of the instances that the
 *   given post-processing makes from the probabilities (src/infer/instances.ts; the untuned
 *   default during training, since tuning runs only at the end), mean over images;
 * - 'vrand': foreground-restricted V_rand after thinning (ISBI 2012, src/metrics/isbi.ts), pair
 *   counts pooled over the images, at the single threshold 0.5 on the interior probability (the
 *   argmax), not the challenge's 11-threshold sweep: one threshold keeps it cheap;
 * - 'mean-iou': mean over classes of the IoU of the argmax, from one confusion matrix pooled over
 *   the images (classes absent from truth and prediction do not count).
 * Every score is higher-is-better; `best` checkpoints are chosen by it (checkpoint-files.ts).
 * No randomness is drawn (inference mode: dropout is off), so training with the metric reaches the
 * same weights as training without it. Browser-safe: no file access.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InstancePostprocess } from '../io/model-format.js';
import { defaultInstancePostprocess, instancesFromProbabilities } from '../infer/instances.js';
import { predict } from '../infer/predict.js';
import { tfjsPredictorOpener, type PredictorOpener } from '../infer/predictor.js';
import { dsbAveragePrecision, instanceOverlaps, matchOverlaps } from '../metrics/instances.js';
import { isbiSliceScores, isbiStackScores } from '../metrics/isbi.js';
import { confusionMatrix, nanMean, perClassScores } from '../metrics/pixel.js';
import type { TrainingSample } from './tiles.js';

/** Which metric, as data (see the module doc). */
export type ValidationMetric =
  | { readonly kind: 'instances'; readonly postprocess: InstancePostprocess }
  | { readonly kind: 'vrand'; readonly interiorClass: number }
  | { readonly kind: 'mean-iou' };

export interface MetricScores {
  /** Name of the primary score, e.g. 'F1@0.5'. */
  readonly name: string;
  /** The primary score (higher is better). */
  readonly value: number;
  /** Every score computed, by short name (e.g. { f1, dsbAP, precision, recall }). */
  readonly scores: Readonly<Record<string, number>>;
  readonly images: number;
  /** Wall-clock seconds the prediction and scoring took. */
  readonly seconds: number;
}

/** One validation step of the training history. */
export interface ValidationEntry {
  readonly iteration: number;
  readonly loss: number;
  /** The primary metric score, when a metric was computed at this step. */
  readonly metric?: number;
  readonly scores?: Readonly<Record<string, number>>;
}

/**
 * The metric of a label mode (src/io/dataset.ts LabelMode): instances -> F1@0.5 with the mode's
 * untuned post-processing; binary -> V_rand of the cell interior, the class of the label pixels
 * above the threshold (class 1, or class 0 with `invert`, as for ISBI membranes); classes -> mean IoU.
 *
 * @example metricForLabelMode({ mode: 'binary', invert: true }) // { kind: 'vrand', interiorClass: 0 }
 */
export function metricForLabelMode(mode: { readonly mode: 'binary' | 'classes' | 'instances'; readonly invert?: boolean; readonly targets?: 'separated' | 'boundary' }): ValidationMetric {
  if (mode.mode === 'instances') return { kind: 'instances', postprocess: defaultInstancePostprocess(mode) };
  if (mode.mode === 'binary') return { kind: 'vrand', interiorClass: mode.invert ? 0 : 1 };
  return { kind: 'mean-iou' };
}

/** @example metricName({ kind: 'mean-iou' }) === 'mean IoU' */
export function metricName(metric: ValidationMetric): string {
  return metric.kind === 'instances' ? 'F1@0.5' : metric.kind === 'vrand' ? 'V_rand' : 'mean IoU';
}

/**
 * Whether validation entry `a` is better than `b`: by the metric (higher) when both carry one, by
 * the loss (lower) otherwise. Ties are not better, so the earlier entry stays best.
 *
 * @example isBetterValidation({ iteration: 2, loss: 0.5, metric: 0.8 }, { iteration: 1, loss: 0.3, metric: 0.7 }) === true
 * @example isBetterValidation({ iteration: 2, loss: 0.5 }, { iteration: 1, loss: 0.3 }) === false
 */
export function isBetterValidation(a: ValidationEntry, b: ValidationEntry): boolean {
  const am = a.metric;
  const bm = b.metric;
  if (typeof am === 'number' && Number.isFinite(am) && typeof bm === 'number' && Number.isFinite(bm)) return am > bm;
  return a.loss < b.loss;
}

/** The best entry of a history under {@link isBetterValidation} (the first of equals), or null when empty. */
export function bestValidation(entries: readonly ValidationEntry[]): ValidationEntry | null {
  let best: ValidationEntry | null = null;
  for (const e of entries) if (best === null || isBetterValidation(e, best)) best = e;
  return best;
}

/**
 * Mean weighted cross-entropy, -w(x) log p_label(x), of class probabilities against class
 * labels over every pixel: the training loss (src/loss/cross-entropy.ts) of a whole predicted
 * image instead of a tile. Pixels whose label is outside [0, K) add nothing (as in training) but
 * count in the mean; a probability of 0 counts as the smallest float32 one (log = -87.3).
 * Returns the sum and the pixel count, so that images pool.
 *
 * @example weightedCrossEntropyOfProbabilities(Float32Array.of(0.25, 0.75), 2, [1], Float32Array.of(2)) // { sum: 0.5754, pixels: 1 }
 */
export function weightedCrossEntropyOfProbabilities(probabilities: ArrayLike<number>, classes: number, labels: ArrayLike<number>, weights?: ArrayLike<number>): { sum: number; pixels: number } {
  if (probabilities.length !== labels.length * classes) {
    throw new Error(`weightedCrossEntropyOfProbabilities: ${probabilities.length} probabilities for ${labels.length} pixels of ${classes} classes`);
  }
  if (weights && weights.length !== labels.length) throw new Error(`weightedCrossEntropyOfProbabilities: ${weights.length} weights for ${labels.length} pixels`);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    if (!(c >= 0 && c < classes)) continue;
    sum -= (weights ? weights[i]! : 1) * Math.log(Math.max(probabilities[i * classes + c]!, FLOAT32_MIN_NORMAL));
  }
  return { sum, pixels: labels.length };
}

const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

export interface ValidationOptions {
  /** Tiles per network call; default 1 (the training batch keeps memory at what training uses). */
  readonly batchSize?: number;
  /** Which engine predicts; default {@link tfjsPredictorOpener}. */
  readonly openPredictor?: PredictorOpener;
}

/** What one validation pass measured: the loss, and the metric's scores when one was asked. */
export interface ValidationScores {
  /** {@link weightedCrossEntropyOfProbabilities} pooled over every pixel of the validation images. */
  readonly loss: number;
  readonly metric?: MetricScores;
  /** Wall-clock seconds of the whole pass. */
  readonly seconds: number;
}

/**
 * One validation pass over `samples` with the current weights of `model`: each image is
 * predicted once, whole, by overlap-tile inference (each pixel counted once), and both the
 * validation loss and (given `metric`) the task's metric come from that prediction. Tiles are the
 * model's own input size, `batchSize` per call (the training batch keeps memory at what training
 * already uses). Instance scoring needs each sample's `instances`.
 */
export async function evaluateValidation(model: tfl.LayersModel, samples: readonly TrainingSample[], metric?: ValidationMetric, options: ValidationOptions = {}): Promise<ValidationScores> {
  if (samples.length === 0) throw new Error('evaluateValidation: no validation images');
  const start = Date.now();
  const opened = await (options.openPredictor ?? tfjsPredictorOpener)(model);
  const predictor = opened.predictor;
  const K = predictor.classes;
  if (metric?.kind === 'vrand' && !(Number.isInteger(metric.interiorClass) && metric.interiorClass >= 0 && metric.interiorClass < K)) {
    throw new Error(`evaluateValidation: interiorClass ${metric.interiorClass} is not one of the model's classes 0..${K - 1}`);
  }
  let lossSum = 0;
  let lossPixels = 0;
  const f1s: number[] = [];
  const aps: number[] = [];
  let tp = 0;
  let fp = 0;
  let fn = 0;
  const sweeps: ReturnType<typeof isbiSliceScores>[] = [];
  const confusion = new Float64Array(K * K);
  try {
    for (const s of samples) {
      const { height: H, width: W } = s.image;
      const p = await predict(s.image, predictor, {
        batchSize: options.batchSize ?? 1,
        source: s.name,
        outputs: { probabilities: true, mask: metric?.kind === 'mean-iou', ...(metric?.kind === 'vrand' ? { foregroundClasses: [metric.interiorClass] } : {}) },
      });
      const ce = weightedCrossEntropyOfProbabilities(p.probabilities!.data, K, s.labels.data, s.weights?.data);
      lossSum += ce.sum;
      lossPixels += ce.pixels;
      if (metric?.kind === 'instances') {
        if (!s.instances) throw new Error(`evaluateValidation: validation image ${s.name} has no instance ids (TrainingSample.instances; loadDataset sets them for instance labels)`);
        const pred = instancesFromProbabilities(p.probabilities!, metric.postprocess).labels;
        const m = matchOverlaps(instanceOverlaps(s.instances, pred), { iouThreshold: 0.5 });
        f1s.push(m.f1);
        tp += m.tp;
        fp += m.fp;
        fn += m.fn;
        aps.push(dsbAveragePrecision(s.instances, pred).ap);
      } else if (metric?.kind === 'vrand') {
        const truth = new Uint8Array(H * W);
        for (let i = 0; i < truth.length; i++) truth[i] = s.labels.data[i] === metric.interiorClass ? 1 : 0;
        // V_rand after thinning, as the ISBI 2012 final metric; 0.5 = the argmax of a 2-class model.
        sweeps.push(isbiSliceScores(truth, p.foreground!.data, H, W, { thresholds: [0.5], legacy: false }));
      } else if (metric?.kind === 'mean-iou') {
        const cm = confusionMatrix(s.labels.data, p.mask!.data, K);
        for (let i = 0; i < confusion.length; i++) confusion[i]! += cm.counts[i]!;
      }
    }
  } finally {
    await opened.close();
  }
  const loss = lossSum / lossPixels;
  const seconds = (): number => (Date.now() - start) / 1000;
  if (!metric) return { loss, seconds: seconds() };
  const mean = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  let value: number;
  let scores: Record<string, number>;
  if (metric.kind === 'instances') {
    value = mean(f1s);
    // Precision and recall pooled over the images (object counts), beside the per-image means.
    scores = { f1: value, dsbAP: mean(aps), precision: tp + fp === 0 ? 1 : tp / (tp + fp), recall: tp + fn === 0 ? 1 : tp / (tp + fn) };
  } else if (metric.kind === 'vrand') {
    value = isbiStackScores(sweeps).vRand;
    scores = { vRand: value };
  } else {
    const per = perClassScores({ classes: K, counts: confusion });
    value = nanMean(per.map((c) => c.iou));
    scores = { meanIoU: value };
  }
  const elapsed = seconds();
  return { loss, metric: { name: metricName(metric), value, scores, images: samples.length, seconds: elapsed }, seconds: elapsed };
}

/** The validation loss alone: {@link evaluateValidation} without a metric. */
export async function evaluateLoss(model: tfl.LayersModel, samples: readonly TrainingSample[], options: ValidationOptions = {}): Promise<number> {
  return (await evaluateValidation(model, samples, undefined, options)).loss;
}

/** The task's metric alone: {@link evaluateValidation}'s scores for `metric`. */
export async function evaluateMetric(model: tfl.LayersModel, samples: readonly TrainingSample[], metric: ValidationMetric, options: ValidationOptions = {}): Promise<MetricScores> {
  return (await evaluateValidation(model, samples, metric, options)).metric!;
}
