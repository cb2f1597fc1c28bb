/**
 * `unet train --init-from MODEL`: fine-tuning starts from a trained model's weights, with its
 * architecture and intensity normalisation (a net trained on 0..1 inputs sees 0..1 inputs);
 * options that would contradict them are refused by name, not silently ignored.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadModel } from '../../io/model-files.js';
import type { ModelMetadata } from '../../io/model-format.js';
import { describeNormalization, type Normalization } from '../../io/normalize.js';
import { resolveConfig, type UNetConfig } from '../../model/config.js';
import { withInputSize } from '../../model/unet.js';
import { UsageError } from '../args.js';
import { resolveModelDir } from './predict.js';

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
