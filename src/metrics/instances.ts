/**
 * Instance-segmentation metrics on instance-id maps (flat H x W arrays; 0 = background,
 * 1..N = one object each, ids need not be contiguous): IoU matching, TP/FP/FN, precision,
 * recall, F1, the DSB2018 average precision and the Cell Tracking Challenge SEG measure.
 */
import { contingencyTable } from './contingency.js';
import { maxWeightAssignment } from './assignment.js';

/** Object ids, areas and the pairwise intersections of two instance maps (background 0 excluded). */
export interface InstanceOverlaps {
  readonly truthIds: readonly number[];
  readonly predIds: readonly number[];
  readonly truthAreas: readonly number[];
  readonly predAreas: readonly number[];
  /** Non-zero intersections: indices into truthIds / predIds, with |T ∩ P| and IoU. */
  readonly pairs: readonly { readonly t: number; readonly p: number; readonly intersection: number; readonly iou: number }[];
}

export function instanceOverlaps(truth: ArrayLike<number>, pred: ArrayLike<number>): InstanceOverlaps {
  const table = contingencyTable(truth, pred, false, 'instanceOverlaps');
  const truthIds = [...table.truthSizes.keys()].filter((id) => id !== 0).sort((a, b) => a - b);
  const predIds = [...table.predSizes.keys()].filter((id) => id !== 0).sort((a, b) => a - b);
  const tIndex = new Map(truthIds.map((id, k) => [id, k]));
  const pIndex = new Map(predIds.map((id, k) => [id, k]));
  const truthAreas = truthIds.map((id) => table.truthSizes.get(id)!);
  const predAreas = predIds.map((id) => table.predSizes.get(id)!);
  const pairs: { t: number; p: number; intersection: number; iou: number }[] = [];
  for (let c = 0; c < table.counts.length; c++) {
    const ti = table.truthIds[c]!;
    const pi = table.predIds[c]!;
    if (ti === 0 || pi === 0) continue;
    const t = tIndex.get(ti)!;
    const p = pIndex.get(pi)!;
    const inter = table.counts[c]!;
    pairs.push({ t, p, intersection: inter, iou: inter / (truthAreas[t]! + predAreas[p]! - inter) });
  }
  return { truthIds, predIds, truthAreas, predAreas, pairs };
}

export interface MatchOptions {
  /** A pair can match only if IoU > threshold (strictly, as DSB2018). Default 0.5. */
  readonly iouThreshold?: number;
  /**
   * 'hungarian' (default): the largest number of matches, ties broken by the largest total IoU.
   * 'greedy': pairs in decreasing IoU, each object used once. For thresholds >= 0.5 both give
   * the same result, because an object can then have at most one partner with IoU > 0.5.
   */
  readonly method?: 'hungarian' | 'greedy';
}

export interface InstanceMatching {
  readonly threshold: number;
  /** Matched pairs as instance ids with their IoU. */
  readonly matches: readonly { readonly truth: number; readonly pred: number; readonly iou: number }[];
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  /** tp / (tp + fp); 1 when there are no predictions and no truth objects, 0 with no predictions only. */
  readonly precision: number;
  /** tp / (tp + fn); 1 when there are no truth objects and no predictions. */
  readonly recall: number;
  /** 2 tp / (2 tp + fp + fn); 1 when both maps are empty. */
  readonly f1: number;
  /** Mean IoU of the matched pairs (NaN without matches). */
  readonly meanMatchedIoU: number;
}

/** Matches instances from precomputed overlaps (see {@link matchInstances}). */
export function matchOverlaps(o: InstanceOverlaps, options: MatchOptions = {}): InstanceMatching {
  const threshold = options.iouThreshold ?? 0.5;
  if (!(threshold >= 0 && threshold < 1)) throw new Error(`matchInstances: iouThreshold must be in [0, 1), got ${threshold}`);
  const candidates = o.pairs.filter((q) => q.iou > threshold);
  const chosen: { t: number; p: number; iou: number }[] = [];
  if (threshold >= 0.5 || (options.method ?? 'hungarian') === 'greedy') {
    // With IoU > 0.5 every object has at most one candidate partner: greedy is exact.
    const usedT = new Set<number>();
    const usedP = new Set<number>();
    for (const q of [...candidates].sort((a, b) => b.iou - a.iou)) {
      if (usedT.has(q.t) || usedP.has(q.p)) continue;
      usedT.add(q.t);
      usedP.add(q.p);
      chosen.push(q);
    }
  } else {
    const rowsIds = [...new Set(candidates.map((q) => q.t))];
    const colsIds = [...new Set(candidates.map((q) => q.p))];
    const r = new Map(rowsIds.map((id, k) => [id, k]));
    const c = new Map(colsIds.map((id, k) => [id, k]));
    // Weight (K + IoU) with K > number of objects: more matches always win, then total IoU.
    const big = Math.max(rowsIds.length, colsIds.length) + 1;
    const w = new Float64Array(rowsIds.length * colsIds.length);
    for (const q of candidates) w[r.get(q.t)! * colsIds.length + c.get(q.p)!] = big + q.iou;
    const assign = maxWeightAssignment(w, rowsIds.length, colsIds.length);
    assign.forEach((col, row) => {
      if (col < 0) return;
      const weight = w[row * colsIds.length + col]!;
      chosen.push({ t: rowsIds[row]!, p: colsIds[col]!, iou: weight - big });
    });
  }
  const tp = chosen.length;
  const fp = o.predIds.length - tp;
  const fn = o.truthIds.length - tp;
  const empty = o.predIds.length === 0 && o.truthIds.length === 0;
  return {
    threshold,
    matches: chosen.map((q) => ({ truth: o.truthIds[q.t]!, pred: o.predIds[q.p]!, iou: q.iou })).sort((a, b) => a.truth - b.truth),
    tp,
    fp,
    fn,
    precision: empty ? 1 : tp + fp === 0 ? 0 : tp / (tp + fp),
    recall: empty ? 1 : tp + fn === 0 ? 0 : tp / (tp + fn),
    f1: empty ? 1 : (2 * tp) / (2 * tp + fp + fn),
    meanMatchedIoU: tp === 0 ? NaN : chosen.reduce((s, q) => s + q.iou, 0) / tp,
  };
}

/**
 * One-to-one matching of truth and predicted objects by IoU, and the detection counts.
 *
 * @example truth one object {1,1,1,1}, pred the same pixels split into ids 1 1 2 2:
 *   IoUs 0.5 and 0.5, none > 0.5 -> tp 0, fp 2, fn 1, F1 0
 */
export function matchInstances(truth: ArrayLike<number>, pred: ArrayLike<number>, options: MatchOptions = {}): InstanceMatching {
  return matchOverlaps(instanceOverlaps(truth, pred), options);
}

/** IoU thresholds 0.5, 0.55, ..., 0.95 of the DSB2018 metric (computed, not accumulated). */
export const DSB_THRESHOLDS: readonly number[] = Array.from({ length: 10 }, (_, k) => Math.round((0.5 + 0.05 * k) * 100) / 100);

export interface AveragePrecision {
  /** Mean over thresholds of tp / (tp + fp + fn). */
  readonly ap: number;
  readonly perThreshold: readonly { readonly threshold: number; readonly tp: number; readonly fp: number; readonly fn: number; readonly precision: number }[];
}

/**
 * The Data Science Bowl 2018 score of one image: for each IoU threshold t in `thresholds`,
 * a match is a pair with IoU > t, and precision(t) = TP / (TP + FP + FN); AP is their mean.
 * With no objects in either map precision(t) is 1 (nothing to find, nothing wrong).
 *
 * @example perfect prediction -> 1; the merged-pair example of the tests gives 0 at every t.
 */
export function dsbAveragePrecision(truth: ArrayLike<number>, pred: ArrayLike<number>, thresholds: readonly number[] = DSB_THRESHOLDS): AveragePrecision {
  const o = instanceOverlaps(truth, pred);
  const perThreshold = thresholds.map((threshold) => {
    const m = matchOverlaps(o, { iouThreshold: threshold, method: 'greedy' });
    const d = m.tp + m.fp + m.fn;
    return { threshold, tp: m.tp, fp: m.fp, fn: m.fn, precision: d === 0 ? 1 : m.tp / d };
  });
  return { ap: perThreshold.reduce((s, p) => s + p.precision, 0) / perThreshold.length, perThreshold };
}

export interface SegMeasure {
  /** Mean Jaccard over reference objects; NaN when the reference has no objects. */
  readonly seg: number;
  /** Per reference object (in truthIds order): its Jaccard index, 0 when unmatched. */
  readonly perObject: readonly { readonly truth: number; readonly jaccard: number }[];
}

/**
 * SEG of the Cell Tracking Challenge (Ulman et al. 2017, Nat. Methods 14:1141; Maška et al.
 * 2014): a reference object R and a segmented object S match iff |R ∩ S| > 0.5 |R| (so S is
 * unique); the object's score is J = |R ∩ S| / |R ∪ S|, or 0 without a match; SEG is the mean over
 * all reference objects (false positives are not penalised).
 *
 * @example R = 4 pixels, S covers 3 of them plus 1 more -> |R∩S| = 3 > 2, J = 3/5
 */
export function segMeasure(truth: ArrayLike<number>, pred: ArrayLike<number>): SegMeasure {
  const o = instanceOverlaps(truth, pred);
  const best = new Float64Array(o.truthIds.length);
  for (const q of o.pairs) if (q.intersection > 0.5 * o.truthAreas[q.t]!) best[q.t] = q.iou;
  const perObject = o.truthIds.map((id, k) => ({ truth: id, jaccard: best[k]! }));
  return { seg: perObject.length === 0 ? NaN : perObject.reduce((s, q) => s + q.jaccard, 0) / perObject.length, perObject };
}
