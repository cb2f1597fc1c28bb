/**
 * Scoring folders of predictions against ground truth: pairing by stem (including the file
 * names `unet predict` writes, so its output folder is scored as is), the per-image scores of
 * the three modes, the mean and stack rows, and the table / CSV / JSON renderings. Node-only
 * (reads files); never prints. The CLI (`unet evaluate`, `unet predict --evaluate`) calls it.
 *
 * Pairing: a prediction file pairs with the truth file of the same stem, or, for `unet predict`
 * outputs, with the truth file named by the part before the output suffix:
 *   <stem>_prob.tif           float probabilities, one page per class (membrane: page `classIndex`)
 *   <stem>_prob_<class>.png   one class's probability (membrane: the class `predClass`, or the one
 *                             that is not membrane/boundary/background)
 *   <stem>_prob.png           a single probability map (e.g. experiments/isbi2012/torch_reference.py)
 *   <stem>_mask.png           argmax class indices (classes; membrane: nonzero = interior)
 *   <stem>_instances.png/.tif instance ids (instances)
 * For each truth stem one prediction is picked by mode (membrane: probabilities before the mask;
 * instances: the instance map; classes: the mask); a stem with several candidates of the same
 * rank is an error naming them.
 */
import { stat } from 'node:fs/promises';
import { parse, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { checkStems, listImages } from '../io/dataset.js';
import { readImage } from '../io/image.js';
import type { Raster } from '../io/raster.js';
import { isbiSliceScores, isbiStackScores, isbiThresholds, type IsbiSliceScores } from '../metrics/isbi.js';
import { dsbAveragePrecision, instanceOverlaps, matchOverlaps, segMeasure } from '../metrics/instances.js';
import { confusionMatrix, nanMean, perClassScores, pixelAccuracy } from '../metrics/pixel.js';
import { warpingErrorSweep, warpingStackScores, type WarpingSweep } from '../metrics/warping.js';

export type EvaluationMode = 'membrane' | 'instances' | 'classes';

/** What a prediction file holds, from its name. */
export type PredictionKind = 'plain' | 'prob' | 'probTiff' | 'probClass' | 'mask' | 'instances' | 'overlay';

export interface PredictionName {
  readonly stem: string;
  readonly kind: PredictionKind;
  /** Class name of a `_prob_<class>` file. */
  readonly className?: string;
}

/**
 * Splits a file name into the input stem and the kind of `unet predict` output.
 * @example parsePredictionName('slice_07_prob_cell.png') -> { stem: 'slice_07', kind: 'probClass', className: 'cell' }
 * @example parsePredictionName('a_mask.png') -> { stem: 'a', kind: 'mask' }
 * @example parsePredictionName('a.png') -> { stem: 'a', kind: 'plain' }
 */
export function parsePredictionName(file: string): PredictionName {
  const { name, ext } = parse(file);
  const e = ext.toLowerCase();
  const suffix = (s: string): string | undefined => (name.endsWith(s) && name.length > s.length ? name.slice(0, -s.length) : undefined);
  let stem: string | undefined;
  if ((e === '.tif' || e === '.tiff') && (stem = suffix('_prob')) !== undefined) return { stem, kind: 'probTiff' };
  if (e === '.png' && (stem = suffix('_prob')) !== undefined) return { stem, kind: 'prob' };
  const m = /^(.+)_prob_([A-Za-z0-9_.-]+)$/.exec(name);
  if (m && e === '.png') return { stem: m[1]!, kind: 'probClass', className: m[2]! };
  if (e === '.png' && (stem = suffix('_mask')) !== undefined) return { stem, kind: 'mask' };
  if ((e === '.png' || e === '.tif' || e === '.tiff') && (stem = suffix('_instances')) !== undefined) return { stem, kind: 'instances' };
  if (e === '.png' && (stem = suffix('_overlay')) !== undefined) return { stem, kind: 'overlay' };
  return { stem: name, kind: 'plain' };
}

export interface PairOptions {
  readonly mode: EvaluationMode;
  /** Membrane mode: the class of `_prob_<class>.png` files to score (default: see the module doc). */
  readonly predClass?: string;
  /** Consider only these files of the prediction folder (e.g. what one `unet predict` run wrote). */
  readonly only?: readonly string[];
}

export interface EvaluationPair {
  /** Name in the tables: the truth stem. */
  readonly name: string;
  readonly pred: string;
  readonly truth: string;
  readonly kind: PredictionKind;
}

const BOUNDARY_NAMES = new Set(['membrane', 'boundary', 'border', 'background', 'bg']);

/** Rank of a prediction kind for a mode (lower is preferred; undefined: not usable). */
function rank(kind: PredictionKind, mode: EvaluationMode): number | undefined {
  const order: Record<EvaluationMode, PredictionKind[]> = {
    membrane: ['plain', 'probClass', 'prob', 'probTiff', 'mask'],
    instances: ['plain', 'instances'],
    classes: ['plain', 'mask'],
  };
  const r = order[mode].indexOf(kind);
  return r < 0 ? undefined : r;
}

const SAME_STEM = 'but predictions and truth are paired by stem; keep one';

/**
 * Pairs predictions with truth files (see the module doc). `pred` and `truth` are both files or
 * both folders. Every usable prediction must have a truth file (else an error lists them); truth
 * files without a prediction are skipped, so a folder of all labels scores a subset.
 */
export async function pairPredictions(pred: string, truth: string, options: PairOptions): Promise<EvaluationPair[]> {
  const [ps, ts] = await Promise.all([stat(pred), stat(truth)]).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${e.path ?? ''} (${e.code})`);
  });
  if (ps.isDirectory() !== ts.isDirectory()) throw new Error('--pred and --truth must both be files or both be folders');
  if (!ps.isDirectory()) return [{ name: parse(truth).name, pred, truth, kind: parsePredictionName(pred).kind }];
  const truthFiles = await listImages(truth, 'evaluate --truth');
  // Pairing is by stem: two truth files with one stem (x.png, x.tif) would silently pair only one.
  checkStems(truthFiles, 'evaluate --truth', SAME_STEM);
  const truthByStem = new Map(truthFiles.map((t) => [parse(t).name, t]));
  const byStem = new Map<string, { file: string; name: PredictionName }[]>();
  const unmatched: string[] = [];
  const only = options.only ? new Set(options.only.map((f) => resolve(f))) : undefined;
  for (const file of await listImages(pred, 'evaluate --pred')) {
    if (only && !only.has(resolve(file))) continue;
    let n = parsePredictionName(file);
    if (n.kind !== 'plain' && !truthByStem.has(n.stem) && truthByStem.has(parse(file).name)) n = { stem: parse(file).name, kind: 'plain' };
    if (rank(n.kind, options.mode) === undefined) continue;
    if (!truthByStem.has(n.stem)) { unmatched.push(parse(file).base); continue; }
    const list = byStem.get(n.stem) ?? [];
    list.push({ file, name: n });
    byStem.set(n.stem, list);
  }
  if (unmatched.length) throw new Error(`no truth file in ${truth} for: ${unmatched.join(', ')}`);
  const pairs: EvaluationPair[] = [];
  for (const [stem, all] of [...byStem].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    let candidates = all;
    if (options.mode === 'membrane') {
      const probs = candidates.filter((c) => c.name.kind === 'probClass');
      let keep = probs;
      if (options.predClass !== undefined) keep = probs.filter((c) => c.name.className === options.predClass);
      else if (probs.length > 1) keep = probs.filter((c) => !BOUNDARY_NAMES.has(c.name.className!.toLowerCase()));
      if (options.predClass !== undefined && probs.length > 0 && keep.length === 0) {
        throw new Error(`no ${stem}_prob_${options.predClass}.png in ${pred} (found ${probs.map((c) => parse(c.file).base).join(', ')})`);
      }
      candidates = candidates.filter((c) => c.name.kind !== 'probClass' || keep.includes(c));
    }
    if (candidates.length === 0) throw new Error(`cannot tell which prediction for ${stem} in ${pred} to score: ${all.map((c) => parse(c.file).base).join(', ')} (choose one with --pred-class NAME)`);
    const best = Math.min(...candidates.map((c) => rank(c.name.kind, options.mode)!));
    const top = candidates.filter((c) => rank(c.name.kind, options.mode) === best);
    if (top.length > 1) {
      if (top.every((c) => c.name.kind === 'plain')) checkStems(top.map((c) => c.file), 'evaluate --pred', SAME_STEM);
      throw new Error(`several predictions for ${stem} in ${pred}: ${top.map((c) => parse(c.file).base).join(', ')}${options.mode === 'membrane' ? ' (choose one with --pred-class NAME)' : ''}`);
    }
    pairs.push({ name: stem, pred: top[0]!.file, truth: truthByStem.get(stem)!, kind: top[0]!.name.kind });
  }
  if (pairs.length === 0) throw new Error(`no prediction in ${pred} pairs with a truth file in ${truth} for mode ${options.mode} (same stem, or <stem>_mask/_prob/_instances names)`);
  return pairs;
}

/**
 * Defaults of EvaluateOptions, defined once for the library and `unet evaluate`:
 * - mode membrane, boundaries low: the ISBI 2012 challenge's setting (labels 0 = membrane,
 *   255 = interior; a foreground probability, where the membrane is low);
 * - thin: the reference scripts thin the proposal's boundaries before V_rand / V_info;
 * - warpingThreshold 0.5: the probability where the two classes are equally likely;
 * - classIndex 1: the second class of a two-class model, the foreground / interior.
 * The threshold sweep defaults to ISBI_THRESHOLD_SWEEP (src/metrics/isbi.ts).
 */
export const EVALUATE_DEFAULTS = {
  mode: 'membrane',
  predBoundary: 'low',
  truthBoundary: 'low',
  thin: true,
  warpingThreshold: 0.5,
  classIndex: 1,
} as const;

export interface EvaluateOptions {
  readonly mode: EvaluationMode;
  /** Membrane: low (default) = low pred values are membrane; high = pred is a membrane map, used as 1 - p. */
  readonly predBoundary?: 'low' | 'high';
  readonly truthBoundary?: 'low' | 'high';
  /** Membrane: the threshold sweep (default isbiThresholds(), ISBI_THRESHOLD_SWEEP). */
  readonly thresholds?: readonly number[];
  /** Membrane: thin the pred's boundaries first (default true). */
  readonly thin?: boolean;
  /** Membrane: threshold of the warping error (default EVALUATE_DEFAULTS.warpingThreshold, 0.5); null skips it. */
  readonly warpingThreshold?: number | null;
  /** Membrane, `_prob.tif`: the page (class index) to score (default EVALUATE_DEFAULTS.classIndex, 1: the second class). */
  readonly classIndex?: number;
  /** Classes: number of classes (default: largest value + 1). */
  readonly classes?: number;
  /** Refuse images (pages) larger than this many pixels (src/io/raster.ts DEFAULT_MAX_PIXELS). */
  readonly maxPixels?: number;
}

export type Row = Record<string, number | string>;

export interface EvaluationResult {
  readonly mode: EvaluationMode;
  readonly rows: Row[];
  readonly columns: string[];
  /** Mean row, and for membrane the stack row (pooled as the ISBI reference). */
  readonly summary: Row[];
  readonly details: unknown[];
  readonly stack?: unknown;
  readonly options: Record<string, unknown>;
}

function gray(r: Raster, path: string): Raster {
  if (r.channels !== 1) throw new Error(`${path}: has ${r.channels} channels; evaluation needs single-channel images`);
  return r;
}

function dtypeMax(r: Raster): number {
  return r.data instanceof Uint8Array ? 255 : r.data instanceof Uint16Array ? 65535 : 1;
}

/** The pixel (x, y) of flat index i, for messages. */
const at = (r: Raster, i: number): string => `(${i % r.width}, ${Math.floor(i / r.width)})`;

/** Refuses NaN/Inf (float predictions), and for label modes anything but integers >= 0, naming the file. */
function checkValues(r: Raster, path: string, mode: EvaluationMode): void {
  for (let i = 0; i < r.data.length; i++) {
    const v = r.data[i]!;
    if (!Number.isFinite(v)) throw new Error(`evaluate: ${path} has a non-finite value (${v}) at pixel ${at(r, i)}`);
    if (mode !== 'membrane' && !(Number.isInteger(v) && v >= 0)) {
      throw new Error(`evaluate: ${path} has value ${v} at pixel ${at(r, i)}; ${mode} mode needs integers >= 0 (${mode === 'classes' ? 'class indices' : 'object ids, 0 = background'})`);
    }
  }
}

/**
 * The "high" level of a membrane-mode truth image, which must be binary: {0, 255} for 8 bit,
 * {0, 65535} for 16 bit, or a 0/1 mask (the rule of binary labels in training, see
 * binaryThreshold in src/io/dataset.ts). Anything else (e.g. 0/1/2/7) is refused by name.
 */
function binaryTruthHigh(r: Raster, path: string): number {
  const max = dtypeMax(r);
  let one = -1;
  let high = -1;
  for (let i = 0; i < r.data.length; i++) {
    const v = r.data[i]!;
    if (v === max) high = i;
    else if (v === 1) one = i;
    else if (v !== 0) one = high = i;
    if (one >= 0 && high >= 0) {
      throw new Error(`evaluate: ${path} has value ${v} at pixel ${at(r, i)}; membrane truth must be binary (0 and ${max}, or a 0/1 mask); use --mode classes or instances for other labels`);
    }
  }
  return one >= 0 ? 1 : max;
}

function meanRow(rows: Row[], columns: string[]): Row {
  const out: Row = { image: 'mean' };
  for (const c of columns.slice(1)) out[c] = nanMean(rows.map((r) => (typeof r[c] === 'number' ? (r[c] as number) : NaN)));
  return out;
}

/** Scores the pairs (see {@link pairPredictions}); reads the files, prints nothing. */
export async function evaluatePairs(pairs: readonly EvaluationPair[], options: EvaluateOptions): Promise<EvaluationResult> {
  const { mode } = options;
  const predBoundary = options.predBoundary ?? EVALUATE_DEFAULTS.predBoundary;
  const truthBoundary = options.truthBoundary ?? EVALUATE_DEFAULTS.truthBoundary;
  const thresholds = options.thresholds ?? isbiThresholds();
  const thin = options.thin ?? EVALUATE_DEFAULTS.thin;
  const warpingThreshold = options.warpingThreshold === undefined ? EVALUATE_DEFAULTS.warpingThreshold : options.warpingThreshold;
  const classIndex = options.classIndex ?? EVALUATE_DEFAULTS.classIndex;
  const rows: Row[] = [];
  const details: unknown[] = [];
  const sweeps: IsbiSliceScores[] = [];
  const warpSweeps: WarpingSweep[] = [];
  for (const pair of pairs) {
    const decode = options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels };
    const [allPredPages, truthPages] = await Promise.all([readImage(pair.pred, decode), readImage(pair.truth, decode)]);
    let predPages = allPredPages;
    if (pair.kind === 'probTiff') {
      if (truthPages.length !== 1) throw new Error(`${pair.truth}: a multi-page truth cannot pair with the per-class pages of ${pair.pred}`);
      if (classIndex >= predPages.length) throw new Error(`${pair.pred} has ${predPages.length} class pages; class index ${classIndex} does not exist`);
      predPages = [predPages[classIndex]!];
    }
    if (predPages.length !== truthPages.length) throw new Error(`${pair.pred} has ${predPages.length} pages but ${pair.truth} has ${truthPages.length}`);
    for (let k = 0; k < predPages.length; k++) {
      const name = predPages.length > 1 ? `${pair.name}#${k}` : pair.name;
      const predName = predPages.length > 1 ? `${pair.pred} page ${k + 1}` : pair.pred;
      const truthName = truthPages.length > 1 ? `${pair.truth} page ${k + 1}` : pair.truth;
      const pred = gray(predPages[k]!, predName);
      const truth = gray(truthPages[k]!, truthName);
      checkValues(pred, predName, mode);
      checkValues(truth, truthName, mode);
      if (pred.height !== truth.height || pred.width !== truth.width) {
        throw new Error(`size mismatch: pred ${pair.pred} is ${pred.height}x${pred.width} but truth ${pair.truth} is ${truth.height}x${truth.width}`);
      }
      const n = pred.height * pred.width;
      if (mode === 'membrane') {
        // A mask holds class indices: nonzero (class 1 and up) is interior, whatever its dtype.
        const pMax = pair.kind === 'mask' ? 0 : dtypeMax(pred);
        const tHalf = binaryTruthHigh(truth, truthName) / 2;
        const proposal = new Float32Array(n);
        const truthFg = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          const p = pMax === 0 ? (pred.data[i]! > 0 ? 1 : 0) : pred.data[i]! / pMax;
          proposal[i] = predBoundary === 'low' ? p : 1 - p;
          const inside = truth.data[i]! > tHalf;
          truthFg[i] = (truthBoundary === 'low') === inside ? 1 : 0;
        }
        const s = isbiSliceScores(truthFg, proposal, pred.height, pred.width, { thresholds, thin });
        sweeps.push(s);
        const row: Row = { image: name, vRand: s.vRand, vRandThreshold: s.vRandThreshold, vInfo: s.vInfo, vInfoThreshold: s.vInfoThreshold, randError: s.randError, pixelError: s.pixelError };
        let warping: unknown;
        if (warpingThreshold !== null) {
          const w = warpingErrorSweep(truthFg, proposal, pred.height, pred.width, { thresholds: [warpingThreshold] });
          warpSweeps.push(w);
          const c = w.best.classes;
          Object.assign(row, { warpingError: w.warpingError, warpSplits: c.splits, warpMergers: c.mergers, warpClustered: c.clusters / n });
          warping = { threshold: w.threshold, warpingError: w.warpingError, errorPixels: w.best.errorPixels, initialPixels: w.best.initialPixels, pixelsByKind: c.pixelsByKind, splits: c.splits, mergers: c.mergers, clusters: c.clusters };
        }
        rows.push(row);
        details.push({ image: name, pred: pair.pred, truth: pair.truth, ...s, ...(warping ? { warping } : {}) });
      } else if (mode === 'instances') {
        const o = instanceOverlaps(truth.data, pred.data);
        const m = matchOverlaps(o, { iouThreshold: 0.5 });
        const ap = dsbAveragePrecision(truth.data, pred.data);
        const seg = segMeasure(truth.data, pred.data);
        rows.push({ image: name, truthObjects: o.truthIds.length, predObjects: o.predIds.length, tp: m.tp, fp: m.fp, fn: m.fn, precision: m.precision, recall: m.recall, f1: m.f1, meanMatchedIoU: m.meanMatchedIoU, dsbAP: ap.ap, seg: seg.seg });
        details.push({ image: name, pred: pair.pred, truth: pair.truth, matching: m, dsb: ap, seg });
      } else {
        let classes = options.classes ?? 0;
        if (options.classes === undefined) for (let i = 0; i < n; i++) classes = Math.max(classes, truth.data[i]! + 1, pred.data[i]! + 1);
        let cm: ReturnType<typeof confusionMatrix>;
        try {
          cm = confusionMatrix(truth.data, pred.data, classes);
        } catch (e) {
          throw new Error(`evaluate: truth ${truthName}, pred ${predName}: ${(e as Error).message}${options.classes === undefined ? '' : ` (--classes ${options.classes})`}`, { cause: e });
        }
        const per = perClassScores(cm);
        const row: Row = { image: name, pixelAccuracy: pixelAccuracy(cm), meanIoU: nanMean(per.map((c) => c.iou)), meanDice: nanMean(per.map((c) => c.dice)) };
        // Classes absent from both maps (NaN) get no column: 8-bit masks would otherwise list 256.
        per.forEach((c, j) => {
          if (Number.isNaN(c.iou)) return;
          row[`iou${j}`] = c.iou;
          row[`dice${j}`] = c.dice;
        });
        rows.push(row);
        details.push({ image: name, pred: pair.pred, truth: pair.truth, confusion: [...cm.counts], classes, perClass: per });
      }
    }
  }
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const summary: Row[] = [meanRow(rows, columns)];
  let stack: unknown;
  if (mode === 'membrane') {
    const st = isbiStackScores(sweeps);
    const stackRow: Row = { image: 'stack', vRand: st.vRand, vRandThreshold: st.vRandThreshold, vInfo: st.vInfo, vInfoThreshold: st.vInfoThreshold, randError: st.randError, pixelError: st.pixelError };
    stack = st;
    if (warpSweeps.length) {
      const w = warpingStackScores(warpSweeps);
      Object.assign(stackRow, { warpingError: w.warpingError, warpSplits: w.splits, warpMergers: w.mergers, warpClustered: w.clusteredWarpingError });
      stack = { ...st, warping: w };
    }
    summary.push(stackRow);
  }
  return {
    mode,
    rows,
    columns,
    summary,
    details,
    stack,
    options: { predBoundary, truthBoundary, thresholds, thin, classes: options.classes, warpingThreshold, classIndex },
  };
}

/**
 * Formats a number for the table: integers as is, 4 decimals, small values (< 0.01) with 3
 * significant digits so warping errors (~1e-4) stay readable; NaN as n/a.
 * @example formatCell(0.000353) === '3.53e-4'; formatCell(0.96312) === '0.9631'; formatCell(12) === '12'
 */
export function formatCell(v: number | string): string {
  if (typeof v !== 'number') return v;
  if (Number.isNaN(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) < 0.01) return v.toExponential(2);
  return v.toFixed(4);
}

/** Fixed-width text table (first column left-aligned). */
export function formatTable(rows: readonly Row[], columns: readonly string[]): string {
  const cells = [[...columns], ...rows.map((r) => columns.map((c) => formatCell(r[c] ?? '')))];
  const widths = columns.map((_, j) => Math.max(...cells.map((r) => r[j]!.length)));
  return cells.map((r) => r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  ')).join('\n');
}

/** RFC 4180 CSV with full-precision numbers. */
export function formatCsv(rows: readonly Row[], columns: readonly string[]): string {
  const esc = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return [columns.join(','), ...rows.map((r) => columns.map((c) => esc(typeof r[c] === 'number' ? String(r[c]) : String(r[c] ?? ''))).join(','))].join('\n') + '\n';
}

/** The JSON document of `--json` (non-finite numbers as null). */
export function evaluationJson(result: EvaluationResult): string {
  const doc = { mode: result.mode, options: result.options, images: result.details, table: result.rows, mean: result.summary[0], stack: result.stack };
  return JSON.stringify(doc, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2) + '\n';
}

/** The text report: table with mean (and stack) rows, plus the membrane footnote. */
export function evaluationText(result: EvaluationResult): string {
  let text = `${formatTable([...result.rows, ...result.summary], result.columns)}\n`;
  if (result.mode === 'membrane') {
    text += '(stack: V_rand and the errors pool pair/pixel counts over slices, V_info is the slice mean, then max over thresholds, as the ISBI reference';
    text += result.rows.some((r) => 'warpingError' in r) ? `; warping error at threshold ${String(result.options.warpingThreshold)})\n` : ')\n';
  }
  return text;
}

export interface EvaluateFilesOptions extends EvaluateOptions, Omit<PairOptions, 'mode'> {
  /** Write the JSON document ({@link evaluationJson}) here. */
  readonly json?: string;
  /** Write the per-image table with the mean (and stack) rows as CSV here. */
  readonly csv?: string;
}

/**
 * Pairs `pred` with `truth` ({@link pairPredictions}), scores the pairs, writes the JSON and CSV
 * files asked for (atomically) and returns the result with its text report: all of
 * `unet evaluate` and `unet predict --evaluate` but the printing.
 */
export async function evaluateFiles(pred: string, truth: string, options: EvaluateFilesOptions): Promise<{ result: EvaluationResult; text: string }> {
  const pairs = await pairPredictions(pred, truth, options);
  const result = await evaluatePairs(pairs, options);
  if (options.json !== undefined) await writeFileAtomic(options.json, evaluationJson(result));
  if (options.csv !== undefined) await writeFileAtomic(options.csv, formatCsv([...result.rows, ...result.summary], result.columns));
  return { result, text: evaluationText(result) };
}
