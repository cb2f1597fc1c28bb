/**
 * The CLI glue: what every `unet` command repeats, defined once. Option parsing with errors
 * that name the flag and the value, `--help`, and the options several commands share
 * (`--normalize`, `--classes`, `--w0/--sigma`, `--connectivity`, the label options, the
 * augmentation options, `--max-pixels`, `--memory`, the architecture), each as its parseArgs
 * spec, its help lines and its parser. Every default shown in a help line is read from the
 * library constant the library itself applies, so `unet X` without a flag and the library
 * without the option do the same thing, and --help says so. The work stays in the library.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_AUGMENT, type AugmentOptions } from '../augment/augment.js';
import { DEFAULT_ELASTIC } from '../augment/elastic.js';
import { initBackend, type BackendInfo } from '../backend/index.js';
import { DEFAULT_TILE_MEMORY_BYTES } from '../infer/predictor.js';
import { classesForLabelMode, DEFAULT_BINARY_THRESHOLD, DEFAULT_CONNECTIVITY, type LabelMode } from '../io/dataset.js';
import { parseNormalization, DEFAULT_NORMALIZATION, describeNormalization, NORMALIZATION_SPECS, type Normalization } from '../io/normalize.js';
import { DEFAULT_MAX_PIXELS } from '../io/raster.js';
import { DEFAULT_WEIGHT_MAP } from '../loss/weight-map.js';
import { PAPER_CONFIG, type UNetConfig } from '../model/config.js';
import type { Connectivity } from '../util/components.js';

export class UsageError extends Error {}

/** Thrown by {@link parseCommand} for `--help` / `-h`: main prints `help` on stdout and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly help: string) {
    super('help requested');
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** What parseArgs gives for `options` (and --help), strict, positionals allowed. */
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP_OPTION; strict: true; allowPositionals: true }>>;

/**
 * Parses a command's argv strictly with `options` plus `--help`/`-h`; on --help throws
 * {@link HelpRequested} carrying `help`, so no command handles it itself.
 * @example parseCommand(['--out', 'x'], { out: { type: 'string' } }, HELP).values.out === 'x'
 */
export function parseCommand<const O extends Options>(argv: readonly string[], options: O, help: string): Parsed<O> {
  const parsed = parseArgs({ args: [...argv], options: { ...options, ...HELP_OPTION }, strict: true, allowPositionals: true });
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(help);
  return parsed;
}

/**
 * {@link parseCommand} for a command that takes no positional arguments.
 * @throws UsageError naming the first unexpected argument
 */
export function parseFlags<const O extends Options>(argv: readonly string[], options: O, help: string): Parsed<O>['values'] {
  const { values, positionals } = parseCommand(argv, options, help);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (this command takes only --options)`);
  return values;
}

/**
 * One help line: the flag padded to a column, the text, and the default in parentheses.
 * @example optionLine('--batch N', 'tiles per step', 1) === '  --batch N            tiles per step   (1)'
 */
export function optionLine(flag: string, text: string, fallback?: string | number): string {
  return `  ${flag.padEnd(20)} ${text}${fallback === undefined ? '' : `   (${fallback})`}`;
}

export function intOption(value: string | undefined, name: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got "${value}"`);
  return n;
}

export function numberOption(value: string | undefined, name: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

/**
 * Long names of the options given in `argv`, in order, whichever way each was written
 * (`--out DIR`, `--out=DIR`, `-h`): count options from this, never from argv.length.
 *
 * @example givenOptions(['--resume=runs/a'], { resume: { type: 'string' } }) // ['resume']
 */
export function givenOptions(argv: readonly string[], options: Options): string[] {
  const { tokens } = parseArgs({ args: [...argv], options, strict: true, tokens: true });
  return tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : []));
}

export function requireOption(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** Activates the backend and says once on stderr why the native one is not in use, if it is not. */
export async function startBackend(command: string): Promise<BackendInfo> {
  const backend = await initBackend();
  if (backend.note) process.stderr.write(`unet ${command}: ${backend.note}\n`);
  return backend;
}

// --- --classes (augment, weights, and with the architecture: info, train) ---

export const CLASSES_OPTION = { classes: { type: 'string' } } as const;
export const CLASSES_HELP = optionLine('--classes N', 'number of classes', PAPER_CONFIG.classes);

/** --classes: a positive integer, or `fallback` when absent. */
export function classesOption(value: string | undefined, fallback: number = PAPER_CONFIG.classes): number {
  const n = intOption(value, 'classes', fallback)!;
  if (n < 1) throw new UsageError(`--classes must be at least 1, got ${n}`);
  return n;
}

// --- architecture (info, train) ---

export const MODEL_OPTIONS = {
  depth: { type: 'string' },
  filters: { type: 'string' },
  ...CLASSES_OPTION,
  channels: { type: 'string' },
  padding: { type: 'string' },
  'batch-norm': { type: 'boolean' },
  dropout: { type: 'string' },
} as const;

export function modelConfigFromOptions(v: Record<string, string | boolean | undefined>): Partial<UNetConfig> {
  const padding = v.padding as string | undefined;
  if (padding !== undefined && padding !== 'valid' && padding !== 'same') throw new UsageError(`--padding must be valid or same, got "${padding}"`);
  return {
    depth: intOption(v.depth as string | undefined, 'depth'),
    baseFilters: intOption(v.filters as string | undefined, 'filters'),
    classes: intOption(v.classes as string | undefined, 'classes'),
    inputChannels: intOption(v.channels as string | undefined, 'channels'),
    padding: padding as UNetConfig['padding'] | undefined,
    batchNorm: v['batch-norm'] as boolean | undefined,
    dropout: numberOption(v.dropout as string | undefined, 'dropout'),
  } as Partial<UNetConfig>;
}

export const MODEL_HELP = [
  "Architecture (defaults are the paper's):",
  optionLine('--depth N', 'pooling steps', PAPER_CONFIG.depth),
  optionLine('--filters N', 'first-level channels', PAPER_CONFIG.baseFilters),
  CLASSES_HELP,
  optionLine('--channels N', 'image channels, 1 or 3', PAPER_CONFIG.inputChannels),
  optionLine('--padding P', 'valid | same', PAPER_CONFIG.padding),
  optionLine('--batch-norm', 'batch norm after each conv'),
  optionLine('--dropout R', 'dropout at the end of the contracting path', PAPER_CONFIG.dropout),
].join('\n');

// --- --normalize (train, augment) ---

export const NORMALIZE_OPTION = { normalize: { type: 'string' } } as const;
export const NORMALIZE_HELP = [
  optionLine('--normalize SPEC', NORMALIZATION_SPECS, describeNormalization(DEFAULT_NORMALIZATION)),
  `${' '.repeat(23)}dtype: 8-bit 0..255 and 16-bit 0..65535 map to 0..1`,
].join('\n');

/** --normalize: the parsed spec, DEFAULT_NORMALIZATION when absent. */
export function normalizationOption(value: string | undefined): Normalization {
  if (value === undefined) return DEFAULT_NORMALIZATION;
  try {
    return parseNormalization(value);
  } catch (e) {
    throw new UsageError(`--normalize: ${(e as Error).message}`);
  }
}

// --- --w0 / --sigma (train, weights) ---

export const WEIGHT_MAP_OPTIONS = { w0: { type: 'string' }, sigma: { type: 'string' } } as const;
export const WEIGHT_MAP_HELP = [
  optionLine('--w0 X', 'border weight of the weight map (Sec. 3, Eq. 2); 0 = class balancing only', DEFAULT_WEIGHT_MAP.w0),
  optionLine('--sigma X', 'border width in pixels', DEFAULT_WEIGHT_MAP.sigma),
].join('\n');

/** --w0 and --sigma, the library defaults filled in (so they are stored with the model). */
export function weightMapOptions(v: { w0?: string; sigma?: string }): { w0: number; sigma: number } {
  const w0 = numberOption(v.w0, 'w0', DEFAULT_WEIGHT_MAP.w0)!;
  const sigma = numberOption(v.sigma, 'sigma', DEFAULT_WEIGHT_MAP.sigma)!;
  if (!(w0 >= 0)) throw new UsageError(`--w0 must be >= 0, got ${w0}`);
  if (!(sigma > 0)) throw new UsageError(`--sigma must be > 0, got ${sigma}`);
  return { w0, sigma };
}

// --- --connectivity (train, weights) ---

export const CONNECTIVITY_OPTION = { connectivity: { type: 'string' } } as const;
export const CONNECTIVITY_HELP = optionLine('--connectivity 4|8', 'objects of binary/class labels (for the weight map) are 4- or 8-connected', DEFAULT_CONNECTIVITY);

/** --connectivity: 4 or 8, DEFAULT_CONNECTIVITY when absent. */
export function connectivityOption(value: string | undefined): Connectivity {
  const c = intOption(value, 'connectivity', DEFAULT_CONNECTIVITY)!;
  if (c !== 4 && c !== 8) throw new UsageError(`--connectivity must be 4 or 8, got ${c}`);
  return c;
}

// --- label options (train, augment, weights) ---

export const LABEL_MODE_OPTIONS = {
  'label-mode': { type: 'string' },
  threshold: { type: 'string' },
  invert: { type: 'boolean' },
  'no-separate': { type: 'boolean' },
  targets: { type: 'string' },
} as const;

export const LABEL_MODE_HELP = `Labels:
  --label-mode MODE    binary | classes | instances   (binary)
  --threshold T        binary labels: value > T is foreground (${DEFAULT_BINARY_THRESHOLD}); a 0/1 mask (all values 0 or 1): 1 is
                       foreground; 1-bit masks read as 0/255
  --invert             binary labels: swap foreground and background (ISBI: makes the membrane class 1)
  --no-separate        instance labels: do not cut a background line between touching objects
  --targets T          instance labels: separated (2 classes, a background line between touching objects,
                       the paper's) | boundary (3 classes: background, interior, boundary; needs 3 classes,
                       the default then)   (boundary when unet train plans, i.e. without architecture
                       flags; else separated)`;

export function labelModeFromOptions(v: { 'label-mode'?: string; threshold?: string; invert?: boolean; 'no-separate'?: boolean; targets?: string }): LabelMode {
  const name = v['label-mode'] ?? 'binary';
  if (v.targets !== undefined && name !== 'instances') throw new UsageError(`--targets applies to --label-mode instances, not "${name}"`);
  if (v.targets !== undefined && v.targets !== 'separated' && v.targets !== 'boundary') throw new UsageError(`--targets must be separated or boundary, got "${v.targets}"`);
  if (name === 'binary') return { mode: 'binary', threshold: numberOption(v.threshold, 'threshold', DEFAULT_BINARY_THRESHOLD)!, invert: v.invert ?? false };
  if (name === 'classes') return { mode: 'classes' };
  if (name === 'instances') {
    if (v.targets === 'boundary') {
      if (v['no-separate']) throw new UsageError('--no-separate applies to --targets separated; boundary targets never cut lines');
      return { mode: 'instances', targets: 'boundary' };
    }
    return { mode: 'instances', separate: !(v['no-separate'] ?? false) };
  }
  throw new UsageError(`--label-mode must be binary, classes or instances, got "${name}"`);
}

/**
 * The classes a label mode fixes (3 for boundary targets), checked against --classes as given
 * (undefined: not given); undefined when the mode leaves the count to the model.
 *
 * @example modeClassesOption({ mode: 'instances', targets: 'boundary' }, undefined) === 3
 * @example modeClassesOption({ mode: 'classes' }, 5) === undefined
 * @throws UsageError for boundary targets with --classes other than 3
 */
export function modeClassesOption(mode: LabelMode, asked: number | undefined): number | undefined {
  const fixed = classesForLabelMode(mode);
  if (fixed !== undefined && asked !== undefined && asked !== fixed) {
    throw new UsageError(`--targets boundary trains ${fixed} classes (background, interior, boundary), not --classes ${asked}`);
  }
  return fixed;
}

// --- augmentation (train, augment) ---

export const AUGMENT_OPTIONS = {
  'elastic-std': { type: 'string' },
  'elastic-grid': { type: 'string' },
  rotation: { type: 'string' },
  shift: { type: 'string' },
  'no-flips': { type: 'boolean' },
  interpolation: { type: 'string' },
  brightness: { type: 'string' },
  contrast: { type: 'string' },
  gamma: { type: 'string' },
  noise: { type: 'string' },
} as const;

const A = DEFAULT_AUGMENT;
export const AUGMENT_FLAGS_HELP = `Augmentation (defaults are the paper's where it gives them):
${optionLine('--elastic-std X', 'elastic displacement std in pixels, 0 = off', DEFAULT_ELASTIC.std)}
${optionLine('--elastic-grid N', 'coarse grid nodes per side', DEFAULT_ELASTIC.gridSize)}
${optionLine('--rotation DEG', 'largest rotation angle, 180 = arbitrary', A.rotation)}
${optionLine('--shift PX', 'largest extra shift', A.shift)}
${optionLine('--no-flips', 'no random flips')}
${optionLine('--interpolation I', 'cubic | linear, for images', A.interpolation)}
  --brightness X --contrast X --gamma X --noise X   gray-value variation   (${A.brightness} ${A.contrast} ${A.gamma} ${A.noise})`;

/** The augmentation options given (absent ones are left to the library's DEFAULT_AUGMENT). */
export function augmentOptionsFrom(v: Record<string, string | boolean | undefined>): AugmentOptions {
  const num = (k: string): number | undefined => numberOption(v[k] as string | undefined, k);
  const std = num('elastic-std') ?? DEFAULT_ELASTIC.std;
  const interpolation = (v.interpolation as string | undefined) ?? DEFAULT_AUGMENT.interpolation;
  if (interpolation !== 'cubic' && interpolation !== 'linear') throw new UsageError(`--interpolation must be cubic or linear, got "${interpolation}"`);
  const o: Record<string, unknown> = {
    elastic: std === 0 ? false : { std, gridSize: intOption(v['elastic-grid'] as string | undefined, 'elastic-grid', DEFAULT_ELASTIC.gridSize)! },
    flips: !(v['no-flips'] ?? false),
    interpolation,
  };
  for (const k of ['rotation', 'shift', 'brightness', 'contrast', 'gamma', 'noise']) {
    const x = num(k);
    if (x !== undefined) o[k] = x;
  }
  return o as AugmentOptions;
}

// --- --max-pixels (every command that reads images: train, augment, weights, predict, evaluate) ---

export const MAX_PIXELS_OPTION = { 'max-pixels': { type: 'string' } } as const;
export const MAX_PIXELS_HELP = optionLine('--max-pixels N', 'refuse images (pages) larger than N pixels, a decompression-bomb guard', `${DEFAULT_MAX_PIXELS} = 2^${Math.log2(DEFAULT_MAX_PIXELS)}`);

/** The decode options from --max-pixels (empty: the library default). */
export function decodeOptionsFrom(value: string | undefined): { maxPixels?: number } {
  const n = intOption(value, 'max-pixels');
  if (n === undefined) return {};
  if (n < 1) throw new UsageError(`--max-pixels must be a positive integer, got ${n}`);
  return { maxPixels: n };
}

// --- --memory (predict, tune) ---

export const MEMORY_OPTION = { memory: { type: 'string' } } as const;
export const MEMORY_HELP = optionLine('--memory MB', 'activation memory budget for choosing the prediction tile', DEFAULT_TILE_MEMORY_BYTES / 2 ** 20);

/** --memory in bytes (DEFAULT_TILE_MEMORY_BYTES when absent). */
export function memoryBytesOption(value: string | undefined): number {
  const mb = numberOption(value, 'memory', DEFAULT_TILE_MEMORY_BYTES / 2 ** 20)!;
  if (!(mb > 0)) throw new UsageError(`--memory must be a positive number of MB, got ${mb}`);
  return mb * 2 ** 20;
}
