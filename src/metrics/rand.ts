/**
 * Rand-index family on label maps (flat H x W arrays of non-negative integer ids).
 *
 * Main entry: {@link adaptedRand}, the foreground-restricted Rand scoring V^Rand of the
 * ISBI 2012 challenge (Arganda-Carreras et al. 2015, Front. Neuroanat. 9:142, eqs. for
 * V^Rand_split / V^Rand_merge), as implemented in Fiji's Trainable Weka Segmentation
 * (RandError.getForegroundRestrictedRandIndexStatsN2):
 *
 *   p_ij = n_ij / n over truth-foreground pixels (truth id i != 0), pred id j
 *   t_i  = sum_j p_ij            (truth segment sizes, including the pred-0 column)
 *   s_j  = sum_{i != 0} p_ij     (pred segment sizes)
 *   V_split = sum_ij p_ij^2 / sum_j s_j^2        V_merge = sum_ij p_ij^2 / sum_i t_i^2
 *   V_Rand  = 2 V_split V_merge / (V_split + V_merge) = 2 sum p_ij^2 / (sum s_j^2 + sum t_i^2)
 *
 * Boundary convention (the reference's): truth id 0 is background/boundary and is pruned out;
 * pred id 0 (the proposal's boundary) inside the truth foreground is NOT one segment: every
 * such pixel is its own singleton segment (this is the `+ sum(p_i0)/n` term of the reference).
 * So a proposal that marks truth-interior pixels as boundary is charged as splitting them off.
 */
import { contingencyTable, type Contingency } from './contingency.js';

export interface PartitionOptions {
  /** Prune pixels whose truth id is 0 (the foreground restriction). Default true. */
  readonly ignoreTruthZero?: boolean;
  /**
   * What pred id 0 means: 'singletons' (default; each such pixel is its own segment, Fiji/ISBI)
   * or 'segment' (an ordinary segment, as scikit-image treats every test label).
   */
  readonly predZero?: 'singletons' | 'segment';
}

export interface RandOptions extends PartitionOptions {
  /**
   * Pair counting: 'squared' (default) uses n_ij^2, the "N^2 normalisation" of the ISBI
   * reference (ordered pairs with replacement); 'unordered' uses n_ij (n_ij - 1), i.e. pairs of
   * distinct pixels, as scikit-image's `adapted_rand_error` (SNEMI3D) does.
   */
  readonly pairs?: 'squared' | 'unordered';
}

/** Raw pair sums (in pixel-pair units), kept so that slices of a stack can be pooled. */
export interface RandSums {
  /** sum_ij f(n_ij): pairs together in both. */
  readonly together: number;
  /** sum_j f(s_j): pairs together in pred. */
  readonly predTogether: number;
  /** sum_i f(t_i): pairs together in truth. */
  readonly truthTogether: number;
  /** Pixels counted. */
  readonly pixels: number;
}

export interface RandScores extends RandSums {
  /** V^Rand_split = together / predTogether ("precision"; 1 = no false splits). */
  readonly split: number;
  /** V^Rand_merge = together / truthTogether ("recall"; 1 = no false merges). */
  readonly merge: number;
  /** V^Rand: harmonic mean of split and merge. 1 = identical partitions. */
  readonly vRand: number;
  /** 1 - vRand: the "adapted Rand error". */
  readonly error: number;
}

function pairFunction(pairs: 'squared' | 'unordered'): (x: number) => number {
  return pairs === 'squared' ? (x) => x * x : (x) => x * (x - 1);
}

/** Pair sums from a contingency table under `options` (see {@link adaptedRand}). */
export function randSums(table: Contingency, options: RandOptions = {}): RandSums {
  const f = pairFunction(options.pairs ?? 'squared');
  const singletons = (options.predZero ?? 'singletons') === 'singletons';
  let together = 0;
  let singletonPixels = 0;
  for (let c = 0; c < table.counts.length; c++) {
    const n = table.counts[c]!;
    if (singletons && table.predIds[c] === 0) singletonPixels += n;
    else together += f(n);
  }
  let predTogether = 0;
  for (const [id, s] of table.predSizes) if (!(singletons && id === 0)) predTogether += f(s);
  let truthTogether = 0;
  for (const t of table.truthSizes.values()) truthTogether += f(t);
  // Each singleton is a segment of size 1 in pred and in the overlap: f(1) per pixel.
  const single = singletonPixels * f(1);
  return { together: together + single, predTogether: predTogether + single, truthTogether, pixels: table.total };
}

/**
 * Scores from pair sums. Degenerate cases: no counted pixels gives NaN everywhere (undefined);
 * a zero denominator (possible only with 'unordered' pairs and all-singleton segments) means no
 * pair was together there, so that side cannot have erred and is scored 1.
 */
export function randScoresFromSums(s: RandSums): RandScores {
  if (s.pixels === 0) return { ...s, split: NaN, merge: NaN, vRand: NaN, error: NaN };
  const split = s.predTogether === 0 ? 1 : s.together / s.predTogether;
  const merge = s.truthTogether === 0 ? 1 : s.together / s.truthTogether;
  const vRand = split + merge === 0 ? 0 : (2 * split * merge) / (split + merge);
  return { ...s, split, merge, vRand, error: 1 - vRand };
}

/** Sums pair counts of several slices (the reference pools TP/FP/FN over a stack, then scores). */
export function poolRandSums(parts: readonly RandSums[]): RandSums {
  const out = { together: 0, predTogether: 0, truthTogether: 0, pixels: 0 };
  for (const p of parts) {
    out.together += p.together;
    out.predTogether += p.predTogether;
    out.truthTogether += p.truthTogether;
    out.pixels += p.pixels;
  }
  return out;
}

/**
 * Foreground-restricted Rand scoring V^Rand with split and merge parts (see the module doc for
 * the formulas and the boundary convention). Inputs are segment-id maps, e.g. 4-connected
 * components of binarised maps, with 0 = boundary/background.
 *
 * @example one truth cell split in two by the proposal (truth 1 1 1 1, pred 1 1 2 2):
 *   sum p^2 = (2^2 + 2^2)/16 = 0.5, sum s^2 = 0.5, sum t^2 = 1
 *   -> split 1, merge 0.5, vRand 2/3
 * @example two truth cells merged (truth 1 1 2 2, pred 1 1 1 1): split 0.5, merge 1, vRand 2/3
 * @example proposal boundary inside a truth cell (truth 1 1 1 1, pred 1 1 1 0):
 *   overlap counts 9 + 1 (singleton) = 10, pred 10, truth 16 -> split 1, merge 10/16
 */
export function adaptedRand(truth: ArrayLike<number>, pred: ArrayLike<number>, options: RandOptions = {}): RandScores {
  const table = contingencyTable(truth, pred, options.ignoreTruthZero ?? true, 'adaptedRand');
  return randScoresFromSums(randSums(table, options));
}

/**
 * Classic Rand index (Rand 1971) over all pixels, every id (0 included) an ordinary segment:
 * RI = (C(N,2) + 2 sum C(n_ij,2) - sum C(t_i,2) - sum C(s_j,2)) / C(N,2), the fraction of pixel
 * pairs on which the two partitions agree. Returns 1 for N < 2.
 *
 * @example truth 1 1 2 2, pred 1 1 1 1: 6 pairs, 2 agree (the two within-truth pairs) -> 1/3
 */
export function randIndex(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  const table = contingencyTable(truth, pred, false, 'randIndex');
  const c2 = (x: number): number => (x * (x - 1)) / 2;
  const n = table.total;
  if (n < 2) return 1;
  let both = 0;
  for (const x of table.counts) both += c2(x);
  let t = 0;
  for (const x of table.truthSizes.values()) t += c2(x);
  let s = 0;
  for (const x of table.predSizes.values()) s += c2(x);
  return (c2(n) + 2 * both - t - s) / c2(n);
}
