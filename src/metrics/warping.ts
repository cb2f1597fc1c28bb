/**
 * The warping error of Jain et al. 2010 ("Boundary learning by optimization with topological
 * constraints", CVPR 2010), the ISBI 2012 metric of the U-Net paper's Table 1 (0.000353 for the
 * U-Net on the challenge's test stack).
 *
 * Idea: a boundary drawn a pixel or two away from the truth is harmless, a one-pixel gap that
 * merges two cells is not. So the truth L* is first deformed toward the binarised proposal L by
 * flipping only *simple* pixels (pixels whose flip changes no object's topology: no object split,
 * merged, created, deleted, no hole created or filled). What still disagrees after this warping
 * are the topological errors; the warping error is their number divided by the number of pixels:
 *
 *   D(L || L*) = min over warpings W of L* of |{p : W(p) != L(p)}| / (H * W).
 *
 * Like the reference (Fiji Trainable Weka Segmentation, `WarpingError.simplePointWarp2d`, which
 * computed the ISBI 2012 leaderboard) the minimum is approached greedily: repeat passes over the
 * current disagreements in order of the proposal's confidence |proposal(p) - threshold| (largest
 * first; ties in raster order), flipping each one that is simple in the current warped truth;
 * stop when a pass flips nothing. Note the direction: the *truth* is warped toward the proposal
 * (the paper's D(L || L*)); `warp: 'proposal'` warps the proposal toward the truth instead (the
 * metric is not symmetric).
 *
 * Topology (digital, 2D): foreground (cell interior) is 4-connected and background (membrane)
 * 8-connected, the usual pair, matching the 4-connected regions of the Rand and information
 * scores (isbi.ts). A pixel p is simple iff, among its 8 neighbours, the foreground has exactly
 * one 4-connected component 4-adjacent to p (T4 = 1) and the background exactly one 8-connected
 * component (T8 = 1) (Bertrand & Malandain 1994; Rosenfeld). This depends only on the 8
 * neighbours, so it is a 256-entry table. Pixels outside the image are background, as in the
 * reference (its canvas is padded with 0): membranes that reach the frame are joined through it.
 *
 * Classification of the remaining disagreements (the reference's `classifyMismatches2d`), from
 * the warped truth W's 4-connected objects around each pixel p:
 *   - W(p) = background, two or more objects among the 8 neighbours: the proposal joins them here
 *     -> merger;
 *   - W(p) = foreground, and removing p would leave its 8 neighbours' foreground in two or more
 *     objects: the proposal cuts an object here -> split;
 *   - otherwise object addition / deletion (isolated pixel) or hole addition / deletion.
 * Splits and mergers are also counted as errors, i.e. clusters of adjacent disagreeing pixels of
 * that kind (splits 4-connected, mergers 8-connected, as the reference's `clusterMismatchesByError`).
 *
 * @example a proposal that cuts one cell in two with a 1-pixel membrane line: warping moves the
 *   truth's boundary into the line from the frame inward until one pixel would complete the cut;
 *   that pixel is not simple, so one disagreement is left: a split.
 *   // truth 5x5, all cell; proposal: row 2 is membrane
 *   warpingError(truth, proposal, 5, 5) // -> { errorPixels: 1, warpingError: 1/25, splits: 1, mergers: 0, ... }
 * @example a proposal whose 1-pixel membrane is shifted by one pixel from the truth's has no
 *   topological error: the truth's membrane first thickens into the proposal's, then thins out of
 *   its own place, all by simple flips, and the warping error is 0 (likewise a 3-pixel membrane
 *   shifted by two).
 *
 * Only disagreeing pixels are flipped (Jain et al.'s descent and the reference): pixels where both
 * maps agree never move, so a 1-pixel membrane shifted by two or more pixels cannot slide across
 * the agreeing strip between and is counted as errors. The greedy result is an upper bound on the
 * minimum over all warpings.
 */
import { labelComponents } from '../util/components.js';
import { isbiThresholds } from './isbi.js';

/** Kinds of remaining disagreements (after warping), the reference's six classes. */
export type WarpingErrorKind = 'merge' | 'split' | 'objectAddition' | 'objectDeletion' | 'holeAddition' | 'holeDeletion';

export interface WarpingOptions {
  /** Binarisation threshold: proposal > threshold is foreground (default 0.5). */
  readonly threshold?: number;
  /** Which map is deformed: 'truth' (default, the paper's D(L || L*)) or 'proposal'. */
  readonly warp?: 'truth' | 'proposal';
  /** Classify the remaining disagreements (default true). */
  readonly classify?: boolean;
}

export interface WarpingResult {
  readonly threshold: number;
  readonly height: number;
  readonly width: number;
  /** Remaining disagreements / pixels. */
  readonly warpingError: number;
  /** Number of remaining disagreeing pixels. */
  readonly errorPixels: number;
  /** Disagreeing pixels before warping (the plain pixel disagreement at this threshold). */
  readonly initialPixels: number;
  /** Pixels flipped by the warping. */
  readonly flipped: number;
  /** Passes over the disagreements until one flipped nothing. */
  readonly passes: number;
  /** The warped map (0/1), H x W. */
  readonly warped: Uint8Array;
  /** Flat indices of the remaining disagreements, in the order they were last visited. */
  readonly errorIndices: Int32Array;
  /** Their classification (absent when `classify` was false; see {@link classifyWarping}). */
  readonly classes?: WarpingClasses;
}

export interface WarpingClasses {
  /** Pixel count per kind. */
  readonly pixelsByKind: Readonly<Record<WarpingErrorKind, number>>;
  /** Kind per entry of errorIndices. */
  readonly kinds: readonly WarpingErrorKind[];
  /** Clustered topological errors: connected groups of split / merger pixels. */
  readonly splits: number;
  readonly mergers: number;
  /** Clusters of every kind (a 15-pixel gap that merges two cells is one error), see {@link clusteredErrors}. */
  readonly clusters: number;
}

/** Classifies a warping result's remaining disagreements (see the module doc). */
export function classifyWarping(result: Pick<WarpingResult, 'warped' | 'errorIndices' | 'height' | 'width'>): WarpingClasses {
  const { warped, errorIndices, height, width } = result;
  const kinds = classifyWarpingErrors(warped, height, width, errorIndices);
  const pixelsByKind: Record<WarpingErrorKind, number> = { merge: 0, split: 0, objectAddition: 0, objectDeletion: 0, holeAddition: 0, holeDeletion: 0 };
  for (const kind of kinds) pixelsByKind[kind]++;
  return {
    pixelsByKind,
    kinds,
    splits: clusterCount(errorIndices, kinds, 'split', height, width, 4),
    mergers: clusterCount(errorIndices, kinds, 'merge', height, width, 8),
    clusters: clusteredErrors(warped, height, width, errorIndices, kinds),
  };
}

/**
 * Number of errors when adjacent disagreeing pixels of the same kind (and the same warped value)
 * count once: the reference's `clusterMismatchesByError`, whose per-case connectivity we follow
 * (mergers and hole additions on warped foreground 8-connected, everything else 4-connected).
 * `clusters / pixels` is the reference's "clustered warping error".
 */
export function clusteredErrors(warped: Uint8Array, height: number, width: number, indices: ArrayLike<number>, kinds: readonly WarpingErrorKind[]): number {
  if (kinds.length !== indices.length) throw new Error(`clusteredErrors: ${indices.length} indices but ${kinds.length} kinds`);
  const cases = new Map<string, number[]>();
  for (let j = 0; j < indices.length; j++) {
    const key = `${kinds[j]}:${warped[indices[j]!]}`;
    const list = cases.get(key) ?? [];
    list.push(indices[j]!);
    cases.set(key, list);
  }
  let total = 0;
  for (const [key, list] of cases) {
    const connectivity = key === 'merge:0' || key === 'holeAddition:1' ? 8 : 4;
    const mask = new Uint8Array(height * width);
    for (const i of list) mask[i] = 1;
    total += labelComponents(mask, height, width, connectivity).count;
  }
  return total;
}

// Neighbour bit order: 0 N, 1 NE, 2 E, 3 SE, 4 S, 5 SW, 6 W, 7 NW (clockwise from north).
const DY = [-1, -1, 0, 1, 1, 1, 0, -1];
const DX = [0, 1, 1, 1, 0, -1, -1, -1];

/**
 * T4 (4-components of the foreground neighbours that are 4-adjacent to the centre) and T8
 * (8-components of the background neighbours) for an 8-bit neighbourhood code (bit k set =
 * neighbour k is foreground). Exported for tests.
 *
 * @example an isolated pixel: topologicalNumbers(0) -> { t4: 0, t8: 1 } (not simple: deleting it deletes an object)
 * @example the end of a horizontal line, only E set: topologicalNumbers(0b100) -> { t4: 1, t8: 1 } (simple)
 * @example N and S set, E and W clear: topologicalNumbers(0b10001) -> { t4: 2, t8: 2 } (not simple: a bridge)
 */
export function topologicalNumbers(code: number): { t4: number; t8: number } {
  if (!Number.isInteger(code) || code < 0 || code > 255) throw new Error(`topologicalNumbers: code must be an integer 0..255, got ${code}`);
  const fg = (k: number): boolean => ((code >> (k & 7)) & 1) === 1;
  // Components of the neighbours among themselves (the centre excluded), by their grid offsets.
  const adjacent = (a: number, b: number, conn: 4 | 8): boolean => {
    const [ay, ax, by, bx] = [DY[a]!, DX[a]!, DY[b]!, DX[b]!];
    const dy = Math.abs(ay - by);
    const dx = Math.abs(ax - bx);
    return conn === 4 ? dy + dx === 1 : Math.max(dy, dx) === 1;
  };
  const count = (member: (k: number) => boolean, conn: 4 | 8, counted: (k: number) => boolean): number => {
    const label = new Int8Array(8).fill(-1);
    let n = 0;
    for (let s = 0; s < 8; s++) {
      if (!member(s) || label[s] !== -1) continue;
      const stack = [s];
      label[s] = n;
      while (stack.length) {
        const a = stack.pop()!;
        for (let b = 0; b < 8; b++) if (member(b) && label[b] === -1 && adjacent(a, b, conn)) { label[b] = n; stack.push(b); }
      }
      n++;
    }
    const ids = new Set<number>();
    for (let k = 0; k < 8; k++) if (member(k) && counted(k)) ids.add(label[k]!);
    return ids.size;
  };
  return {
    t4: count(fg, 4, (k) => k % 2 === 0),
    t8: count((k) => !fg(k), 8, () => true),
  };
}

/** SIMPLE[code] = 1 when a pixel with that 8-neighbourhood is simple for (4, 8) topology. */
const SIMPLE: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    const { t4, t8 } = topologicalNumbers(c);
    t[c] = t4 === 1 && t8 === 1 ? 1 : 0;
  }
  return t;
})();

/** Whether the pixel with 8-neighbourhood `code` (bit k = neighbour k foreground, N first, clockwise) is simple. */
export function isSimpleCode(code: number): boolean {
  return SIMPLE[code & 255] === 1;
}

function neighbourCode(img: Uint8Array, k: number, pw: number): number {
  return img[k - pw]! | (img[k - pw + 1]! << 1) | (img[k + 1]! << 2) | (img[k + pw + 1]! << 3)
    | (img[k + pw]! << 4) | (img[k + pw - 1]! << 5) | (img[k - 1]! << 6) | (img[k - pw - 1]! << 7);
}

function checkInputs(fn: string, truth: ArrayLike<number>, proposal: ArrayLike<number>, height: number, width: number, threshold: number): void {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) throw new Error(`${fn}: height and width must be positive integers, got ${height}x${width}`);
  const n = height * width;
  if (truth.length !== n || proposal.length !== n) throw new Error(`${fn}: truth has ${truth.length} and proposal ${proposal.length} pixels; both must be ${height}x${width} = ${n}`);
  if (!Number.isFinite(threshold)) throw new Error(`${fn}: threshold must be finite, got ${threshold}`);
}

/**
 * Warping error of one H x W slice at one threshold (see the module doc).
 * `truth`: nonzero = foreground (cell interior). `proposal`: foreground probabilities (or a 0/1 mask).
 */
export function warpingError(truth: ArrayLike<number>, proposal: ArrayLike<number>, height: number, width: number, options: WarpingOptions = {}): WarpingResult {
  const threshold = options.threshold ?? 0.5;
  checkInputs('warpingError', truth, proposal, height, width, threshold);
  const warpTruth = (options.warp ?? 'truth') === 'truth';
  if (options.warp !== undefined && options.warp !== 'truth' && options.warp !== 'proposal') {
    throw new Error(`warpingError: warp must be 'truth' or 'proposal', got ${String(options.warp)}`);
  }
  const n = height * width;
  const pw = width + 2;
  // Padded 0/1 maps: the frame is background, as in the reference.
  const source = new Uint8Array((height + 2) * pw);
  const target = new Uint8Array((height + 2) * pw);
  // Priority of a disagreement: how sure the map we warp toward is there.
  const priority = new Float64Array(n);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const i = y * width + x;
    const k = (y + 1) * pw + x + 1;
    const p = proposal[i]!;
    const pBin = p > threshold ? 1 : 0;
    const tBin = truth[i] ? 1 : 0;
    source[k] = warpTruth ? tBin : pBin;
    target[k] = warpTruth ? pBin : tBin;
    priority[i] = warpTruth ? Math.abs(p - threshold) : 1;
  }
  let mismatches: number[] = [];
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const k = (y + 1) * pw + x + 1;
    if (source[k] !== target[k]) mismatches.push(y * width + x);
  }
  const initialPixels = mismatches.length;
  let flipped = 0;
  let passes = 0;
  for (;;) {
    // Stable sort: ties stay in raster order.
    mismatches.sort((a, b) => priority[b]! - priority[a]!);
    passes++;
    let flippedThisPass = 0;
    const remaining: number[] = [];
    for (const i of mismatches) {
      const k = ((i / width) | 0) * pw + (i % width) + pw + 1;
      if (SIMPLE[neighbourCode(source, k, pw)]) {
        source[k] = 1 - source[k]!;
        flippedThisPass++;
      } else {
        remaining.push(i);
      }
    }
    flipped += flippedThisPass;
    mismatches = remaining;
    if (flippedThisPass === 0 || mismatches.length === 0) break;
  }
  const warped = new Uint8Array(n);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) warped[y * width + x] = source[(y + 1) * pw + x + 1]!;
  const errorIndices = Int32Array.from(mismatches);
  const base = { threshold, height, width, warped, errorIndices };
  return {
    ...base,
    warpingError: mismatches.length / n,
    errorPixels: mismatches.length,
    initialPixels,
    flipped,
    passes,
    ...(options.classify ?? true ? { classes: classifyWarping(base) } : {}),
  };
}

function clusterCount(indices: Int32Array, kinds: readonly WarpingErrorKind[], kind: WarpingErrorKind, height: number, width: number, connectivity: 4 | 8): number {
  const mask = new Uint8Array(height * width);
  let any = false;
  indices.forEach((i, j) => {
    if (kinds[j] === kind) { mask[i] = 1; any = true; }
  });
  return any ? labelComponents(mask, height, width, connectivity).count : 0;
}

/**
 * Classifies disagreements left after warping (see the module doc) from the warped map `warped`
 * (0/1, H x W, foreground 4-connected). Returns one kind per index.
 */
export function classifyWarpingErrors(warped: Uint8Array, height: number, width: number, indices: ArrayLike<number>): WarpingErrorKind[] {
  if (warped.length !== height * width) throw new Error(`classifyWarpingErrors: warped has ${warped.length} pixels, expected ${height}x${width}`);
  const labels = labelComponents(warped, height, width, 4).labels;
  const at = (y: number, x: number): number => (y < 0 || y >= height || x < 0 || x >= width ? 0 : labels[y * width + x]!);
  const out: WarpingErrorKind[] = [];
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    if (!(i >= 0 && i < height * width)) throw new Error(`classifyWarpingErrors: index ${i} is outside the ${height}x${width} image`);
    const y = (i / width) | 0;
    const x = i % width;
    const ids = new Set<number>();
    // The reference skips neighbours outside the image (it does not count the frame as background).
    for (let d = 0; d < 8; d++) {
      const yy = y + DY[d]!;
      const xx = x + DX[d]!;
      if (yy >= 0 && yy < height && xx >= 0 && xx < width) ids.add(at(yy, xx));
    }
    const fg = warped[i] === 1;
    const objects = [...ids].filter((v) => v !== 0).length;
    const hasBackground = ids.has(0);
    if (objects === 0) out.push(fg ? 'objectDeletion' : 'objectAddition');
    else if (objects === 1 && !hasBackground) out.push(fg ? 'holeAddition' : 'holeDeletion');
    else if (objects === 1) out.push(fg ? (removalSplits(warped, height, width, y, x) ? 'split' : 'holeDeletion') : 'holeAddition');
    else out.push(fg ? 'split' : 'merge');
  }
  return out;
}

/**
 * Whether removing foreground pixel (y, x) leaves its foreground 8-neighbours in two or more
 * 4-connected objects: a flood fill from one of them, without (y, x), that stops once all are reached.
 */
function removalSplits(warped: Uint8Array, height: number, width: number, y: number, x: number): boolean {
  const centre = y * width + x;
  const targets = new Set<number>();
  for (let d = 0; d < 8; d++) {
    const yy = y + DY[d]!;
    const xx = x + DX[d]!;
    if (yy >= 0 && yy < height && xx >= 0 && xx < width && warped[yy * width + xx]) targets.add(yy * width + xx);
  }
  if (targets.size <= 1) return false;
  const start = targets.values().next().value!;
  const seen = new Set<number>([start, centre]);
  const stack = [start];
  let found = 1;
  while (stack.length) {
    const k = stack.pop()!;
    const ky = (k / width) | 0;
    const kx = k % width;
    for (let d = 0; d < 8; d += 2) {
      const yy = ky + DY[d]!;
      const xx = kx + DX[d]!;
      if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
      const q = yy * width + xx;
      if (!warped[q] || seen.has(q)) continue;
      seen.add(q);
      if (targets.has(q) && ++found === targets.size) return false;
      stack.push(q);
    }
  }
  return true;
}

export interface WarpingSweep {
  /** One unclassified result per threshold. */
  readonly perThreshold: readonly WarpingResult[];
  /** min over thresholds of the warping error, and where it is reached. */
  readonly warpingError: number;
  readonly threshold: number;
  /** The result at that threshold, classified. */
  readonly best: WarpingResult & { readonly classes: WarpingClasses };
}

/**
 * Warping error over a threshold sweep (default {@link isbiThresholds}(), as the other ISBI
 * scores), reporting the minimum, as the reference's pixel and Rand errors report their best
 * threshold; only that threshold's disagreements are classified. Which threshold the 2012
 * leaderboard used for the warping error could not be checked.
 */
export function warpingErrorSweep(truth: ArrayLike<number>, proposal: ArrayLike<number>, height: number, width: number, options: { thresholds?: readonly number[]; warp?: 'truth' | 'proposal' } = {}): WarpingSweep {
  const thresholds = options.thresholds ?? isbiThresholds();
  if (thresholds.length === 0) throw new Error('warpingErrorSweep: thresholds is empty');
  const perThreshold = thresholds.map((threshold) => warpingError(truth, proposal, height, width, { threshold, warp: options.warp, classify: false }));
  let b = 0;
  perThreshold.forEach((r, j) => {
    if (r.warpingError < perThreshold[b]!.warpingError) b = j;
  });
  const r = perThreshold[b]!;
  return { perThreshold, warpingError: r.warpingError, threshold: r.threshold, best: { ...r, classes: classifyWarping(r) } };
}

export interface WarpingStackScores {
  /** min over thresholds of (remaining disagreements summed over slices / pixels summed over slices). */
  readonly warpingError: number;
  readonly threshold: number;
  /** Clustered splits and mergers summed over slices, at that threshold. */
  readonly splits: number;
  readonly mergers: number;
  /** Clustered errors of every kind summed over slices / pixels, at that threshold. */
  readonly clusteredWarpingError: number;
  readonly slices: number;
}

/**
 * Stack warping error: disagreements pooled over slices at each threshold, then the minimum over
 * thresholds (with equal slice sizes, the reference's mean of per-slice errors); splits and
 * mergers are classified at that common threshold. All sweeps must use the same thresholds.
 */
export function warpingStackScores(sweeps: readonly WarpingSweep[]): WarpingStackScores {
  if (sweeps.length === 0) throw new Error('warpingStackScores: no slices');
  const thresholds = sweeps[0]!.perThreshold.map((r) => r.threshold);
  sweeps.forEach((s, k) => {
    if (s.perThreshold.length !== thresholds.length || s.perThreshold.some((r, j) => r.threshold !== thresholds[j])) {
      throw new Error(`warpingStackScores: slice ${k} was swept over different thresholds than slice 0`);
    }
  });
  const total = sweeps.reduce((a, s) => a + s.best.height * s.best.width, 0);
  let best = 0;
  let bestError = Infinity;
  thresholds.forEach((_, j) => {
    const e = sweeps.reduce((acc, s) => acc + s.perThreshold[j]!.errorPixels, 0) / total;
    if (e < bestError) { bestError = e; best = j; }
  });
  let splits = 0;
  let mergers = 0;
  let clusters = 0;
  for (const s of sweeps) {
    const c = s.perThreshold[best]!.threshold === s.threshold ? s.best.classes : classifyWarping(s.perThreshold[best]!);
    splits += c.splits;
    mergers += c.mergers;
    clusters += c.clusters;
  }
  return { warpingError: bestError, threshold: thresholds[best]!, splits, mergers, clusteredWarpingError: clusters / total, slices: sweeps.length };
}
