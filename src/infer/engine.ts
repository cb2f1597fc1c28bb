/**
 * Which engine runs a unet-ts model's forward passes: TF.js (on the active backend) or ONNX
 * Runtime (the model converted to ONNX in memory). Both sit behind {@link TilePredictor}, so the
 * overlap-tile code does not know which one it drives.
 *
 * Default ('auto'): ONNX Runtime whenever onnxruntime-node loads, else TF.js on the active
 * backend. ONNX Runtime's forward pass is faster than TF.js on the native oneDNN backend as well
 * as ~50x faster than the pure-JS one: a whole `unet predict` of the 109 DSB test images with the
 * bundled nuclei model took 23.2 s against 44.0 s on a quiet 2-core AVX-512 Xeon, with the same
 * scores (README "Which engine predicts"). Training steps stay on TF.js; its validation passes
 * open ONNX Runtime on the current weights ({@link openCurrentWeights}).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { makeMetadata, type ModelMetadata } from '../io/model-format.js';
import { DEFAULT_NORMALIZATION } from '../io/normalize.js';
import { configOfModel, modelInputShape, type TileShape } from '../model/unet.js';
import { loadOrt, ortLoadError, ortUnet } from './ort-engine.js';
import { tfjsPredictorOpener, unetPredictor, type DisposablePredictor, type OpenedPredictor } from './predictor.js';

export type EngineName = 'tfjs' | 'ort';
export type EngineRequest = EngineName | 'auto';

export interface EngineChoice {
  readonly engine: EngineName;
  /** Why the preferred engine is not used, if one was skipped. */
  readonly note?: string;
}

/**
 * Picks the engine for `request` given the active TF.js backend.
 *
 * @throws when `request` is not auto, tfjs or ort, or is 'ort' and onnxruntime-node cannot be loaded.
 */
export async function chooseEngine(backend: string, request: string = 'auto'): Promise<EngineChoice> {
  if (request !== 'auto' && request !== 'tfjs' && request !== 'ort') throw new Error(`chooseEngine: engine must be auto, tfjs or ort, got "${request}"`);
  if (request === 'tfjs') return { engine: 'tfjs' };
  const ort = await loadOrt();
  if (ort) return { engine: 'ort' };
  if (request === 'ort') throw new Error(`chooseEngine: engine 'ort' requested but ${ortLoadError()}`);
  if (backend === 'onednn') return { engine: 'tfjs' };
  return { engine: 'tfjs', note: `${ortLoadError()}; predicting with TF.js on the '${backend}' backend (slow; npm ci installs onnxruntime-node)` };
}

/**
 * A predictor on the weights `model` holds now, at its own tile shape, on `engine`: what each
 * validation pass of `unet train` runs (a PredictorOpener, src/train/validation-metric.ts). For
 * ONNX Runtime the model is exported anew each call (its config read off its layers), so the
 * pass sees the latest step's weights; closing releases the session.
 */
export async function openCurrentWeights(engine: EngineName, model: tfl.LayersModel): Promise<OpenedPredictor> {
  if (engine === 'tfjs') return tfjsPredictorOpener(model);
  const tile = modelInputShape(model);
  const opened = await openEngine(engine, model, makeMetadata({ config: configOfModel(model), tileSize: tile, normalization: DEFAULT_NORMALIZATION }));
  const predictor = opened.predictor(tile);
  return {
    predictor,
    close: async () => {
      predictor.dispose();
      await opened.dispose();
    },
  };
}

/** Predictors for any tile size of one loaded model, on one engine. */
export interface ModelEngine {
  readonly name: EngineName;
  predictor(tile: number | TileShape): DisposablePredictor;
  dispose(): Promise<void>;
}

/** Opens `engine` on a loaded model (for ONNX Runtime: exports it to ONNX in memory, ~0.1 s). */
export async function openEngine(engine: EngineName, model: tfl.LayersModel, metadata: ModelMetadata): Promise<ModelEngine> {
  if (engine === 'ort') {
    const o = await ortUnet(model, metadata);
    return { name: 'ort', predictor: (tile) => o.predictor(tile), dispose: () => o.release() };
  }
  const made: DisposablePredictor[] = [];
  return {
    name: 'tfjs',
    predictor: (tile) => {
      const p = unetPredictor(model, metadata.config, tile);
      // Callers may dispose a predictor themselves; disposing it again here must be a no-op.
      let disposed = false;
      const once: DisposablePredictor = {
        ...p,
        predictBatch: (tiles, n) => p.predictBatch(tiles, n),
        dispose: () => {
          if (!disposed) p.dispose();
          disposed = true;
        },
      };
      made.push(once);
      return once;
    },
    dispose: async () => {
      for (const p of made) p.dispose();
    },
  };
}
