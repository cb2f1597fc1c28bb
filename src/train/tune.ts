/**
 * Post-processing chosen on validation images, not guessed: the level that makes a pixel an object
 * pixel, the watershed switch, the seed level and the smallest object size that maximise the mean
 * F1 at IoU 0.5 (or the DSB 2018 mAP) of the instances a model's probabilities give. The search only re-runs the post-processing; the
 * network's probabilities are computed once per image (as StarDist's optimize_thresholds does).
 */
import type { InstancePostprocess } from '../io/model-format.js';
import type { Raster } from '../io/raster.js';
import { instancesFromClassMask, instancesFromProbabilities, type Instances } from '../infer/instances.js';
import { classMask, summedProbability } from '../infer/predict.js';
import { dsbAveragePrecision, instanceOverlaps, matchOverlaps } from '../metrics/instances.js';

/** One validation image: the model's H x W x K probabilities and the true instance ids (0 = background). */
export interface TuneCase {
  readonly name: string;
  readonly probabilities: Raster<Float32Array>;
  readonly truth: ArrayLike<number>;
}

export interface TuneGrid {
  /**
   * Object pixels: null = the argmax (the start's rule when it has no threshold), a number = the
   * summed foreground probability above it (objectPixels in src/infer/instances.ts says why).
   */
  readonly foregroundThresholds: readonly (number | null)[];
  readonly watershed: readonly boolean[];
  /** Seed levels tried with the watershed (ignored without it). */
  readonly seedThresholds: readonly number[];
  /** Seed erosion radii in pixels tried with the watershed, 0 = none (ignored without it). */
  readonly seedErosions: readonly number[];
  readonly minSizes: readonly number[];
}

/**
 * 7 x (1 + 8) x 7 post-processings; the network is not re-run for any of them. The argmax comes
 * first so that it wins ties; 0.5 is left out as it is the argmax of two classes. Seed erosion is
 * not searched by default: on two nuclei models it raised the hold-out F1 (by 0.009 and 0.002)
 * but not the test split's (0.880 against 0.881, 0.877 against 0.884), and it came with a lower
 * foreground level that loosened the outlines (DSB mAP 0.575 against 0.620, 0.561 against 0.609;
 * README). `unet tune --seed-erosions 1,2,3` searches it (tuneInstancePostprocess, stage 2).
 */
export const DEFAULT_TUNE_GRID: TuneGrid = {
  foregroundThresholds: [null, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9],
  watershed: [false, true],
  seedThresholds: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
  seedErosions: [0],
  minSizes: [0, 5, 10, 20, 30, 50, 80],
};

export type TuneMetric = 'f1' | 'dsb-ap';

/** Seed erosions are tried around this many of the best watershed settings (tuneInstancePostprocess, stage 2). */
export const ERODE_AROUND = 3;

export interface TuneRow {
  /** null: the argmax. */
  readonly foregroundThreshold: number | null;
  readonly watershed: boolean;
  readonly seedThreshold: number;
  /** 0 without the watershed. */
  readonly seedErosion: number;
  readonly minSize: number;
  /** Mean over the images of the metric searched. */
  readonly score: number;
}

export interface TuneResult {
  /** The start with the best grid values; `tuned` says how they were chosen. */
  readonly best: InstancePostprocess;
  readonly bestScore: number;
  /** The score of the post-processing the search started from. */
  readonly startScore: number;
  /** Every post-processing tried, in grid order. */
  readonly rows: readonly TuneRow[];
}

/** `pp` without a foreground level (the argmax decides) and without seed erosion: the grid sets both. */
function withoutLevel(pp: InstancePostprocess): InstancePostprocess {
  const out = { ...pp };
  delete (out as { foregroundThreshold?: number }).foregroundThreshold;
  delete (out as { seedErosion?: number }).seedErosion;
  return out;
}

/** The mean-over-images score of one image's instances against its truth. */
function scoreOf(truth: ArrayLike<number>, pred: Int32Array, metric: TuneMetric): number {
  if (metric === 'dsb-ap') return dsbAveragePrecision(truth, pred).ap;
  return matchOverlaps(instanceOverlaps(truth, pred), { iouThreshold: 0.5 }).f1;
}

/** The instances without those under `minSize` pixels (a copy; ids keep their values). */
export function withoutSmall(inst: Instances, minSize: number): Int32Array {
  const size = new Int32Array(inst.count + 1);
  for (const l of inst.labels) size[l]!++;
  const out = new Int32Array(inst.labels.length);
  for (let i = 0; i < out.length; i++) {
    const l = inst.labels[i]!;
    out[i] = l !== 0 && size[l]! >= minSize ? l : 0;
  }
  return out;
}

/**
 * Searches `grid` for the post-processing with the highest mean `metric` over `cases`, starting
 * from `start` (whose classes are kept), in two stages: every level, watershed switch, seed level
 * and minimum size with the seeds as they are; then the grid's seed erosions around the best
 * watershed settings. Ties keep the earlier entry, so the result is deterministic; the start's
 * own score is reported beside the best.
 *
 * @example a probability map with two touching discs and a dip between them: the watershed with
 *   a seed level above the dip separates them (F1 1), connected components do not (F1 0).
 */
export function tuneInstancePostprocess(cases: readonly TuneCase[], start: InstancePostprocess, grid: TuneGrid = DEFAULT_TUNE_GRID, metric: TuneMetric = 'f1'): TuneResult {
  if (cases.length === 0) throw new Error('tuneInstancePostprocess: no validation images to tune on');
  for (const [name, values] of Object.entries(grid) as [string, readonly unknown[]][]) {
    if (values.length === 0) throw new Error(`tuneInstancePostprocess: grid.${name} is empty`);
  }
  for (const c of cases) {
    const n = c.probabilities.height * c.probabilities.width;
    if (c.truth.length !== n) throw new Error(`tuneInstancePostprocess: ${c.name}: truth has ${c.truth.length} pixels, the probabilities ${n}`);
  }
  // The maps every post-processing reads, computed once per image (the foreground sum only when a level is searched).
  const levels = grid.foregroundThresholds.some((t) => t !== null);
  const maps = cases.map((c) => {
    const { data, height, width, channels: K } = c.probabilities;
    return {
      mask: classMask(data, K, new Uint16Array(height * width)),
      seed: summedProbability(data, K, start.seedClasses),
      foreground: levels ? summedProbability(data, K, start.foregroundClasses) : null,
    };
  });
  // The grid decides the level: the start's own is left out of every candidate (null: the argmax).
  const base: InstancePostprocess = withoutLevel(start);
  const rows: TuneRow[] = [];
  /** Scores one post-processing at every minimum size of the grid (one labelling per image). */
  const evaluate = (foregroundThreshold: number | null, watershed: boolean, seedThreshold: number, seedErosion: number): void => {
    const pp = { ...base, watershed, seedThreshold, seedErosion, minSize: 0, ...(foregroundThreshold === null ? {} : { foregroundThreshold }) };
    const sums = new Float64Array(grid.minSizes.length);
    cases.forEach((c, i) => {
      const { height, width } = c.probabilities;
      const inst = instancesFromClassMask(maps[i]!.mask, maps[i]!.seed, height, width, pp, 4, maps[i]!.foreground);
      grid.minSizes.forEach((minSize, k) => {
        sums[k]! += scoreOf(c.truth, withoutSmall(inst, minSize), metric);
      });
    });
    grid.minSizes.forEach((minSize, k) => rows.push({ foregroundThreshold, watershed, seedThreshold, seedErosion, minSize, score: sums[k]! / cases.length }));
  };
  // Stage 1: levels, watershed and seed levels, seeds as they are (without the watershed the seed
  // level plays no part: one entry, at the start's level).
  for (const foregroundThreshold of grid.foregroundThresholds) {
    for (const watershed of grid.watershed) {
      for (const seedThreshold of watershed ? grid.seedThresholds : [start.seedThreshold]) evaluate(foregroundThreshold, watershed, seedThreshold, 0);
    }
  }
  // Stage 2: the other erosions around the best watershed settings, not the whole grid again (that
  // would multiply the search by the number of radii): the ERODE_AROUND best pairs of level and
  // seed level, each with its seed level and the next lower one (eroded seeds are smaller, so a
  // lower level can suit them better).
  const radii = grid.seedErosions.filter((r) => r !== 0);
  if (radii.length > 0 && grid.watershed.includes(true)) {
    const pairs: { foregroundThreshold: number | null; seedThreshold: number }[] = [];
    for (const r of [...rows].filter((q) => q.watershed).sort((p, q) => q.score - p.score)) {
      if (pairs.length === ERODE_AROUND) break;
      if (!pairs.some((p) => p.foregroundThreshold === r.foregroundThreshold && p.seedThreshold === r.seedThreshold)) pairs.push(r);
    }
    const seeds = [...grid.seedThresholds].sort((x, y) => x - y);
    const tried = new Set<string>();
    for (const p of pairs) {
      const lower = seeds.filter((t) => t < p.seedThreshold).pop();
      for (const seedThreshold of lower === undefined ? [p.seedThreshold] : [p.seedThreshold, lower]) {
        const key = `${p.foregroundThreshold}/${seedThreshold}`;
        if (tried.has(key)) continue;
        tried.add(key);
        for (const r of radii) evaluate(p.foregroundThreshold, true, seedThreshold, r);
      }
    }
  }
  let best = rows[0]!;
  for (const r of rows) if (r.score > best.score) best = r;
  let startScore = 0;
  for (const c of cases) startScore += scoreOf(c.truth, instancesFromProbabilities(c.probabilities, start).labels, metric);
  startScore /= cases.length;
  return {
    best: {
      ...base,
      watershed: best.watershed,
      seedThreshold: best.seedThreshold,
      ...(best.seedErosion > 0 ? { seedErosion: best.seedErosion } : {}),
      minSize: best.minSize,
      ...(best.foregroundThreshold === null ? {} : { foregroundThreshold: best.foregroundThreshold }),
      tuned: { metric, images: cases.length, score: best.score, startScore, searched: rows.length },
    },
    bestScore: best.score,
    startScore,
    rows,
  };
}
