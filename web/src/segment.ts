/**
 * The web app's inference adapter (runs in the worker): TF.js backend selection, model
 * loading from a URL or from files, and segmentation of one image page with the
 * library's overlap-tile prediction (src/infer). No tiling or model code of its own.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  toModelChannels,
  chooseTileSize,
  countParameters,
  instanceLabels,
  instancesFromProbabilities,
  loadModelFromUrl,
  modelFromParts,
  normalize,
  parseMetadata,
  predict,
  unetPredictor,
  withTestTimeAugmentation,
  type DisposablePredictor,
  type ModelMetadata,
  type PredictProgress,
} from './lib.js';
import type { BackendAttempt, ModelSource, PageData, SegmentResult } from './protocol.js';

/** Fastest first; 'cpu' (pure JS) always works. */
export const BACKEND_ORDER = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;

/**
 * Activates the first backend of {@link BACKEND_ORDER} (or only `forced`, then cpu) that
 * initialises and computes a small convolution correctly. `wasmBase` is the URL of the
 * folder holding the tfjs-backend-wasm .wasm files (served by the app, never a CDN).
 */
export async function selectBackend(wasmBase: string, forced?: string): Promise<{ name: string; attempts: BackendAttempt[] }> {
  setWasmPaths(wasmBase.endsWith('/') ? wasmBase : `${wasmBase}/`);
  let order: string[] = forced ? [forced, 'cpu'] : [...BACKEND_ORDER];
  const attempts: BackendAttempt[] = [];
  // WebGL emulated on the CPU (SwiftShader, llvmpipe: no GPU, or --disable-gpu) is many
  // times slower than wasm, so it then comes after wasm.
  const software = forced ? null : softwareWebGl();
  if (software) {
    attempts.push({ name: 'webgl', error: `software-emulated (${software}), slower than wasm; kept as a fallback after it` });
    order = ['webgpu', 'wasm', 'webgl', 'cpu'];
  }
  for (const name of order) {
    if (!(name in tf.engine().registryFactory)) {
      attempts.push({ name, error: 'not available in this browser' });
      continue;
    }
    try {
      if (!(await tf.setBackend(name))) throw new Error('could not be initialised');
      await tf.ready();
      await checkBackend();
      attempts.push({ name });
      return { name: tf.getBackend(), attempts };
    } catch (e) {
      attempts.push({ name, error: (e as Error).message });
    }
  }
  throw new Error(`no TF.js backend works here: ${attempts.map((a) => `${a.name}: ${a.error}`).join('; ')}`);
}

/** The renderer's name when WebGL exists but runs in software, else null. */
function softwareWebGl(): string | null {
  try {
    if (typeof OffscreenCanvas === 'undefined') return null;
    const gl = new OffscreenCanvas(1, 1).getContext('webgl2') ?? new OffscreenCanvas(1, 1).getContext('webgl');
    if (!gl) return null;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return /swiftshader|llvmpipe|softpipe|software/i.test(renderer) ? renderer : null;
  } catch {
    return null;
  }
}

/** A 3x3 convolution with a known answer: some backends initialise but compute garbage. */
async function checkBackend(): Promise<void> {
  const y = tf.tidy(() => tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 2]) as tf.Tensor4D, 1, 'valid'));
  const v = await y.data();
  y.dispose();
  if (v.length !== 8 || v.some((x) => Math.abs(x - 9) > 1e-3)) throw new Error(`a test convolution gave [${Array.from(v).join(', ')}], expected 9 everywhere`);
}

export interface LoadedModel {
  readonly model: tfl.LayersModel;
  readonly metadata: ModelMetadata;
  readonly source: string;
}

/** Loads a model folder from a URL or from its three files picked by the user. */
export async function loadModel(source: ModelSource): Promise<LoadedModel> {
  if (source.kind === 'url') {
    const { model, metadata } = await loadModelFromUrl(source.url);
    return { model, metadata, source: source.url };
  }
  const metadata = parseMetadata(source.metadata, `${source.name}/unet.json`);
  const model = await modelFromParts(source.modelJson, source.weights, source.name);
  return { model, metadata, source: source.name };
}

export function parameterCount(m: LoadedModel): number {
  return countParameters(m.model);
}


/** Segments pages with one loaded model, keeping one predictor per tile size. */
export class Segmenter {
  private readonly predictors = new Map<number, DisposablePredictor>();

  constructor(readonly loaded: LoadedModel) {}

  async segment(id: number, page: PageData, memoryMB: number, onProgress: (p: PredictProgress) => void, signal?: AbortSignal): Promise<SegmentResult> {
    const { metadata, model } = this.loaded;
    const config = metadata.config;
    const raw = toModelChannels(page, config.inputChannels, page.name, 'segment');
    const image = normalize(raw, metadata.normalization, page.name);
    const tile = chooseTileSize(config, memoryMB * 2 ** 20, { batch: 1, imageSize: [image.height, image.width] });
    let predictor = this.predictors.get(tile);
    if (!predictor) {
      predictor = unetPredictor(model, config, tile);
      this.predictors.set(tile, predictor);
    }
    const K = config.classes;
    const fgClasses = Array.from({ length: K - 1 }, (_, i) => i + 1);
    // As unet predict does by default: the model's test-time augmentation choice and its stored post-processing.
    const tta = metadata.inference?.tta ?? false;
    const start = performance.now();
    const result = await predict(image, tta ? withTestTimeAugmentation(predictor) : predictor, {
      batchSize: 1,
      onProgress,
      ...(signal ? { signal } : {}),
      outputs: { probabilities: true, mask: true, foregroundClasses: fgClasses },
    });
    const elapsedMs = performance.now() - start;
    const mask = result.mask!.data;
    const postprocess = metadata.postprocess?.instances;
    const inst = postprocess
      ? instancesFromProbabilities({ data: result.probabilities!.data, height: image.height, width: image.width, channels: K }, postprocess)
      : instanceLabels(Uint8Array.from(mask, (c) => (c !== 0 ? 1 : 0)), image.height, image.width);
    return {
      id,
      height: image.height,
      width: image.width,
      classes: K,
      probabilities: result.probabilities!.data,
      mask,
      foreground: result.foreground!.data,
      instances: inst.labels,
      instanceCount: inst.count,
      tta,
      tile,
      tiles: result.grid.tiles.length,
      elapsedMs,
      backend: tf.getBackend(),
    };
  }

  dispose(): void {
    for (const p of this.predictors.values()) p.dispose();
    this.predictors.clear();
    this.loaded.model.dispose();
  }
}
