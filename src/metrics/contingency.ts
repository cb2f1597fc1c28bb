/**
 * Contingency table (overlap counts) of two label maps of the same H x W size: the
 * common ground of the Rand, information-theoretic and instance metrics.
 * Browser-safe: typed arrays and Maps only.
 */

/** Validates that two flat H x W maps have the same length; names the caller and both sizes. */
export function checkSameSize(a: ArrayLike<number>, b: ArrayLike<number>, caller: string, names: readonly [string, string] = ['truth', 'pred']): void {
  if (a.length !== b.length) throw new Error(`${caller}: ${names[0]} has ${a.length} pixels but ${names[1]} has ${b.length}; they must be the same H x W size`);
  if (a.length === 0) throw new Error(`${caller}: empty label maps`);
}

/**
 * Sparse contingency table n_ij = #{pixels with truth label i and pred label j}.
 * Labels are non-negative integers (ids need not be compact).
 */
export interface Contingency {
  /** Pixels counted (all, or those with truth label != 0 when `ignoreTruthZero`). */
  readonly total: number;
  /** Non-empty cells, one entry per (truth id, pred id) pair: parallel arrays. */
  readonly truthIds: Int32Array;
  readonly predIds: Int32Array;
  readonly counts: Float64Array;
  /** Row sums a_i (truth segment sizes) and column sums b_j (pred segment sizes), over counted pixels. */
  readonly truthSizes: Map<number, number>;
  readonly predSizes: Map<number, number>;
}

/**
 * Builds the table in one pass, O(pixels). Pixels whose truth label is 0 are skipped when
 * `ignoreTruthZero` (the foreground restriction of Arganda-Carreras et al. 2015: the
 * ground truth's background/boundary is pruned out; the proposal's label 0 is kept as a
 * column and the caller decides what it means).
 *
 * @example
 *   // truth 1 1 2 2, pred 5 5 5 0  ->  cells (1,5):2, (2,5):1, (2,0):1
 *   contingencyTable(Int32Array.of(1,1,2,2), Int32Array.of(5,5,5,0)).counts  // [2, 1, 1]
 */
export function contingencyTable(truth: ArrayLike<number>, pred: ArrayLike<number>, ignoreTruthZero = false, caller = 'contingencyTable'): Contingency {
  checkSameSize(truth, pred, caller);
  let maxPred = 0;
  for (let k = 0; k < pred.length; k++) {
    const p = pred[k]!;
    if (!(p >= 0) || !Number.isInteger(p)) throw new Error(`${caller}: pred label at pixel ${k} is ${p}; labels must be non-negative integers`);
    if (p > maxPred) maxPred = p;
  }
  const stride = maxPred + 1;
  const cells = new Map<number, number>();
  let total = 0;
  // Neighbouring pixels usually share their (truth, pred) pair: count runs, touch the Map once per run.
  let runKey = -1;
  let runLength = 0;
  for (let k = 0; k < truth.length; k++) {
    const t = truth[k]!;
    if (!(t >= 0) || !Number.isInteger(t)) throw new Error(`${caller}: truth label at pixel ${k} is ${t}; labels must be non-negative integers`);
    if (ignoreTruthZero && t === 0) continue;
    total++;
    const key = t * stride + pred[k]!;
    if (key === runKey) {
      runLength++;
      continue;
    }
    if (runLength > 0) cells.set(runKey, (cells.get(runKey) ?? 0) + runLength);
    runKey = key;
    runLength = 1;
  }
  if (runLength > 0) cells.set(runKey, (cells.get(runKey) ?? 0) + runLength);
  const truthIds = new Int32Array(cells.size);
  const predIds = new Int32Array(cells.size);
  const counts = new Float64Array(cells.size);
  const truthSizes = new Map<number, number>();
  const predSizes = new Map<number, number>();
  let c = 0;
  for (const [key, n] of cells) {
    const t = Math.floor(key / stride);
    const p = key - t * stride;
    truthIds[c] = t;
    predIds[c] = p;
    counts[c] = n;
    truthSizes.set(t, (truthSizes.get(t) ?? 0) + n);
    predSizes.set(p, (predSizes.get(p) ?? 0) + n);
    c++;
  }
  return { total, truthIds, predIds, counts, truthSizes, predSizes };
}
