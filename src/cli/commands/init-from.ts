/**
 * `unet train --init-from MODEL`: fine-tuning starts from a trained model's weights, with its
 * architecture and intensity normalisation (a net trained on 0..1 inputs sees 0..1 inputs);
 * options that would contradict them are refused by name, not silently ignored.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadModel, readModelMetadata } from '../../io/model-files.js';
import type { ModelMetadata } from '../../io/model-format.js';
import { describeNormalization, type Normalization } from '../../io/normalize.js';
import { resolveConfig, type UNetConfig } from '../../model/config.js';
import { withInputSize } from '../../model/unet.js';
import { UsageError } from '../args.js';
import { resolveModelDir } from './predict.js';

/**
 * The `unet train` options that make up a model's training recipe: labels and their targets,
 * border weights, augmentation, optimizer, learning-rate schedule and batch. Fine-tuning continues with them (a model
 * trained with Adam at 1e-3 fine-tunes with Adam at 1e-3, not with the paper's SGD 0.99, and an
 * ISBI model trained with --invert keeps its membrane class). Architecture, tile and
 * normalisation come from the model itself; data, output, step count and seed are the run's own.
 */
export const RECIPE_OPTIONS = [
  'label-mode', 'threshold', 'invert', 'no-separate', 'targets', 'w0', 'sigma', 'no-weights', 'connectivity',
  'no-augment', 'elastic-std', 'elastic-grid', 'rotation', 'shift', 'no-flips', 'interpolation', 'brightness', 'contrast', 'gamma', 'noise',
  'optimizer', 'lr', 'lr-schedule', 'momentum', 'batch', 'tile-sampling',
] as const;

/**
 * The recipe flags of a stored training command (`training.argv` in unet.json), in
 * RECIPE_OPTIONS order; options outside the recipe are dropped.
 * @example recipeArgv(['--images', 'a', '--optimizer', 'adam', '--lr', '0.001', '--invert', '--seed', '1'], options)
 *   // ['--invert', '--optimizer', 'adam', '--lr', '0.001']
 */
export function recipeArgv(previous: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const { values } = parseArgs({ args: [...previous], options, strict: false, allowPositionals: true });
  const out: string[] = [];
  for (const name of RECIPE_OPTIONS) {
    const v = values[name];
    if (typeof v === 'string') out.push(`--${name}`, v);
    else if (v === true) out.push(`--${name}`);
  }
  return out;
}

/**
 * `unet train --init-from NAME`'s argv: the model's recipe flags in front of the user's (whose
 * flags come later and so win for every valued option). Returns the note to print.
 */
export async function trainArgvFromModel(name: string, argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): Promise<{ argv: string[]; note: string }> {
  const dir = resolveModelDir(name);
  const previous = (await readModelMetadata(dir)).training?.argv;
  if (!Array.isArray(previous) || !previous.every((a): a is string => typeof a === 'string')) {
    return { argv: [...argv], note: `unet train: --init-from ${name}: its metadata has no training command, so the recipe is unet train's defaults and your flags` };
  }
  const recipe = recipeArgv(previous, options);
  return {
    argv: [...recipe, ...argv],
    note: `unet train: --init-from ${name} continues the model's training recipe: ${recipe.length > 0 ? recipe.join(' ') : "(unet train's defaults)"} (flags you give override these)`,
  };
}

/** The CLI flag of each architecture field, for messages. */
const FLAGS: Record<keyof UNetConfig, string> = {
  depth: '--depth',
  baseFilters: '--filters',
  classes: '--classes',
  inputChannels: '--channels',
  padding: '--padding',
  batchNorm: '--batch-norm',
  dropout: '--dropout',
};

export interface InitialModel {
  readonly dir: string;
  readonly model: tfl.LayersModel;
  readonly metadata: ModelMetadata;
  readonly config: UNetConfig;
}

/**
 * Loads `name` (a folder or a bundled model: nuclei, isbi) and checks the asked architecture
 * (fields given on the command line, undefined elsewhere) and normalisation against it.
 */
export async function loadInitialModel(name: string, asked: Partial<UNetConfig>, normalization: Normalization | undefined): Promise<InitialModel> {
  const dir = resolveModelDir(name);
  const { model, metadata } = await loadModel(dir);
  const config = resolveConfig(metadata.config);
  for (const [key, value] of Object.entries(asked) as [keyof UNetConfig, unknown][]) {
    if (value === undefined || config[key] === value) continue;
    model.dispose();
    throw new UsageError(`--init-from ${name}: the model has ${FLAGS[key]} ${String(config[key])}, not ${String(value)}; fine-tuning keeps the architecture (drop the option, or train from scratch)`);
  }
  if (normalization !== undefined && JSON.stringify(normalization) !== JSON.stringify(metadata.normalization)) {
    model.dispose();
    throw new UsageError(`--init-from ${name}: the model was trained with --normalize ${describeNormalization(metadata.normalization)}, not ${describeNormalization(normalization)}; its weights expect that normalisation`);
  }
  return { dir, model, metadata, config };
}

/** The initial model rebuilt for the training tile (the weights copied exactly). */
export function initialModelForTile(initial: InitialModel, tile: number): tfl.LayersModel {
  return withInputSize(initial.model, initial.config, tile);
}
