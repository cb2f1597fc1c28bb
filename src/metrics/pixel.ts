/**
 * Pixel-wise metrics on class-index maps (flat H x W arrays, values 0..classes-1): confusion
 * matrix, pixel accuracy / error, per-class IoU (Jaccard) and Dice (F1).
 */
import { checkSameSize } from './contingency.js';

/** classes x classes counts, row = truth class, column = predicted class (row-major). */
export interface ConfusionMatrix {
  readonly classes: number;
  readonly counts: Float64Array;
}

/**
 * Counts (truth, pred) class pairs. Every value must be an integer in [0, classes).
 *
 * @example confusionMatrix(Uint8Array.of(0,1,1), Uint8Array.of(0,1,0), 2).counts  // [1,0, 1,1]
 */
export function confusionMatrix(truth: ArrayLike<number>, pred: ArrayLike<number>, classes: number): ConfusionMatrix {
  checkSameSize(truth, pred, 'confusionMatrix');
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`confusionMatrix: classes must be a positive integer, got ${classes}`);
  const counts = new Float64Array(classes * classes);
  for (let k = 0; k < truth.length; k++) {
    const t = truth[k]!;
    const p = pred[k]!;
    if (!(t >= 0 && t < classes && Number.isInteger(t))) throw new Error(`confusionMatrix: truth value ${t} at pixel ${k} is not a class index in [0, ${classes - 1}]`);
    if (!(p >= 0 && p < classes && Number.isInteger(p))) throw new Error(`confusionMatrix: pred value ${p} at pixel ${k} is not a class index in [0, ${classes - 1}]`);
    counts[t * classes + p]!++;
  }
  return { classes, counts };
}

/** Fraction of pixels whose predicted class equals the truth class. */
export function pixelAccuracy(m: ConfusionMatrix): number {
  let diag = 0;
  let total = 0;
  for (let i = 0; i < m.classes; i++) for (let j = 0; j < m.classes; j++) {
    const c = m.counts[i * m.classes + j]!;
    total += c;
    if (i === j) diag += c;
  }
  return diag / total;
}

/** 1 - pixel accuracy. @example truth 0 1 1, pred 0 1 0 -> 1/3 */
export function pixelError(m: ConfusionMatrix): number {
  return 1 - pixelAccuracy(m);
}

export interface ClassScores {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  /** tp / (tp + fp + fn); NaN when the class is absent from both truth and pred. */
  readonly iou: number;
  /** 2 tp / (2 tp + fp + fn) = F1; NaN when the class is absent from both. */
  readonly dice: number;
}

/**
 * Per-class IoU (Jaccard) and Dice (F1), one-vs-rest from the confusion matrix.
 * NaN marks classes that occur in neither map (undefined; means should skip them).
 *
 * @example truth 0 1 1, pred 0 1 0: class 1 tp 1, fn 1, fp 0 -> IoU 1/2, Dice 2/3;
 *          class 0 tp 1, fp 1 -> IoU 1/2, Dice 2/3
 */
export function perClassScores(m: ConfusionMatrix): ClassScores[] {
  const out: ClassScores[] = [];
  for (let c = 0; c < m.classes; c++) {
    const tp = m.counts[c * m.classes + c]!;
    let row = 0;
    let col = 0;
    for (let k = 0; k < m.classes; k++) {
      row += m.counts[c * m.classes + k]!;
      col += m.counts[k * m.classes + c]!;
    }
    const fn = row - tp;
    const fp = col - tp;
    const union = tp + fp + fn;
    out.push({ tp, fp, fn, iou: union === 0 ? NaN : tp / union, dice: union === 0 ? NaN : (2 * tp) / (2 * tp + fp + fn) });
  }
  return out;
}

/** Mean of the defined (non-NaN) values; NaN if none. */
export function nanMean(values: readonly number[]): number {
  let s = 0;
  let k = 0;
  for (const v of values) if (!Number.isNaN(v)) { s += v; k++; }
  return k === 0 ? NaN : s / k;
}

/** Binary pixel counts with foreground (value 1 after binarising) as the positive class. */
export interface BinaryCounts {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly tn: number;
}

/**
 * F-score of pixel similarity, 2 tp / (2 tp + fp + fn), positive = foreground. The ISBI 2012
 * "pixel error" is 1 - the maximum of this over the thresholds (Fiji PixelError). Both maps
 * empty of foreground count as identical (1).
 */
export function pixelFScore(c: BinaryCounts): number {
  const d = 2 * c.tp + c.fp + c.fn;
  return d === 0 ? 1 : (2 * c.tp) / d;
}

/** Counts foreground agreement of two 0/1 maps (nonzero = foreground). */
export function binaryCounts(truth: ArrayLike<number>, pred: ArrayLike<number>): BinaryCounts {
  checkSameSize(truth, pred, 'binaryCounts');
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let k = 0; k < truth.length; k++) {
    const t = truth[k] !== 0;
    const p = pred[k] !== 0;
    if (t && p) tp++;
    else if (p) fp++;
    else if (t) fn++;
  }
  return { tp, fp, fn, tn: truth.length - tp - fp - fn };
}
