/**
 * Loading the models of an ensemble (`unet predict --model A,B,C`, the fold models of
 * `unet train --folds`): they must read images the same way and produce the same classes on
 * the same tiles, so architecture sizes, normalisation and class names must agree.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelMetadata } from '../io/model-format.js';
import { loadModel } from '../io/model-files.js';

export interface LoadedEnsemble {
  readonly models: tfl.LayersModel[];
  /** Metadata of the first model (the others agree on what prediction uses). */
  readonly metadata: ModelMetadata;
  readonly metadatas: ModelMetadata[];
}

/** Loads every folder and checks they can be averaged; disposes what it loaded on error. */
export async function loadEnsemble(dirs: readonly string[]): Promise<LoadedEnsemble> {
  if (dirs.length === 0) throw new Error('loadEnsemble: no model folders');
  const models: tfl.LayersModel[] = [];
  const metadatas: ModelMetadata[] = [];
  try {
    for (const dir of dirs) {
      const { model, metadata } = await loadModel(dir);
      models.push(model);
      metadatas.push(metadata);
    }
    const a = metadatas[0]!;
    metadatas.forEach((b, k) => {
      const diffs: string[] = [];
      for (const key of ['depth', 'padding', 'classes', 'inputChannels'] as const) {
        if (a.config[key] !== b.config[key]) diffs.push(`${key} ${String(b.config[key])} vs ${String(a.config[key])}`);
      }
      if (JSON.stringify(a.normalization) !== JSON.stringify(b.normalization)) diffs.push(`normalisation ${JSON.stringify(b.normalization)} vs ${JSON.stringify(a.normalization)}`);
      if (JSON.stringify(a.classNames) !== JSON.stringify(b.classNames)) diffs.push(`class names ${JSON.stringify(b.classNames)} vs ${JSON.stringify(a.classNames)}`);
      if (diffs.length) throw new Error(`loadEnsemble: ${dirs[k]} cannot be averaged with ${dirs[0]}: ${diffs.join('; ')}`);
    });
    return { models, metadata: a, metadatas };
  } catch (e) {
    for (const m of models) m.dispose();
    throw e;
  }
}
