/**
 * K-fold cross-validation (nnU-Net's 5 folds): a seeded split of the image list into K folds,
 * each fold once the validation set of a model trained on the others, and the summary of the
 * per-fold scores (mean and sample standard deviation). Pure; randomness only from the seeded Rng.
 */
import { Rng } from '../util/rng.js';
import type { EvaluationMode } from './evaluate.js';

export interface Fold {
  /** Indices into the item list. */
  readonly train: number[];
  readonly validation: number[];
}

/**
 * Splits `count` items into `k` folds of sizes differing by at most one: a Fisher-Yates shuffle
 * with `new Rng(seed)`, then item j of the shuffled order goes to fold j mod k. Indices in each
 * list are sorted.
 * @example kFoldSplit(5, 5, 1) -> 5 folds, each validating on one item and training on the other 4
 */
export function kFoldSplit(count: number, k: number, seed: number): Fold[] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`kFoldSplit: k must be an integer >= 2, got ${k}`);
  if (!Number.isInteger(count) || count < k) throw new Error(`kFoldSplit: need at least k = ${k} items, got ${count}`);
  const rng = new Rng(seed);
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const byFold: number[][] = Array.from({ length: k }, () => []);
  order.forEach((item, j) => byFold[j % k]!.push(item));
  return byFold.map((validation) => {
    const inVal = new Set(validation);
    return { validation: [...validation].sort((a, b) => a - b), train: order.filter((i) => !inVal.has(i)).sort((a, b) => a - b) };
  });
}

export interface ScoreSummary {
  readonly mean: number;
  /** Sample standard deviation (n - 1); NaN for one value. */
  readonly std: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/**
 * Mean, spread and range of each numeric field over the folds (fields that are not finite
 * numbers in a fold are left out of that field's summary).
 * @example summarizeScores([{ f1: 0.5 }, { f1: 0.7 }]).f1 -> { mean: 0.6, std: 0.1414..., min: 0.5, max: 0.7, n: 2 }
 */
export function summarizeScores(rows: readonly Record<string, unknown>[]): Record<string, ScoreSummary> {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const out: Record<string, ScoreSummary> = {};
  for (const key of keys) {
    const v = rows.map((r) => r[key]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    if (v.length === 0) continue;
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : NaN;
    out[key] = { mean, std, min: Math.min(...v), max: Math.max(...v), n: v.length };
  }
  return out;
}

/** The scores a cross-validation summarises per evaluation mode (the evaluate table's columns). */
export const HEADLINE_SCORES: Readonly<Record<EvaluationMode, readonly string[]>> = {
  membrane: ['vRand', 'vInfo', 'randError', 'pixelError', 'warpingError'],
  instances: ['f1', 'precision', 'recall', 'dsbAP', 'seg'],
  classes: ['pixelAccuracy', 'meanIoU', 'meanDice'],
};

/**
 * The evaluation mode that scores a model trained with `labelMode` (binary labels are membrane-like masks).
 * @example evaluationModeFor('instances') === 'instances'; evaluationModeFor('binary') === 'membrane'
 */
export function evaluationModeFor(labelMode: string): EvaluationMode {
  return labelMode === 'instances' ? 'instances' : labelMode === 'classes' ? 'classes' : 'membrane';
}

/**
 * The headline scores of one evaluation document (evaluationJson in src/eval/evaluate.ts):
 * membrane from the stack row (counts pooled over slices, as the ISBI reference) with its
 * warping error, the other modes from the mean row; only finite numbers are kept.
 * @example headlineScores({ mode: 'instances', mean: { f1: 0.8, image: 'mean' } }) -> { f1: 0.8 }
 */
export function headlineScores(doc: { readonly mode: EvaluationMode; readonly mean: Record<string, unknown>; readonly stack?: Record<string, unknown> | null }): Record<string, number> {
  const stack = doc.stack ?? undefined;
  const row: Record<string, unknown> = doc.mode === 'membrane' && stack ? { ...stack, warpingError: (stack.warping as { warpingError?: number } | undefined)?.warpingError } : doc.mean;
  const scores: Record<string, number> = {};
  for (const c of HEADLINE_SCORES[doc.mode]) {
    const v = row[c];
    if (typeof v === 'number' && Number.isFinite(v)) scores[c] = v;
  }
  return scores;
}
