/** `unet evaluate`: parses and checks the flags; pairing, scoring and the tables are src/eval/evaluate.ts. */
import { EVALUATE_DEFAULTS, evaluateFiles, type EvaluateFilesOptions, type EvaluationMode } from '../../eval/evaluate.js';
import { isbiThresholds, ISBI_THRESHOLD_SWEEP } from '../../metrics/isbi.js';
import { decodeOptionsFrom, intOption, MAX_PIXELS_HELP, MAX_PIXELS_OPTION, parseFlags, UsageError } from '../args.js';

const D = EVALUATE_DEFAULTS;
const SWEEP = `${ISBI_THRESHOLD_SWEEP.min}:${ISBI_THRESHOLD_SWEEP.max}:${ISBI_THRESHOLD_SWEEP.step}`;

export const EVALUATE_HELP = `unet evaluate --pred DIR_OR_FILE --truth DIR_OR_FILE [--mode membrane|instances|classes] [options]

Scores predictions against ground truth; folders are matched by file stem (PNG, JPEG, TIFF; every
page of a multi-page TIFF is one slice). A \`unet predict\` output folder pairs as is:
<stem>_prob_<class>.png / <stem>_prob.tif (membrane), <stem>_instances.png (instances) and
<stem>_mask.png (classes; membrane when no probabilities) pair with the truth file <stem>.
Prints a table per image and the mean. Values the mode cannot score (NaN, a membrane truth that
is not binary, ids or classes that are not integers >= 0) are refused, naming the file.
  --mode M              membrane | instances | classes   (${D.mode})
  --json FILE           write all results as JSON
  --csv FILE            write the per-image table as CSV
${MAX_PIXELS_HELP}
membrane (ISBI 2012: V_rand and V_info after thinning, max over thresholds; Rand error; pixel error):
  --pred-boundary V     low | high   (${D.predBoundary}); low: low pred values are membrane, high are cell
                        interior (a foreground probability or a 255-interior mask); high: pred is a
                        membrane probability/mask and is used as 1 - p
  --truth-boundary V    low | high   (${D.truthBoundary}); low: ISBI labels, 0 = membrane, 255 = interior; truth must be
                        binary: 0 and 255 (8-bit), 0 and 65535 (16-bit) or 0 and 1 (a 0/1 mask)
  --thresholds A:B:S    threshold sweep on the pred scaled to [0,1] (${SWEEP}; 8-bit /255, 16-bit /65535,
                        float as is); a pixel is interior where value > threshold
  --no-thin             skip thinning the pred's boundaries
  --pred-class NAME     which <stem>_prob_<NAME>.png to score (default: the class not named
                        membrane/boundary/background); <stem>_prob.tif uses page --class-index (${D.classIndex})
  --class-index K       the class page of <stem>_prob.tif to score (default ${D.classIndex})
  --warping-threshold T warping error (Jain et al. 2010; the paper's Table 1) of the pred binarised
                        at T (default ${D.warpingThreshold}): remaining pixel disagreements / pixels after warping the
                        truth toward it by simple-pixel flips; warpSplits / warpMergers count the
                        clustered topological errors, warpClustered all clustered errors / pixels
  --no-warping          skip the warping error
instances (0 = background, other values = object ids): F1/precision/recall at IoU > 0.5,
  DSB2018 AP over IoU 0.5:0.05:0.95, SEG (Cell Tracking Challenge)
classes (values are class indices): pixel accuracy, per-class IoU and Dice
  --classes N           number of classes (default: largest value + 1)`;

export const EVALUATE_OPTIONS = {
  mode: { type: 'string' },
  json: { type: 'string' },
  csv: { type: 'string' },
  'pred-boundary': { type: 'string' },
  'truth-boundary': { type: 'string' },
  thresholds: { type: 'string' },
  'no-thin': { type: 'boolean' },
  'pred-class': { type: 'string' },
  'class-index': { type: 'string' },
  'warping-threshold': { type: 'string' },
  'no-warping': { type: 'boolean' },
  classes: { type: 'string' },
  ...MAX_PIXELS_OPTION,
} as const;

function parseThresholds(spec: string | undefined): number[] {
  if (spec === undefined) return isbiThresholds();
  const parts = spec.split(':').map(Number);
  if (parts.length !== 3 || parts.some((v) => !Number.isFinite(v))) throw new UsageError(`--thresholds must be MIN:MAX:STEP, got "${spec}"`);
  if (!(parts[2]! > 0 && parts[1]! >= parts[0]!)) throw new UsageError(`--thresholds ${spec}: needs STEP > 0 and MAX >= MIN`);
  return isbiThresholds(parts[0], parts[1], parts[2]);
}

export type EvaluateValues = { [K in keyof typeof EVALUATE_OPTIONS]?: (typeof EVALUATE_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The library options from evaluate's parsed flags (usage errors thrown here, before any work). */
export function evaluationOptions(values: EvaluateValues): EvaluateFilesOptions {
  const mode = values.mode ?? D.mode;
  if (!['membrane', 'instances', 'classes'].includes(mode)) throw new UsageError(`--mode must be membrane, instances or classes, got "${mode}"`);
  const side = (v: string | undefined, name: string, fallback: 'low' | 'high'): 'low' | 'high' => {
    if (v === undefined || v === 'low' || v === 'high') return v ?? fallback;
    throw new UsageError(`--${name} must be low or high, got "${v}"`);
  };
  const warpingThreshold = values['warping-threshold'] === undefined ? D.warpingThreshold : Number(values['warping-threshold']);
  if (!Number.isFinite(warpingThreshold)) throw new UsageError(`--warping-threshold must be a number, got "${values['warping-threshold']}"`);
  const options = {
    mode: mode as EvaluationMode,
    predBoundary: side(values['pred-boundary'], 'pred-boundary', D.predBoundary),
    truthBoundary: side(values['truth-boundary'], 'truth-boundary', D.truthBoundary),
    thresholds: parseThresholds(values.thresholds),
    thin: values['no-thin'] ? false : D.thin,
    warpingThreshold: values['no-warping'] ? null : warpingThreshold,
    classIndex: intOption(values['class-index'], 'class-index', D.classIndex)!,
    classes: intOption(values.classes, 'classes'),
    ...(values['pred-class'] !== undefined ? { predClass: values['pred-class'] } : {}),
    ...(values.json !== undefined ? { json: values.json } : {}),
    ...(values.csv !== undefined ? { csv: values.csv } : {}),
    ...decodeOptionsFrom(values['max-pixels']),
  };
  if (options.classIndex < 0) throw new UsageError(`--class-index must be at least 0, got ${options.classIndex}`);
  return options;
}

/**
 * Scores `pred` against `truth` with evaluate's parsed flags and prints the table; `only`
 * restricts the prediction folder to those files. Shared with `unet predict --evaluate`.
 */
export async function runEvaluation(pred: string, truth: string, values: EvaluateValues, only?: readonly string[]): Promise<void> {
  const { text } = await evaluateFiles(pred, truth, { ...evaluationOptions(values), ...(only ? { only } : {}) });
  process.stdout.write(text);
}

export async function evaluateCommand(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { pred: { type: 'string' }, truth: { type: 'string' }, ...EVALUATE_OPTIONS }, EVALUATE_HELP);
  if (!values.pred) throw new UsageError('--pred is required');
  if (!values.truth) throw new UsageError('--truth is required');
  await runEvaluation(values.pred, values.truth, values);
  return 0;
}
