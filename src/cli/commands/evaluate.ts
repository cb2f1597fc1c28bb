import { readdir, stat } from 'node:fs/promises';
import { extname, join, parse } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../../io/atomic.js';
import { readImage } from '../../io/image.js';
import { checkOutputStems } from '../../infer/write-outputs.js';
import type { Raster } from '../../io/raster.js';
import { isbiSliceScores, isbiStackScores, isbiThresholds, type IsbiSliceScores } from '../../metrics/isbi.js';
import { dsbAveragePrecision, instanceOverlaps, matchOverlaps, segMeasure } from '../../metrics/instances.js';
import { confusionMatrix, nanMean, perClassScores, pixelAccuracy } from '../../metrics/pixel.js';
import { intOption, UsageError } from '../args.js';
import { decodeOptionsFrom, MAX_PIXELS_HELP, MAX_PIXELS_OPTION } from './decode-options.js';

export const EVALUATE_HELP = `unet evaluate --pred DIR_OR_FILE --truth DIR_OR_FILE [--mode membrane|instances|classes] [options]

Scores predictions against ground truth; folders are matched by file stem (PNG, JPEG, TIFF; every
page of a multi-page TIFF is one slice). Prints a table per image and the mean.
  --mode M              membrane (default) | instances | classes
  --json FILE           write all results as JSON
  --csv FILE            write the per-image table as CSV
${MAX_PIXELS_HELP}
membrane (ISBI 2012: V_rand and V_info after thinning, max over thresholds; Rand error; pixel error):
  --pred-boundary V     low (default): low pred values are membrane, high are cell interior (a
                        foreground probability or a 255-interior mask); high: pred is a membrane
                        probability/mask and is used as 1 - p
  --truth-boundary V    low (default; ISBI labels 0 = membrane, 255 = interior) | high; truth must be
                        binary: 0 and 255 (8-bit), 0 and 65535 (16-bit) or 0 and 1 (a 0/1 mask)
  --thresholds A:B:S    threshold sweep on the pred scaled to [0,1] (0:1:0.1; 8-bit /255, 16-bit /65535,
                        float as is); a pixel is interior where value > threshold
  --no-thin             skip thinning the pred's boundaries
instances (0 = background, other values = object ids): F1/precision/recall at IoU > 0.5,
  DSB2018 AP over IoU 0.5:0.05:0.95, SEG (Cell Tracking Challenge)
classes (values are class indices): pixel accuracy, per-class IoU and Dice
  --classes N           number of classes (default: largest value + 1)`;

const EXTENSIONS = ['.png', '.tif', '.tiff', '.jpg', '.jpeg'];

interface Pair { name: string; pred: string; truth: string }

async function listFiles(dir: string, what: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => EXTENSIONS.includes(extname(n).toLowerCase()) && !n.startsWith('.')).sort();
  if (names.length === 0) throw new Error(`--${what} ${dir} holds no images (${EXTENSIONS.join(', ')})`);
  return names.map((n) => join(dir, n));
}

async function pairInputs(pred: string, truth: string): Promise<Pair[]> {
  const [ps, ts] = await Promise.all([stat(pred), stat(truth)]).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${e.path ?? ''} (${e.code})`);
  });
  if (ps.isDirectory() !== ts.isDirectory()) throw new UsageError('--pred and --truth must both be files or both be folders');
  if (!ps.isDirectory()) return [{ name: parse(pred).name, pred, truth }];
  const predFiles = await listFiles(pred, 'pred');
  const truthFiles = await listFiles(truth, 'truth');
  // Pairing is by stem: two files with one stem (x.png, x.tif) would silently pair only one.
  const why = 'but predictions and truth are paired by stem; keep one';
  checkOutputStems(predFiles, 'evaluate --pred', why);
  checkOutputStems(truthFiles, 'evaluate --truth', why);
  const truthByStem = new Map(truthFiles.map((p) => [parse(p).name, p]));
  const missing = predFiles.filter((p) => !truthByStem.has(parse(p).name));
  if (missing.length) throw new Error(`no truth file in ${truth} for: ${missing.join(', ')}`);
  return predFiles.map((p) => ({ name: parse(p).name, pred: p, truth: truthByStem.get(parse(p).name)! }));
}

function gray(r: Raster, path: string): Raster {
  if (r.channels !== 1) throw new Error(`${path}: has ${r.channels} channels; evaluation needs single-channel images`);
  return r;
}

/** The pixel (x, y) of flat index i, for messages. */
const at = (r: Raster, i: number): string => `(${i % r.width}, ${Math.floor(i / r.width)})`;

/** Refuses NaN/Inf (float predictions), and for label modes anything but integers >= 0, naming the file. */
function checkValues(r: Raster, path: string, mode: string): void {
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

function dtypeMax(r: Raster): number {
  return r.data instanceof Uint8Array ? 255 : r.data instanceof Uint16Array ? 65535 : 1;
}

function parseThresholds(spec: string | undefined): number[] {
  if (spec === undefined) return isbiThresholds();
  const parts = spec.split(':').map(Number);
  if (parts.length !== 3 || parts.some((v) => !Number.isFinite(v))) throw new UsageError(`--thresholds must be MIN:MAX:STEP, got "${spec}"`);
  return isbiThresholds(parts[0], parts[1], parts[2]);
}

type Row = Record<string, number | string>;

const fmt = (v: number | string): string => (typeof v === 'number' ? (Number.isNaN(v) ? 'n/a' : Number.isInteger(v) ? String(v) : v.toFixed(4)) : v);

function table(rows: Row[], columns: string[]): string {
  const cells = [columns, ...rows.map((r) => columns.map((c) => fmt(r[c] ?? '')))];
  const widths = columns.map((_, j) => Math.max(...cells.map((r) => r[j]!.length)));
  return cells.map((r) => r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  ')).join('\n');
}

function csv(rows: Row[], columns: string[]): string {
  const esc = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return [columns.join(','), ...rows.map((r) => columns.map((c) => esc(typeof r[c] === 'number' ? String(r[c]) : String(r[c] ?? ''))).join(','))].join('\n') + '\n';
}

function meanRow(rows: Row[], columns: string[]): Row {
  const out: Row = { image: 'mean' };
  for (const c of columns.slice(1)) out[c] = nanMean(rows.map((r) => (typeof r[c] === 'number' ? (r[c] as number) : NaN)));
  return out;
}

export async function evaluateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pred: { type: 'string' },
      truth: { type: 'string' },
      mode: { type: 'string' },
      json: { type: 'string' },
      csv: { type: 'string' },
      'pred-boundary': { type: 'string' },
      'truth-boundary': { type: 'string' },
      thresholds: { type: 'string' },
      'no-thin': { type: 'boolean' },
      classes: { type: 'string' },
      ...MAX_PIXELS_OPTION,
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${EVALUATE_HELP}\n`);
    return 0;
  }
  if (!values.pred) throw new UsageError('--pred is required');
  if (!values.truth) throw new UsageError('--truth is required');
  const mode = values.mode ?? 'membrane';
  if (!['membrane', 'instances', 'classes'].includes(mode)) throw new UsageError(`--mode must be membrane, instances or classes, got "${mode}"`);
  const side = (v: string | undefined, name: string): 'low' | 'high' => {
    if (v === undefined || v === 'low' || v === 'high') return v ?? 'low';
    throw new UsageError(`--${name} must be low or high, got "${v}"`);
  };
  const predBoundary = side(values['pred-boundary'], 'pred-boundary');
  const truthBoundary = side(values['truth-boundary'], 'truth-boundary');
  const thresholds = parseThresholds(values.thresholds);
  const thin = !values['no-thin'];
  const classesOption = intOption(values.classes, 'classes');

  const decodeOptions = decodeOptionsFrom(values['max-pixels']);
  const pairs = await pairInputs(values.pred, values.truth);
  const rows: Row[] = [];
  const details: unknown[] = [];
  const sweeps: IsbiSliceScores[] = [];
  for (const pair of pairs) {
    const [predPages, truthPages] = await Promise.all([readImage(pair.pred, decodeOptions), readImage(pair.truth, decodeOptions)]);
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
        const pMax = dtypeMax(pred);
        const tHalf = binaryTruthHigh(truth, truthName) / 2;
        const proposal = new Float32Array(n);
        const truthFg = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          const p = pred.data[i]! / pMax;
          proposal[i] = predBoundary === 'low' ? p : 1 - p;
          const inside = truth.data[i]! > tHalf;
          truthFg[i] = (truthBoundary === 'low') === inside ? 1 : 0;
        }
        const s = isbiSliceScores(truthFg, proposal, pred.height, pred.width, { thresholds, thin });
        sweeps.push(s);
        rows.push({ image: name, vRand: s.vRand, vRandThreshold: s.vRandThreshold, vInfo: s.vInfo, vInfoThreshold: s.vInfoThreshold, randError: s.randError, pixelError: s.pixelError });
        details.push({ image: name, pred: pair.pred, truth: pair.truth, ...s });
      } else if (mode === 'instances') {
        const o = instanceOverlaps(truth.data, pred.data);
        const m = matchOverlaps(o, { iouThreshold: 0.5 });
        const ap = dsbAveragePrecision(truth.data, pred.data);
        const seg = segMeasure(truth.data, pred.data);
        rows.push({ image: name, truthObjects: o.truthIds.length, predObjects: o.predIds.length, tp: m.tp, fp: m.fp, fn: m.fn, precision: m.precision, recall: m.recall, f1: m.f1, meanMatchedIoU: m.meanMatchedIoU, dsbAP: ap.ap, seg: seg.seg });
        details.push({ image: name, pred: pair.pred, truth: pair.truth, matching: m, dsb: ap, seg });
      } else {
        let classes = classesOption ?? 0;
        if (classesOption === undefined) for (let i = 0; i < n; i++) classes = Math.max(classes, truth.data[i]! + 1, pred.data[i]! + 1);
        let cm: ReturnType<typeof confusionMatrix>;
        try {
          cm = confusionMatrix(truth.data, pred.data, classes);
        } catch (e) {
          throw new Error(`evaluate: truth ${truthName}, pred ${predName}: ${(e as Error).message}${classesOption === undefined ? '' : ` (--classes ${classesOption})`}`, { cause: e });
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
    stack = st;
    summary.push({ image: 'stack', vRand: st.vRand, vRandThreshold: st.vRandThreshold, vInfo: st.vInfo, vInfoThreshold: st.vInfoThreshold, randError: st.randError, pixelError: st.pixelError });
  }
  process.stdout.write(`${table([...rows, ...summary], columns)}\n`);
  if (mode === 'membrane') process.stdout.write('(stack: V_rand and the errors pool pair/pixel counts over slices, V_info is the slice mean, then max over thresholds, as the ISBI reference)\n');
  const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? null : x)));
  if (values.json) {
    await writeFileAtomic(values.json, JSON.stringify(plain({ mode, options: { predBoundary, truthBoundary, thresholds, thin, classes: classesOption }, images: details, table: rows, mean: summary[0], stack }), null, 2) + '\n');
  }
  if (values.csv) await writeFileAtomic(values.csv, csv([...rows, ...summary], columns));
  return 0;
}
