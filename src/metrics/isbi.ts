/**
 * The ISBI 2012 EM segmentation challenge scores on one H x W slice or a stack
 * (Arganda-Carreras et al. 2015, Front. Neuroanat. 9:142, and the challenge's reference Fiji
 * scripts `RandError.getMaximalVRandAfterThinning(0, 1, 0.1, ...)`,
 * `VariationOfInformation.getMaximalVInfoAfterThinning(0, 1, 0.1)`, PixelError):
 *
 * For each threshold t of the sweep the proposal is binarised (value > t = foreground, i.e. cell
 * interior; <= t = boundary), the proposal's boundaries are thinned (Zhang-Suen, thinning.ts),
 * both maps are labelled into 4-connected foreground components (src/util/components.ts), and
 *   - V^Rand, V^Info (+ split/merge) are computed after thinning, foreground-restricted, with the
 *     proposal's boundary pixels inside the truth foreground as singletons (rand.ts, information.ts);
 *   - the older "Rand error" (ISBI 2012 leaderboard, U-Net paper Table 1) uses the same
 *     foreground-restricted Rand F-score but WITHOUT thinning: randError = 1 - max_t F;
 *   - pixel error = 1 - max_t F-score of pixel similarity (positive = foreground).
 * The reported score is the maximum over thresholds (minimum for the errors).
 *
 * Conventions: truth is a mask with nonzero = cell interior (ISBI labels: 255 interior, 0
 * membrane); proposal holds foreground (interior) probabilities in [0, 1] or a 0/1 mask. Give a
 * membrane-probability map as 1 - p. The default thresholds are generated like the reference's
 * `for (th = 0; th <= 1; th += 0.1)` loop, so the last one is 0.9999999999999999, not 1: a pixel of
 * value exactly 1 stays foreground there (binary 0/1 proposals are scored at every threshold).
 *
 * Thinning treats the image frame as boundary, so membranes touching the edge stay attached to it.
 * Not modelled: the reference's thinning is ImageJ's skeletonize; ours is textbook Zhang-Suen
 * (differences of a few pixels). Whether the reference also thins the ground truth could not be
 * checked (its thinning code was not available); we thin only the proposal by default
 * (`thinTruth` switches truth thinning on).
 */
import { labelComponents } from '../util/components.js';
import { contingencyTable } from './contingency.js';
import { informationFromTable, type InformationScores } from './information.js';
import { binaryCounts, pixelFScore, type BinaryCounts } from './pixel.js';
import { poolRandSums, randScoresFromSums, randSums, type RandScores, type RandSums } from './rand.js';
import { thinZhangSuen } from './thinning.js';

/** The ISBI 2012 reference sweep: thresholds 0, 0.1, ..., 1 of the probability map. */
export const ISBI_THRESHOLD_SWEEP = { min: 0, max: 1, step: 0.1 } as const;

/** Thresholds min, min+step, ... <= max, accumulated in floating point like the reference loop. */
export function isbiThresholds(min: number = ISBI_THRESHOLD_SWEEP.min, max: number = ISBI_THRESHOLD_SWEEP.max, step: number = ISBI_THRESHOLD_SWEEP.step): number[] {
  if (!(step > 0) || !(max >= min)) throw new Error(`isbiThresholds: need step > 0 and max >= min, got min ${min}, max ${max}, step ${step}`);
  const out: number[] = [];
  for (let t = min; t <= max; t += step) out.push(t);
  return out;
}

export interface IsbiOptions {
  /** Binarisation thresholds (default {@link isbiThresholds}(): 11 values 0..1). */
  readonly thresholds?: readonly number[];
  /** Thin the proposal's boundaries before V^Rand / V^Info (default true, the final ISBI metric). */
  readonly thin?: boolean;
  /** Also thin the truth's boundaries (default false; see the module doc). */
  readonly thinTruth?: boolean;
  /** Also compute the unthinned Rand error and the pixel error (default true). */
  readonly legacy?: boolean;
}

export interface IsbiThresholdStats {
  readonly threshold: number;
  /** After thinning (when enabled). */
  readonly rand: RandScores;
  readonly info: InformationScores;
  /** Without thinning, for the older Rand error (absent when `legacy` is false). */
  readonly randUnthinned?: RandScores;
  readonly pixel?: BinaryCounts;
  readonly pixelF?: number;
}

export interface IsbiSliceScores {
  readonly perThreshold: readonly IsbiThresholdStats[];
  /** max over thresholds of V^Rand (after thinning) and the threshold where it is reached. */
  readonly vRand: number;
  readonly vRandThreshold: number;
  readonly vInfo: number;
  readonly vInfoThreshold: number;
  /** 1 - max F of the foreground-restricted Rand index without thinning (NaN if not computed). */
  readonly randError: number;
  /** 1 - max pixel F-score (NaN if not computed). */
  readonly pixelError: number;
}

function argMax(values: readonly number[]): number {
  let best = -1;
  let bestValue = -Infinity;
  values.forEach((v, i) => {
    if (v > bestValue) { bestValue = v; best = i; }
  });
  return best;
}

/**
 * Scores one slice over the threshold sweep (see the module doc).
 * `truthForeground`: H x W, nonzero = cell interior. `proposal`: H x W foreground probabilities.
 */
export function isbiSliceScores(truthForeground: ArrayLike<number>, proposal: ArrayLike<number>, height: number, width: number, options: IsbiOptions = {}): IsbiSliceScores {
  const n = height * width;
  if (truthForeground.length !== n || proposal.length !== n) {
    throw new Error(`isbiSliceScores: truth has ${truthForeground.length} and proposal ${proposal.length} pixels; both must be ${height}x${width} = ${n}`);
  }
  const thresholds = options.thresholds ?? isbiThresholds();
  if (thresholds.length === 0) throw new Error('isbiSliceScores: thresholds is empty');
  const thin = options.thin ?? true;
  const legacy = options.legacy ?? true;
  const truthMask = new Uint8Array(n);
  for (let k = 0; k < n; k++) truthMask[k] = truthForeground[k] ? 1 : 0;
  const truthLabels = labelComponents(truthMask, height, width, 4).labels;
  let truthLabelsThinned = truthLabels;
  if (thin && options.thinTruth) {
    const boundary = thinZhangSuen(truthMask.map((v) => 1 - v), height, width, 1);
    truthLabelsThinned = labelComponents(boundary.map((v) => 1 - v), height, width, 4).labels;
  }
  const binary = new Uint8Array(n);
  const perThreshold: IsbiThresholdStats[] = [];
  for (const threshold of thresholds) {
    for (let k = 0; k < n; k++) binary[k] = proposal[k]! > threshold ? 1 : 0;
    const labels = labelComponents(binary, height, width, 4).labels;
    let randUnthinned: RandScores | undefined;
    let pixel: BinaryCounts | undefined;
    let pixelF: number | undefined;
    if (legacy) {
      randUnthinned = randScoresFromSums(randSums(contingencyTable(truthLabels, labels, true, 'isbiSliceScores')));
      pixel = binaryCounts(truthMask, binary);
      pixelF = pixelFScore(pixel);
    }
    let thinnedLabels = labels;
    if (thin) {
      const boundary = thinZhangSuen(binary.map((v) => 1 - v), height, width, 1);
      thinnedLabels = labelComponents(boundary.map((v) => 1 - v), height, width, 4).labels;
    }
    const table = thin || !legacy ? contingencyTable(truthLabelsThinned, thinnedLabels, true, 'isbiSliceScores') : null;
    const rand = table ? randScoresFromSums(randSums(table)) : randUnthinned!;
    const info = informationFromTable(table ?? contingencyTable(truthLabels, labels, true, 'isbiSliceScores'));
    perThreshold.push({ threshold, rand, info, ...(legacy ? { randUnthinned, pixel, pixelF } : {}) });
  }
  const r = argMax(perThreshold.map((s) => s.rand.vRand));
  const i = argMax(perThreshold.map((s) => s.info.vInfo));
  return {
    perThreshold,
    vRand: r < 0 ? NaN : perThreshold[r]!.rand.vRand,
    vRandThreshold: r < 0 ? NaN : perThreshold[r]!.threshold,
    vInfo: i < 0 ? NaN : perThreshold[i]!.info.vInfo,
    vInfoThreshold: i < 0 ? NaN : perThreshold[i]!.threshold,
    randError: legacy ? 1 - Math.max(...perThreshold.map((s) => s.randUnthinned!.vRand)) : NaN,
    pixelError: legacy ? 1 - Math.max(...perThreshold.map((s) => s.pixelF!)) : NaN,
  };
}

export interface IsbiStackScores {
  /** max over thresholds of the pooled V^Rand (pair counts summed over slices, as the reference). */
  readonly vRand: number;
  readonly vRandThreshold: number;
  /** max over thresholds of the slice-averaged V^Info (the reference averages V^Info over slices). */
  readonly vInfo: number;
  readonly vInfoThreshold: number;
  /** 1 - max over thresholds of the pooled unthinned Rand F-score. */
  readonly randError: number;
  /** 1 - max over thresholds of the pooled pixel F-score. */
  readonly pixelError: number;
  readonly slices: number;
}

/**
 * Combines per-slice sweeps into the stack-level scores the reference reports for a volume.
 * All slices must have been scored with the same thresholds.
 */
export function isbiStackScores(slices: readonly IsbiSliceScores[]): IsbiStackScores {
  if (slices.length === 0) throw new Error('isbiStackScores: no slices');
  const thresholds = slices[0]!.perThreshold.map((s) => s.threshold);
  slices.forEach((s, k) => {
    if (s.perThreshold.length !== thresholds.length || s.perThreshold.some((p, j) => p.threshold !== thresholds[j])) {
      throw new Error(`isbiStackScores: slice ${k} was scored with different thresholds than slice 0`);
    }
  });
  const vRands: number[] = [];
  const vInfos: number[] = [];
  const randFs: number[] = [];
  const pixelFs: number[] = [];
  const legacy = slices.every((s) => s.perThreshold.every((p) => p.randUnthinned && p.pixel));
  thresholds.forEach((_, j) => {
    const at = slices.map((s) => s.perThreshold[j]!);
    vRands.push(randScoresFromSums(poolRandSums(at.map((p) => p.rand as RandSums))).vRand);
    vInfos.push(at.reduce((acc, p) => acc + p.info.vInfo, 0) / at.length);
    if (legacy) {
      randFs.push(randScoresFromSums(poolRandSums(at.map((p) => p.randUnthinned!))).vRand);
      const pooled = at.reduce((acc, p) => ({ tp: acc.tp + p.pixel!.tp, fp: acc.fp + p.pixel!.fp, fn: acc.fn + p.pixel!.fn, tn: acc.tn + p.pixel!.tn }), { tp: 0, fp: 0, fn: 0, tn: 0 });
      pixelFs.push(pixelFScore(pooled));
    }
  });
  const r = argMax(vRands);
  const i = argMax(vInfos);
  return {
    vRand: r < 0 ? NaN : vRands[r]!,
    vRandThreshold: r < 0 ? NaN : thresholds[r]!,
    vInfo: i < 0 ? NaN : vInfos[i]!,
    vInfoThreshold: i < 0 ? NaN : thresholds[i]!,
    randError: legacy ? 1 - Math.max(...randFs) : NaN,
    pixelError: legacy ? 1 - Math.max(...pixelFs) : NaN,
    slices: slices.length,
  };
}
