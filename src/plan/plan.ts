/**
 * Dataset fingerprint and training plan, after nnU-Net (Isensee et al. 2021): measure the data
 * (sizes, dtype, intensities, labels, objects), derive the configuration from it by fixed,
 * documented rules, and size the number of steps to a time budget with a short timing probe.
 * The rules encode what worked for this project's bundled models (README: 16 base filters,
 * 316 tiles for 256 px images, Adam 0.001, the border weight map w0 = 10, sigma = 5 on ISBI 2012 cells and
 * DSB 2018 nuclei); they are starting points, not a search.
 *
 * Pure: {@link fingerprintFromRasters} and {@link planFromFingerprint} take data and numbers; the
 * file reading is in {@link fingerprintDataset}, the probe in probe.ts.
 */
import { pairByStem, readSingleImage } from '../io/dataset.js';
import type { Raster } from '../io/raster.js';
import { minValidInputSize, outputSize, validInputSizes, type SizeSpec } from '../model/size.js';
import { LR_SCHEDULES, type LrSchedule } from '../train/schedule.js';
import { labelComponents } from '../util/components.js';

export type PlannedLabelMode = 'binary' | 'classes' | 'instances';

export interface DatasetFingerprint {
  readonly images: number;
  readonly channels: number;
  readonly dtype: 'uint8' | 'uint16' | 'int32' | 'float32';
  /** [height, width]: smallest, median and largest over the images. */
  readonly sizes: { readonly min: [number, number]; readonly median: [number, number]; readonly max: [number, number] };
  /** Raw intensity percentiles over (a sample of) all pixels. */
  readonly intensity: { readonly min: number; readonly p0_5: number; readonly p50: number; readonly p99_5: number; readonly max: number };
  readonly labels: {
    /** Detected label mode (see {@link detectLabelMode}). */
    readonly mode: PlannedLabelMode;
    /** Distinct label values (at most 32 listed). */
    readonly values: readonly number[];
    readonly distinctValues: number;
    /** Fraction of pixels per class as the plan's label mode reads them (binary: [background, foreground]). */
    readonly classFractions: readonly number[];
  };
  readonly objects: {
    /** Objects: instance ids, or 4-connected foreground components of binary labels. */
    readonly count: number;
    readonly perImage: number;
    readonly medianArea: number;
    /** Diameter of a disc of the median area. */
    readonly medianDiameter: number;
    /** Fraction of instance objects that touch another one (0 for binary and class labels). */
    readonly touchingFraction: number;
  };
}

/**
 * Label mode from the values seen: two values are a binary mask; more than 16 distinct nonzero
 * values (in one image or over all) are instance ids; otherwise instance ids when every nonzero
 * value is one 4-connected region in each image (objects), class indices when some value occurs
 * in separate places (a class does, an object does not).
 * @example detectLabelMode([Uint8Array.of(0, 255, 255, 0)], [[2, 2]]) === 'binary'
 * @example detectLabelMode([Uint8Array.of(1, 2, 0, 3)], [[2, 2]]) === 'instances'
 * @example detectLabelMode([Uint8Array.of(1, 0, 2, 1)], [[2, 2]]) === 'classes' (class 1 in two places)
 */
export function detectLabelMode(labels: readonly ArrayLike<number>[], sizes: readonly (readonly [number, number])[]): PlannedLabelMode {
  const all = new Set<number>();
  let many = false;
  let repeated = false;
  labels.forEach((data, k) => {
    const [h, w] = sizes[k]!;
    if (data.length !== h * w) throw new Error(`detectLabelMode: label ${k} has ${data.length} values, expected ${h}x${w}`);
    const regions = new Map<number, number>();
    const seen = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      all.add(v);
      if (v === 0 || seen[i]) continue;
      regions.set(v, (regions.get(v) ?? 0) + 1);
      seen[i] = 1;
      const stack = [i];
      while (stack.length) {
        const j = stack.pop()!;
        const x = j % w;
        for (const q of [x > 0 ? j - 1 : -1, x + 1 < w ? j + 1 : -1, j - w, j + w]) {
          if (q >= 0 && q < data.length && !seen[q] && data[q] === v) { seen[q] = 1; stack.push(q); }
        }
      }
    }
    if (regions.size > 16) many = true;
    for (const n of regions.values()) if (n > 1) repeated = true;
  });
  if (all.size <= 2) return 'binary';
  if (many || all.size > 17) return 'instances';
  return repeated ? 'classes' : 'instances';
}

function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))));
  return sorted[i]!;
}

/** Fingerprint of image/label pairs already read (labels single-channel, same size as their image). */
export function fingerprintFromRasters(pairs: readonly { image: Raster; label: Raster; name?: string }[]): DatasetFingerprint {
  if (pairs.length === 0) throw new Error('fingerprintFromRasters: no image/label pairs');
  const channels = pairs[0]!.image.channels;
  const dtypeOf = (r: Raster): DatasetFingerprint['dtype'] => (r.data instanceof Uint8Array ? 'uint8' : r.data instanceof Uint16Array ? 'uint16' : r.data instanceof Int32Array ? 'int32' : 'float32');
  const dtype = dtypeOf(pairs[0]!.image);
  const sizes: [number, number][] = [];
  pairs.forEach(({ image, label, name }, k) => {
    const what = name ?? `pair ${k}`;
    if (image.channels !== channels) throw new Error(`fingerprintFromRasters: ${what} has ${image.channels} channels, the first image ${channels}`);
    if (label.channels !== 1) throw new Error(`fingerprintFromRasters: label of ${what} has ${label.channels} channels; labels must be single-channel`);
    if (label.height !== image.height || label.width !== image.width) throw new Error(`fingerprintFromRasters: ${what}: image ${image.height}x${image.width} but label ${label.height}x${label.width}`);
    sizes.push([image.height, image.width]);
  });
  // Intensities: a strided sample of at most ~2e5 values per image keeps this O(images).
  const sample: number[] = [];
  for (const { image } of pairs) {
    const stride = Math.max(1, Math.floor(image.data.length / 200_000));
    for (let i = 0; i < image.data.length; i += stride) sample.push(image.data[i]!);
  }
  const sorted = Float64Array.from(sample).sort();
  const labelData = pairs.map((p) => p.label.data);
  const mode = detectLabelMode(labelData, sizes);
  const values = new Set<number>();
  for (const d of labelData) for (let i = 0; i < d.length; i++) values.add(d[i]!);
  const sortedValues = [...values].sort((a, b) => a - b);
  // Class fractions as training would read the labels: binary by > midpoint of the two values, classes by value, instances by id > 0.
  const counts = new Map<number, number>();
  let total = 0;
  const threshold = sortedValues.length === 2 ? (sortedValues[0]! + sortedValues[1]!) / 2 : 0;
  for (const d of labelData) for (let i = 0; i < d.length; i++) {
    const c = mode === 'classes' ? d[i]! : d[i]! > threshold ? 1 : 0;
    counts.set(c, (counts.get(c) ?? 0) + 1);
    total++;
  }
  const K = Math.max(...counts.keys()) + 1;
  const classFractions = Array.from({ length: Math.max(K, 2) }, (_, c) => (counts.get(c) ?? 0) / total);
  const areas: number[] = [];
  let touchingObjects = 0;
  pairs.forEach(({ label }, k) => {
    const [h, w] = sizes[k]!;
    if (mode === 'instances') {
      const area = new Map<number, number>();
      const touches = new Set<number>();
      const d = label.data;
      for (let i = 0; i < d.length; i++) {
        const v = d[i]!;
        if (v === 0) continue;
        area.set(v, (area.get(v) ?? 0) + 1);
        const x = i % w;
        for (const j of [x + 1 < w ? i + 1 : -1, i + w < h * w ? i + w : -1]) {
          if (j >= 0 && d[j]! !== 0 && d[j]! !== v) { touches.add(v); touches.add(d[j]!); }
        }
      }
      areas.push(...area.values());
      touchingObjects += touches.size;
    } else {
      const fg = Uint8Array.from(label.data as ArrayLike<number>, (v) => (mode === 'classes' ? (v > 0 ? 1 : 0) : v > threshold ? 1 : 0));
      const comps = labelComponents(fg, h, w, 4);
      const area = new Array<number>(comps.count + 1).fill(0);
      for (let i = 0; i < comps.labels.length; i++) area[comps.labels[i]!]!++;
      areas.push(...area.slice(1));
    }
  });
  const medianArea = median(areas);
  const heights = sizes.map((s) => s[0]);
  const widths = sizes.map((s) => s[1]);
  return {
    images: pairs.length,
    channels,
    dtype,
    sizes: {
      min: [Math.min(...heights), Math.min(...widths)],
      median: [median(heights), median(widths)],
      max: [Math.max(...heights), Math.max(...widths)],
    },
    intensity: { min: sorted[0]!, p0_5: percentile(sorted, 0.5), p50: percentile(sorted, 50), p99_5: percentile(sorted, 99.5), max: sorted[sorted.length - 1]! },
    labels: { mode, values: sortedValues.slice(0, 32), distinctValues: sortedValues.length, classFractions },
    objects: {
      count: areas.length,
      perImage: areas.length / pairs.length,
      medianArea: Number.isNaN(medianArea) ? 0 : medianArea,
      medianDiameter: Number.isNaN(medianArea) ? 0 : 2 * Math.sqrt(medianArea / Math.PI),
      touchingFraction: areas.length && mode === 'instances' ? touchingObjects / areas.length : 0,
    },
  };
}

/** Reads the pairs of two folders (matched by stem, as `unet train`) and fingerprints them. */
export async function fingerprintDataset(imagesDir: string, labelsDir: string): Promise<DatasetFingerprint> {
  const pairs = await pairByStem(imagesDir, labelsDir);
  const rasters = [];
  for (const p of pairs) rasters.push({ image: await readSingleImage(p.image), label: await readSingleImage(p.label), name: p.name });
  return fingerprintFromRasters(rasters);
}

/** What `unet train` needs, as its flags' values. */
export interface TrainingPlan {
  readonly depth: number;
  readonly filters: number;
  readonly padding: 'valid';
  readonly tile: number;
  readonly classes: number;
  readonly channels: number;
  readonly normalize: string;
  readonly labelMode: PlannedLabelMode;
  /**
   * Instance labels: the training targets (`unet train --targets`); null for other labels. Plans
   * choose 'boundary' (background / interior / boundary, 3 classes), which beat the paper's
   * 'separated' two classes on DSB 2018 nuclei (README, "Training for touching objects").
   */
  readonly targets: 'separated' | 'boundary' | null;
  /** Border weight map of the paper's Eq. 2. */
  readonly w0: number;
  readonly sigma: number;
  readonly optimizer: 'adam' | 'sgd';
  readonly lr: number;
  /**
   * How the step size changes over the run (`unet train --lr-schedule`). Plans choose 'poly' for
   * instance labels (README, "Learning-rate schedule": on DSB 2018 nuclei, 11880 steps, the
   * decay's tuned hold-out F1 0.888 against 0.869 at the constant rate) and the paper's
   * 'constant' otherwise, where nothing was measured.
   */
  readonly lrSchedule: LrSchedule;
  readonly batch: number;
  readonly iterations: number;
  readonly validateEvery: number;
  readonly checkpointEvery: number;
  /** Why each value was chosen, one line per decision. */
  readonly reasons: readonly string[];
}

/** The training budget unless one is given (`unet plan --budget`, planless `unet train`): 30 minutes, a coffee break rather than a night. */
export const DEFAULT_BUDGET_SECONDS = 1800;

export interface PlanOptions {
  /** Wall-clock budget for training, seconds (default DEFAULT_BUDGET_SECONDS, 1800). */
  readonly budgetSeconds?: number;
  /** Measured seconds per training step at the planned tile (the probe); absent: iterations default to 1000. */
  readonly secondsPerStep?: number;
}

/** The largest tile a plan uses: the bundled models' 412 (README: at this budget larger nets and tiles were slower and no better). */
export const MAX_PLANNED_TILE = 412;

/**
 * The training tile for images of side `side`. Training tiles are placed on a shifted grid of
 * n = ceil(side / output) output windows per axis (src/train/tiles.ts), so a tile carries
 * side / n in-image output pixels per axis and the rest of its output weighs 0. The fewest
 * windows the largest planned tile reaches give the most in-image pixels per step; the smallest
 * tile that still covers the side in that many windows gives them at the least cost. (Taking the
 * tile at or below the side, as plans did first, gave DSB 2018's 256 px images tile 252: 64 px of
 * in-image output per axis, a quarter of tile 316's 128, at 82 % of its step time.)
 *
 * @example plannedTile(256, { depth: 4, padding: 'valid' }) === 316 // n = ceil(256 / 228) = 2; output 132 >= 128
 * @example plannedTile(512, { depth: 4, padding: 'valid' }) === 364 // n = ceil(512 / 228) = 3; output 180 >= 170.7 (412 has the same 170.7 in-image, at 75 % of its output)
 * @example plannedTile(1040, { depth: 4, padding: 'valid' }) === 396 // n = 5; output 212 >= 208
 */
export function plannedTile(side: number, spec: SizeSpec): number {
  if (!(Number.isInteger(side) && side >= 1)) throw new Error(`plannedTile: side must be a positive integer, got ${side}`);
  const sizes = validInputSizes(spec, minValidInputSize(spec), MAX_PLANNED_TILE);
  if (sizes.length === 0) return minValidInputSize(spec);
  const n = Math.ceil(side / outputSize(sizes[sizes.length - 1]!, spec));
  return sizes.find((t) => n * outputSize(t, spec) >= side)!;
}

/**
 * Derives the training plan from a fingerprint (rules in the module doc and in `reasons`).
 * @example planFromFingerprint(isbiFingerprint).tile === 364 (512x512 slices: plannedTile)
 */
export function planFromFingerprint(fp: DatasetFingerprint, options: PlanOptions = {}): TrainingPlan {
  const budget = options.budgetSeconds ?? DEFAULT_BUDGET_SECONDS;
  if (!(budget > 0)) throw new Error(`planFromFingerprint: budgetSeconds must be > 0, got ${budget}`);
  if (options.secondsPerStep !== undefined && !(options.secondsPerStep > 0)) throw new Error(`planFromFingerprint: secondsPerStep must be > 0, got ${options.secondsPerStep}`);
  const reasons: string[] = [];
  const side = Math.min(fp.sizes.median[0], fp.sizes.median[1]);
  // Depth 4 (the paper's) unless images are too small for its receptive field to matter.
  const depth = side >= 128 ? 4 : side >= 64 ? 3 : 2;
  reasons.push(`depth ${depth}: median image side ${side} px${depth < 4 ? ' (small images: fewer poolings)' : ''}`);
  const spec = { depth, padding: 'valid' as const };
  const tile = plannedTile(side, spec);
  const windows = Math.ceil(side / outputSize(tile, spec));
  reasons.push(`tile ${tile} (output ${outputSize(tile, spec)}): the smallest tile <= ${MAX_PLANNED_TILE} whose output covers the median side ${side} px in the fewest windows (${windows} per axis)`);
  const filters = 16;
  reasons.push('filters 16: on CPU budgets 16 base filters matched 32 and 64 (README, model size)');
  // Normalisation: the dtype range when the data uses it; percentiles when intensities sit in a small part of it or are float.
  const full = fp.dtype === 'uint8' ? 255 : fp.dtype === 'uint16' ? 65535 : NaN;
  const span = fp.intensity.p99_5 - fp.intensity.p0_5;
  const normalize = Number.isFinite(full) && span >= 0.25 * full ? 'dtype' : 'percentile:0.5,99.5';
  reasons.push(normalize === 'dtype'
    ? `normalize dtype: ${fp.dtype} intensities span ${span} of 0..${full} (0.5-99.5th percentiles)`
    : `normalize percentile:0.5,99.5: ${fp.dtype} intensities span only ${span}${Number.isFinite(full) ? ` of 0..${full}` : ''}`);
  const labelMode = fp.labels.mode;
  const targets = labelMode === 'instances' ? ('boundary' as const) : null;
  const classes = labelMode === 'classes' ? Math.max(2, fp.labels.classFractions.length) : targets === 'boundary' ? 3 : 2;
  reasons.push(`label mode ${labelMode}: ${fp.labels.distinctValues} distinct label values${labelMode === 'instances' ? `, ${(fp.objects.touchingFraction * 100).toFixed(0)}% of objects touch` : ''}; ${classes} classes${targets === 'boundary' ? ' (targets boundary: background, interior, boundary; instances from a watershed seeded in the interiors)' : ''}`);
  // Border weights (Eq. 2): the paper's w0 = 10; sigma grows with object size, d / 6 so that ISBI 2012
  // cells (median 4-connected component diameter ~28 px) get the paper's and the bundled model's 5.
  const d = fp.objects.medianDiameter;
  const sigma = d > 0 ? Math.min(10, Math.max(2, Math.round(d / 6))) : 5;
  const w0 = fp.objects.perImage >= 2 ? 10 : 0;
  reasons.push(`w0 ${w0}, sigma ${sigma}: ${fp.objects.perImage.toFixed(1)} objects per image, median diameter ${d.toFixed(1)} px${w0 === 0 ? ' (fewer than 2 objects per image: class balancing only)' : ''}`);
  const steps = options.secondsPerStep === undefined ? 1000 : Math.floor((0.9 * budget) / options.secondsPerStep);
  const iterations = Math.max(20, Math.min(100_000, steps));
  reasons.push(options.secondsPerStep === undefined
    ? 'iterations 1000: no timing probe'
    : `iterations ${iterations}: 90% of the ${(budget / 60).toFixed(1)} min budget at ${options.secondsPerStep.toFixed(3)} s/step (probe)`);
  const every = Math.max(10, Math.round(iterations / 10));
  reasons.push('optimizer adam, lr 0.001, batch 1: the bundled models\' recipe (SGD 0.99 needs far more steps, README)');
  const lrSchedule: LrSchedule = labelMode === 'instances' ? 'poly' : 'constant';
  reasons.push(lrSchedule === 'poly'
    ? 'lr-schedule poly: instance labels; on DSB 2018 nuclei the decay to near 0 beat the constant rate by 0.020 hold-out F1 at 11880 steps (README, learning-rate schedule)'
    : 'lr-schedule constant: the paper\'s fixed rate (the decay is measured on instance labels only)');
  return {
    depth, filters, padding: 'valid', tile, classes, channels: fp.channels, normalize, labelMode, targets, w0, sigma,
    optimizer: 'adam', lr: 0.001, lrSchedule, batch: 1, iterations, validateEvery: every, checkpointEvery: every, reasons,
  };
}

/**
 * The `unet train` flags of a plan (before any flags the user gives, which override them).
 * @example planTrainArgs(plan) -> ['--depth', '4', '--filters', '16', '--tile', '412', ...]
 */
export function planTrainArgs(plan: TrainingPlan): string[] {
  return [
    '--depth', String(plan.depth), '--filters', String(plan.filters), '--padding', plan.padding, '--tile', String(plan.tile),
    // Instance labels: the targets decide the classes (3 for boundary, 2 for separated), so that a
    // --targets given to unet train after these flags still gets its own number of classes.
    ...(plan.labelMode === 'instances' ? [] : ['--classes', String(plan.classes)]), '--channels', String(plan.channels), '--normalize', plan.normalize, '--label-mode', plan.labelMode,
    ...(plan.targets === 'boundary' ? ['--targets', 'boundary'] : []),
    '--w0', String(plan.w0), '--sigma', String(plan.sigma), '--optimizer', plan.optimizer, '--lr', String(plan.lr), '--lr-schedule', plan.lrSchedule, '--batch', String(plan.batch),
    '--iterations', String(plan.iterations), '--validate-every', String(plan.validateEvery), '--checkpoint-every', String(plan.checkpointEvery),
  ];
}

/** Checks a plan read from JSON (unet train --plan) and returns it typed; errors name the field. */
export function parsePlan(json: unknown, source: string): TrainingPlan {
  const p = (json as { plan?: unknown }).plan ?? json;
  if (typeof p !== 'object' || p === null) throw new Error(`${source}: not a plan object`);
  const o = p as Record<string, unknown>;
  const int = (k: string, min: number): number => {
    const v = o[k];
    if (!Number.isInteger(v) || (v as number) < min) throw new Error(`${source}: plan.${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const pos = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !(v >= 0)) throw new Error(`${source}: plan.${k} must be a number >= 0, got ${JSON.stringify(v)}`);
    return v;
  };
  const oneOf = <T extends string>(k: string, allowed: readonly T[]): T => {
    const v = o[k];
    if (!allowed.includes(v as T)) throw new Error(`${source}: plan.${k} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  if (typeof o.normalize !== 'string') throw new Error(`${source}: plan.normalize must be a string, got ${JSON.stringify(o.normalize)}`);
  return {
    depth: int('depth', 1), filters: int('filters', 1), padding: oneOf('padding', ['valid'] as const), tile: int('tile', 1), classes: int('classes', 2),
    channels: int('channels', 1), normalize: o.normalize, labelMode: oneOf('labelMode', ['binary', 'classes', 'instances'] as const),
    // Plans written before targets were planned meant the two-class target for instance labels.
    targets: o.targets === undefined || o.targets === null ? (o.labelMode === 'instances' ? 'separated' : null) : oneOf('targets', ['separated', 'boundary'] as const),
    w0: pos('w0'), sigma: pos('sigma'),
    optimizer: oneOf('optimizer', ['adam', 'sgd'] as const), lr: pos('lr'),
    // Plans written before schedules were planned trained at the constant rate.
    lrSchedule: o.lrSchedule === undefined ? 'constant' : oneOf('lrSchedule', LR_SCHEDULES),
    batch: int('batch', 1), iterations: int('iterations', 1),
    validateEvery: int('validateEvery', 0), checkpointEvery: int('checkpointEvery', 0), reasons: Array.isArray(o.reasons) ? (o.reasons as unknown[]).map(String) : [],
  };
}
