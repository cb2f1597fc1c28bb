/**
 * ONNX Runtime (onnxruntime-node) as an inference engine behind the {@link TilePredictor}
 * interface: the same overlap-tile code runs a unet-ts model converted to ONNX in memory,
 * or any ONNX graph (a bioimage.io package), at native speed without building the oneDNN addon.
 *
 * onnxruntime-node is optional: it is imported lazily, and when it cannot be loaded (a platform
 * without its prebuilt binaries) {@link loadOrt} returns null and {@link ortLoadError} says why.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InferenceSession } from 'onnxruntime-node';
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
    // Memory patterns pre-plan one arena block per input shape; without them a 2048x2048 image
    // in 9 tiles of the membrane model peaked at 635 MB instead of 935 MB of RSS, 4 % slower.
    enableMemPattern: false,
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  };
  return typeof onnx === 'string' ? rt.InferenceSession.create(onnx, opts) : rt.InferenceSession.create(onnx, opts);
}

/** Axis ids of a graph tensor, as bioimage.io names them. */
export type AxisId = 'batch' | 'channel' | 'y' | 'x';

/** How an ONNX graph's input and output relate to NHWC tiles. */
export interface OrtGraphSpec {
  readonly inputName: string;
  readonly outputName: string;
  readonly channels: number;
  readonly classes: number;
  readonly alignment: number;
  /** Full graph output size for an input size, per axis (throws for invalid sizes). */
  readonly outputSizeFor: (input: number, axis: 'height' | 'width') => number;
  /** Input axes in graph order; default ['batch', 'channel', 'y', 'x'] (NCHW). */
  readonly inputAxes?: readonly string[];
  /** Output axes in graph order; default NCHW. */
  readonly outputAxes?: readonly string[];
  /** Output pixels per side dropped from every tile (a package's halo); default [0, 0]. */
  readonly halo?: readonly [number, number];
}

const NCHW: readonly AxisId[] = ['batch', 'channel', 'y', 'x'];

/**
 * A tile predictor running `session`; tiles arrive NHWC and leave NHWK, rearranged here to and
 * from the graph's axis order (cheap next to the convolutions), the halo cropped off.
 */
export function ortPredictor(session: InferenceSession, spec: OrtGraphSpec, tile: Size2): DisposablePredictor {
  const [h, w] = tile;
  const fullH = spec.outputSizeFor(h, 'height');
  const fullW = spec.outputSizeFor(w, 'width');
  const [haloY, haloX] = spec.halo ?? [0, 0];
  const outH = fullH - 2 * haloY;
  const outW = fullW - 2 * haloX;
  if (outH < 1 || outW < 1) throw new Error(`ortPredictor: a ${h}x${w} tile gives ${fullH}x${fullW} outputs, nothing left after a halo of ${haloY}x${haloX}`);
  const C = spec.channels;
  const K = spec.classes;
  const inAxes = spec.inputAxes ?? NCHW;
  const outAxes = spec.outputAxes ?? NCHW;
  return {
    inputShape: [h, w],
    outputShape: [outH, outW],
    channels: C,
    classes: K,
    alignment: spec.alignment,
    async predictBatch(tilesNHWC: Float32Array, n: number): Promise<Float32Array> {
      if (tilesNHWC.length !== n * h * w * C) throw new Error(`predictBatch: got ${tilesNHWC.length} values for ${n} tiles of ${h}x${w}x${C}`);
      const rt = (await loadOrt())!;
      const { data, dims } = fromNhwc(tilesNHWC, [n, h, w, C], inAxes);
      const result = await session.run({ [spec.inputName]: new rt.Tensor('float32', data, dims) });
      const out = result[spec.outputName];
      if (!out) throw new Error(`predictBatch: the ONNX graph returned no output '${spec.outputName}'`);
      const expected = layoutDims([n, fullH, fullW, K], outAxes);
      if (out.dims.length !== expected.length || out.dims.some((d, i) => d !== expected[i])) {
        throw new Error(`predictBatch: the ONNX graph returned shape [${out.dims.join(', ')}], expected [${expected.join(', ')}] (${outAxes.join(', ')})`);
      }
      if (out.type !== 'float32') throw new Error(`predictBatch: the ONNX graph returned ${out.type} values; float32 expected`);
      const values = toNhwc(out.data as Float32Array, [n, fullH, fullW, K], outAxes, [haloY, haloX]);
      out.dispose();
      return values;
    },
    dispose(): void {
      // The session is shared between tile sizes; its owner releases it.
    },
  };
}

/** Dims of an [n, h, w, c] tensor laid out as `axes` (batch and channel may be absent when 1). */
function layoutDims([n, h, w, c]: readonly [number, number, number, number], axes: readonly string[]): number[] {
  const size: Record<string, number> = { batch: n, y: h, x: w, channel: c };
  if (!axes.includes('batch') && n !== 1) throw new Error(`ortPredictor: the graph has no batch axis; got ${n} tiles at once`);
  if (!axes.includes('channel') && c !== 1) throw new Error(`ortPredictor: the graph has no channel axis; got ${c} channels`);
  return axes.map((a) => {
    const v = size[a];
    if (v === undefined) throw new Error(`ortPredictor: unknown axis '${a}'`);
    return v;
  });
}

/** Element strides of `axes` (C order) for the named axes of an [n, h, w, c] tensor; absent axes get 0. */
function stridesFor(dims: readonly number[], axes: readonly string[]): Record<AxisId, number> {
  const st: Record<AxisId, number> = { batch: 0, channel: 0, y: 0, x: 0 };
  let s = 1;
  for (let i = axes.length - 1; i >= 0; i--) {
    st[axes[i] as AxisId] = s;
    s *= dims[i]!;
  }
  return st;
}

/** NHWC values rearranged into `axes` order, with the dims. */
export function fromNhwc(src: Float32Array, shape: readonly [number, number, number, number], axes: readonly string[]): { data: Float32Array; dims: number[] } {
  const [n, h, w, c] = shape;
  const dims = layoutDims(shape, axes);
  if (axes.join() === 'batch,channel,y,x') return { data: nhwcToNchw(src, n, h, w, c), dims };
  const st = stridesFor(dims, axes);
  const dst = new Float32Array(n * h * w * c);
  let i = 0;
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) dst[b * st.batch + y * st.y + x * st.x + k * st.channel] = src[i++]!;
  return { data: dst, dims };
}

/** Values laid out as `axes` for an [n, h, w, c] tensor, back to NHWC, with `crop` pixels dropped per side. */
export function toNhwc(src: Float32Array, shape: readonly [number, number, number, number], axes: readonly string[], crop: readonly [number, number] = [0, 0]): Float32Array {
  const [n, h, w, c] = shape;
  const dims = layoutDims(shape, axes);
  const [cy, cx] = crop;
  const oh = h - 2 * cy;
  const ow = w - 2 * cx;
  if (cy === 0 && cx === 0 && axes.join() === 'batch,channel,y,x') return nchwToNhwc(src, n, h, w, c);
  const st = stridesFor(dims, axes);
  const dst = new Float32Array(n * oh * ow * c);
  let i = 0;
  for (let b = 0; b < n; b++) for (let y = cy; y < cy + oh; y++) for (let x = cx; x < cx + ow; x++) for (let k = 0; k < c; k++) dst[i++] = src[b * st.batch + y * st.y + x * st.x + k * st.channel]!;
  return dst;
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
