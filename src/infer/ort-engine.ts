/**
 * ONNX Runtime (onnxruntime-node) as an inference engine behind the {@link TilePredictor}
 * interface: the same overlap-tile code runs a unet-ts model converted to ONNX in memory,
 * or any ONNX graph (a bioimage.io package), at native speed without building the oneDNN addon.
 *
 * onnxruntime-node is optional: it is imported lazily, and when it cannot be loaded (a platform
 * without its prebuilt binaries) {@link loadOrt} returns null and {@link ortLoadError} says why.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ModelMetadata } from '../io/model-format.js';
import { invalidSizeMessage, isValidInputSize, outputSize } from '../model/size.js';
import { toTileShape, type TileShape } from '../model/unet.js';
import { exportOnnx } from '../export/onnx.js';
import type { DisposablePredictor } from './predictor.js';
import type { Size2 } from './tiling.js';

type Ort = typeof import('onnxruntime-node');

let ort: Ort | null | undefined;
let loadError: string | null = null;

/** The onnxruntime-node module, or null (with {@link ortLoadError} set) when it cannot be loaded. */
export async function loadOrt(): Promise<Ort | null> {
  if (ort !== undefined) return ort;
  if (process.env.UNET_NO_ORT === '1') {
    loadError = 'onnxruntime-node disabled by UNET_NO_ORT=1';
    ort = null;
    return ort;
  }
  try {
    const mod = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    ort = mod.InferenceSession ? mod : (mod.default ?? null);
    if (!ort) loadError = 'onnxruntime-node loaded without an InferenceSession export';
  } catch (e) {
    loadError = `onnxruntime-node cannot be loaded (${(e as Error).message.split('\n')[0]})`;
    ort = null;
  }
  return ort;
}

/** Why {@link loadOrt} returned null, or null when it has not failed. */
export function ortLoadError(): string | null {
  return loadError;
}

export interface OrtSessionOptions {
  /** Intra-op threads (default: ONNX Runtime's choice, the physical cores). */
  readonly threads?: number;
}

/** An ONNX Runtime session for `onnx` (bytes or a file path), with full graph optimisation. */
export async function createOrtSession(onnx: Uint8Array | string, options: OrtSessionOptions = {}): Promise<InferenceSession> {
  const rt = await loadOrt();
  if (!rt) throw new Error(`createOrtSession: ${loadError ?? 'onnxruntime-node is not available'}`);
  const opts: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  };
  return typeof onnx === 'string' ? rt.InferenceSession.create(onnx, opts) : rt.InferenceSession.create(onnx, opts);
}

/** How an ONNX graph's NCHW input and output relate to NHWC tiles. */
export interface OrtGraphSpec {
  readonly inputName: string;
  readonly outputName: string;
  readonly channels: number;
  readonly classes: number;
  readonly alignment: number;
  /** Output tile size for an input tile size, per axis (throws for invalid sizes). */
  readonly outputSizeFor: (input: number, axis: 'height' | 'width') => number;
}

/**
 * A tile predictor running `session` on [n, C, h, w] inputs; tiles arrive NHWC and
 * leave NHWK, transposed here (cheap next to the convolutions).
 * `postprocess` may rewrite the output values in place (e.g. a package's sigmoid is already
 * in its graph, a threshold is not).
 */
export function ortPredictor(session: InferenceSession, spec: OrtGraphSpec, tile: Size2, postprocess?: (valuesNHWK: Float32Array) => void): DisposablePredictor {
  const [h, w] = tile;
  const outH = spec.outputSizeFor(h, 'height');
  const outW = spec.outputSizeFor(w, 'width');
  const C = spec.channels;
  const K = spec.classes;
  return {
    inputShape: [h, w],
    outputShape: [outH, outW],
    channels: C,
    classes: K,
    alignment: spec.alignment,
    async predictBatch(tilesNHWC: Float32Array, n: number): Promise<Float32Array> {
      if (tilesNHWC.length !== n * h * w * C) throw new Error(`predictBatch: got ${tilesNHWC.length} values for ${n} tiles of ${h}x${w}x${C}`);
      const rt = (await loadOrt())!;
      const nchw = nhwcToNchw(tilesNHWC, n, h, w, C);
      const feeds: Record<string, Tensor> = { [spec.inputName]: new rt.Tensor('float32', nchw, [n, C, h, w]) };
      const result = await session.run(feeds);
      const out = result[spec.outputName];
      if (!out) throw new Error(`predictBatch: the ONNX graph returned no output '${spec.outputName}'`);
      const dims = out.dims;
      if (dims.length !== 4 || dims[0] !== n || dims[1] !== K || dims[2] !== outH || dims[3] !== outW) {
        throw new Error(`predictBatch: the ONNX graph returned shape [${dims.join(', ')}], expected [${n}, ${K}, ${outH}, ${outW}]`);
      }
      const values = nchwToNhwc(out.data as Float32Array, n, outH, outW, K);
      out.dispose();
      postprocess?.(values);
      return values;
    },
    dispose(): void {
      // The session is shared between tile sizes; its owner releases it.
    },
  };
}

/** A unet-ts model on ONNX Runtime: one session for every tile size (the graph has dynamic H and W). */
export interface OrtUnet {
  /** A predictor for tiles of `tile` (a valid input size of the model). */
  predictor(tile: number | TileShape): DisposablePredictor;
  release(): Promise<void>;
}

/**
 * Converts `model` to ONNX in memory (normalisation left to the caller, as for the TF.js path)
 * and opens an ONNX Runtime session on it.
 *
 * @throws when onnxruntime-node cannot be loaded (check {@link loadOrt} first to fall back).
 */
export async function ortUnet(model: tfl.LayersModel, metadata: ModelMetadata, options: OrtSessionOptions = {}): Promise<OrtUnet> {
  const c = metadata.config;
  const session = await createOrtSession(exportOnnx(model, metadata, { embedNormalization: false }), options);
  const spec: OrtGraphSpec = {
    inputName: 'image',
    outputName: 'probabilities',
    channels: c.inputChannels,
    classes: c.classes,
    alignment: 2 ** c.depth,
    outputSizeFor: (input, axis) => {
      if (!isValidInputSize(input, c)) throw new Error(`predict: ${invalidSizeMessage(input, c, `tile ${axis}`)}`);
      return outputSize(input, c);
    },
  };
  return {
    predictor: (tile) => ortPredictor(session, spec, toTileShape(tile)),
    release: () => session.release(),
  };
}

/** [n, h, w, c] to [n, c, h, w]. */
export function nhwcToNchw(src: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  if (c === 1) return src.slice(0, n * h * w);
  const dst = new Float32Array(n * h * w * c);
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    const s = b * hw * c;
    for (let k = 0; k < c; k++) {
      const d = (b * c + k) * hw;
      for (let i = 0; i < hw; i++) dst[d + i] = src[s + i * c + k]!;
    }
  }
  return dst;
}

/** [n, c, h, w] to [n, h, w, c]. */
export function nchwToNhwc(src: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const dst = new Float32Array(n * h * w * c);
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    const d = b * hw * c;
    for (let k = 0; k < c; k++) {
      const s = (b * c + k) * hw;
      for (let i = 0; i < hw; i++) dst[d + i * c + k] = src[s + i]!;
    }
  }
  return dst;
}
