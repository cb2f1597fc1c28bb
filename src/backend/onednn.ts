/**
 * The 'onednn' TF.js backend: a MathBackendCPU whose heavy kernels (convolutions and
 * their gradients, max-pooling, ReLU and the element-wise ops of its gradient) run in
 * the native oneDNN addon (src/native/onednn.cc, built by scripts/build-native.mjs).
 *
 * Storage: tensors made by native kernels hold a native handle (oneDNN memory in the
 * layout the primitive chose, e.g. nChw16c) and no JS values; the NHWC Float32Array is
 * materialised on first read of `values` (dataSync, or any CPU kernel). Every kernel
 * without a native implementation is the CPU backend's own, so every TF.js op works.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { SOFTMAX_CE_KERNEL } from '../loss/cross-entropy.js';
import { CONV_FILTER_BIAS_GRAD_KERNEL, RELU_GRAD_KERNEL } from '../model/fused-conv.js';
import { installFastCpuKernels } from './cpu-kernels.js';
import { ownedFloat32 } from './cpu-storage.js';

type Arg = number | Float32Array;
type Dims4 = [number, number, number, number];
type Pads = [top: number, left: number, bottom: number, right: number];

/**
 * The addon's surface (src/native/onednn.cc). Activations: handle or NHWC Float32Array; filters: HWIO.
 * Every argument is checked natively; a bad one, or a native failure (e.g. an allocation), throws an
 * Error starting "onednn <kernel>: ". State is per thread: a worker_thread that loads the addon has
 * its own tensors, and handles from another thread are unknown to it.
 */
export interface OneDnnAddon {
  conv2d(x: Arg, w: Arg, bias: Float32Array | null, relu: boolean, xDims: Dims4, wDims: Dims4, yDims: Dims4, strides: number[], pads: Pads, dilations: number[]): number;
  conv2dBackpropInput(dy: Arg, w: Arg, xDims: Dims4, wDims: Dims4, yDims: Dims4, strides: number[], pads: Pads, dilations: number[]): number;
  /** The filter gradient: HWIO values, or with asHandle a filter handle in the primitive's layout. */
  conv2dBackpropFilter(x: Arg, dy: Arg, xDims: Dims4, wDims: Dims4, yDims: Dims4, strides: number[], pads: Pads, dilations: number[], asHandle: true): number;
  conv2dBackpropFilter(x: Arg, dy: Arg, xDims: Dims4, wDims: Dims4, yDims: Dims4, strides: number[], pads: Pads, dilations: number[], asHandle?: false): Float32Array;
  /** The filter gradient (as conv2dBackpropFilter gives it) and the bias gradient of one convolution, in one primitive. */
  conv2dBackpropFilterBias(x: Arg, dy: Arg, xDims: Dims4, wDims: Dims4, yDims: Dims4, strides: number[], pads: Pads, dilations: number[], asHandle: true): [number, Float32Array];
  conv2dBackpropFilterBias(x: Arg, dy: Arg, xDims: Dims4, wDims: Dims4, yDims: Dims4, strides: number[], pads: Pads, dilations: number[], asHandle?: false): [Float32Array, Float32Array];
  maxPool(x: Arg, xDims: Dims4, yDims: Dims4, kernel: number[], strides: number[], pads: Pads): number;
  maxPoolGrad(dy: Arg, x: Arg, y: number | null, xDims: Dims4, yDims: Dims4, kernel: number[], strides: number[], pads: Pads): number;
  relu(x: Arg, xDims: Dims4): number;
  /** op 0 add, 1 mul, 2 relu-grad, 3 sub; b a handle or an NHWC array; null when the dims differ. */
  binary(op: number, a: number, b: Arg): number | null;
  step(x: number): number;
  toNHWC(handle: number): Float32Array;
  /** A filter handle (OIHW dims, any layout) as HWIO values. */
  toHWIO(handle: number): Float32Array;
  /** HWIO filter values (or a filter handle) as a new handle in the layout of the filter handle `like`. */
  fromHWIO(values: Arg, wDims: Dims4, like: number): number;
  /**
   * In-place optimizer updates (src/train/optimizers.ts), bit for bit TF.js': value and slots all
   * Float32Arrays of one length, or all filter handles of one layout with the gradient a handle
   * (any layout) or HWIO values.
   */
  momentumUpdate(value: Arg, accumulation: Arg, gradient: Arg, momentum: number, scale: number): void;
  adamUpdate(value: Arg, firstMoment: Arg, secondMoment: Arg, gradient: Arg, coefficients: number[]): void;
  /** null when the layout or a channel offset does not allow a native slice. */
  slice(x: number, begin: number[], size: number[]): number | null;
  pad(x: number, before: number[], after: number[]): number | null;
  concat(xs: number[]): number;
  biasAdd(x: number, bias: Float32Array): number;
  channelSum(x: number): Float32Array;
  /** x * s, same layout. */
  scale(x: number, s: number): number;
  /** [sum over pixels of the weighted loss, handle of the gradient (logits' layout)]. */
  softmaxCrossEntropy(logits: number, labels: Int32Array, weights: Float32Array): [number, number];
  layout(handle: number): string;
  free(handle: number): void;
  /**
   * Tensors and their bytes; the buffer pool: bytes of the mappings in use (blocks of 2 MiB and
   * more), their high-water mark and the bytes waiting in the pool (in use + pooled never exceed
   * the mark).
   */
  stats(): { tensors: number; bytes: number; mappedBytes: number; mappedPeakBytes: number; pooledBytes: number };
  /**
   * The per-shape cache of convolution and reorder primitives (per thread), and the layout
   * conversions run so far (count, bytes written): diagnostics for tests and bench/.
   */
  primitiveCache(): { entries: number; hits: number; misses: number; reorders: number; reorderBytes: number };
  setThreads(n: number): void;
  info(): { version: string; threads: number };
}

let addonState: { addon: OneDnnAddon | null; error: string | null } | null = null;

/**
 * OpenMP threads that finish a parallel region spin before they sleep (libgomp: 300000 turns by
 * default). Between two kernels that spin holds both cores of a small machine, so the nice-19
 * thread making the next step's tiles (src/train/tile-worker.ts) only ran once the step was over:
 * 20-23 % of `unet train`'s loop was waiting for tiles (npm run bench, case e2e, 2 cores). With
 * 1000 turns the wait was 4-5 % (OMP_WAIT_POLICY=passive, no spin: also 5 %, with 8 % slower
 * steps); without a tile thread a short spin only adds wake-ups, so it is asked for only by
 * `unet train` with data workers ({@link preferShortOpenMpSpin}).
 */
const SHORT_SPIN_TURNS = 1000;
let shortSpin = false;

/**
 * Asks for libgomp's short spin when the addon loads (it reads GOMP_SPINCOUNT only then): set for
 * that moment only, so child processes do not inherit it; a GOMP_SPINCOUNT or OMP_WAIT_POLICY the
 * user set wins. No effect once the addon is loaded. Returns whether it can still take effect.
 */
export function preferShortOpenMpSpin(): boolean {
  shortSpin = true;
  return addonState === null;
}

/** Loads build/Release/unet_onednn.node once; null (with the reason in {@link oneDnnLoadError}) when it cannot. */
export function loadOneDnnAddon(): OneDnnAddon | null {
  if (addonState) return addonState.addon;
  if (process.env.UNET_BACKEND_NO_NATIVE === '1') {
    addonState = { addon: null, error: 'disabled by UNET_BACKEND_NO_NATIVE=1' };
    return null;
  }
  const spin = shortSpin && process.env.GOMP_SPINCOUNT === undefined && process.env.OMP_WAIT_POLICY === undefined;
  if (spin) process.env.GOMP_SPINCOUNT = String(SHORT_SPIN_TURNS);
  try {
    const require = createRequire(import.meta.url);
    // src/backend/onednn.ts and dist/backend/onednn.js both sit two levels below the package root.
    const addon = require('../../build/Release/unet_onednn.node') as OneDnnAddon;
    addon.setThreads(Number(process.env.OMP_NUM_THREADS) || availableParallelism());
    addonState = { addon, error: null };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? String(e);
    // The addon's own refusals (e.g. a bad UNET_POOL_MB) start with "onednn": rebuilding would not help.
    addonState = msg.startsWith('onednn')
      ? { addon: null, error: `the oneDNN addon refused to start: ${msg}` }
      : { addon: null, error: `the oneDNN addon could not be loaded (${msg}); build it with libdnnl-dev installed: npm run build:native` };
  } finally {
    if (spin) delete process.env.GOMP_SPINCOUNT;
  }
  return addonState.addon;
}

export function oneDnnLoadError(): string | null {
  loadOneDnnAddon();
  return addonState!.error;
}

/**
 * Storage entry of a natively held tensor: values are materialised on first read, NHWC for an
 * activation, HWIO for a filter (a convolution's weights or their gradient, held in the layout
 * of the filter gradient between training steps: {@link OneDnnBackend.filterHandlesForUpdate}).
 */
export class NativeEntry {
  dtype = 'float32' as const;
  refCount = 1;
  private materialised: Float32Array | null = null;
  constructor(
    private readonly addon: OneDnnAddon,
    readonly handle: number,
    readonly shape: readonly number[],
    readonly filter = false,
  ) {}
  get values(): Float32Array {
    if (this.materialised === null) this.materialised = this.filter ? this.addon.toHWIO(this.handle) : this.addon.toNHWC(this.handle);
    return this.materialised;
  }
  set values(v: Float32Array) {
    this.materialised = v;
  }
  get isMaterialised(): boolean {
    return this.materialised !== null;
  }
  /** Forgets the materialised values: the native memory is about to be written in place. */
  willChange(): void {
    this.materialised = null;
  }
}

type Storage = tf.DataStorage<{ values?: unknown; dtype: tf.DataType; refCount: number }>;

export class OneDnnBackend extends MathBackendCPU {
  /**
   * Filter gradients come back as native filters, so that the in-place optimizers keep the
   * weights native between steps (src/train/optimizers.ts). false: HWIO values, and weights
   * held in JavaScript, reordered into the convolutions' layout on every call (the path before
   * 2026-12-06; for A/B tests and timings: the same bits either way).
   */
  nativeFilters = true;

  constructor(readonly addon: OneDnnAddon) {
    super();
  }

  private get store(): Storage {
    return this.data as unknown as Storage;
  }

  /** A float32 tensor held natively (the handle's logical dims must be `shape`, NHWC). */
  makeNativeTensorInfo(shape: number[], handle: number, filter = false): tf.TensorInfo {
    const dataId = this.write(new Float32Array(0), shape, 'float32');
    this.replaceEntry(dataId, new NativeEntry(this.addon, handle, shape, filter));
    return { dataId, shape, dtype: 'float32' };
  }

  /** A float32 filter held natively (`shape` HWIO; the handle's dims are OIHW). */
  makeNativeFilterInfo(shape: number[], handle: number): tf.TensorInfo {
    return this.makeNativeTensorInfo(shape, handle, true);
  }

  private replaceEntry(dataId: object, entry: NativeEntry): void {
    // DataStorage.set counts every call as a new id; replacing an entry with a bare set() made
    // numDataIds() (TF.js' kernel leak check) grow by one per native tensor.
    this.store.delete(dataId);
    this.store.set(dataId, entry);
  }

  /**
   * The native handle of activation `t` when it has one with `t`'s own shape, else null. A
   * filter's handle is not one: kernels that take activations would read its OIHW memory as
   * NCHW, so they get its HWIO values instead.
   */
  handleOf(t: tf.TensorInfo): number | null {
    const e = this.store.get(t.dataId);
    return e instanceof NativeEntry && !e.filter && sameShape(e.shape, t.shape) ? e.handle : null;
  }

  /** The native handle of filter `t` (HWIO shape) when it has one, else null. */
  filterHandleOf(t: tf.TensorInfo): number | null {
    const e = this.store.get(t.dataId);
    return e instanceof NativeEntry && e.filter && sameShape(e.shape, t.shape) ? e.handle : null;
  }

  /** Native filter argument for `t`: its handle, or its HWIO values. */
  filterArg(t: tf.TensorInfo): Arg {
    return this.filterHandleOf(t) ?? this.f32(t);
  }

  /**
   * For an in-place update of filter `tensors[0]` and its optimizer slots `tensors[1..]` by
   * `gradient`: their handles, all in one layout, with the values of those still held in
   * JavaScript moved into the native layout first (once: they stay there, so that the next
   * forward pass reads the weights without a reorder and the next gradient needs none to be
   * applied), and the gradient's handle (or values); null when the update cannot run natively
   * (neither the gradient nor the value is a native filter, or a tensor is shared or of another
   * shape), for the caller's other path. Materialised values of the tensors are forgotten, as
   * the update writes their memory.
   */
  filterHandlesForUpdate(gradient: tf.TensorInfo, tensors: readonly tf.TensorInfo[]): { handles: number[]; gradient: Arg } | null {
    const value = tensors[0];
    if (value === undefined || value.dtype !== 'float32' || value.shape.length !== 4 || !isF32(gradient, ...tensors)) return null;
    if (!tensors.every((t) => sameShape(t.shape, value.shape)) || !sameShape(gradient.shape, value.shape)) return null;
    const like = this.filterHandleOf(value) ?? this.filterHandleOf(gradient);
    if (like === null) return null;
    const entries = tensors.map((t) => this.store.get(t.dataId));
    const owned = entries.map((e, i) => ownedFloat32(e, tf.util.sizeFromShape(tensors[i]!.shape)));
    if (!entries.every((e, i) => (e instanceof NativeEntry && e.filter) || owned[i] !== null)) return null;
    const handles = tensors.map((t, i) => {
      const e = entries[i];
      if (e instanceof NativeEntry) {
        e.willChange();
        return e.handle;
      }
      // An owned entry has refCount 1, as the new one has.
      const h = this.addon.fromHWIO(owned[i]!, dims4(t.shape), like);
      this.replaceEntry(t.dataId, new NativeEntry(this.addon, h, [...t.shape], true));
      return h;
    });
    return { handles, gradient: this.filterArg(gradient) };
  }

  /**
   * The values of float32 `t` as a Float32Array. TF.js' CPU Cast from bool or int32 to
   * float32 shares the input's Uint8Array/Int32Array under the float32 dtype; handed on
   * as is, the addon would read those bytes as floats (and past the buffer's end).
   */
  f32(t: tf.TensorInfo): Float32Array {
    const v = this.store.get(t.dataId).values;
    return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
  }

  /** Native argument for `t`: its handle, or its NHWC values. */
  arg(t: tf.TensorInfo): Arg {
    return this.handleOf(t) ?? this.f32(t);
  }

  override disposeData(dataId: object, force = false): boolean {
    const e = this.store.has(dataId) ? this.store.get(dataId) : undefined;
    const released = super.disposeData(dataId, force);
    if (e instanceof NativeEntry && !this.store.has(dataId)) this.addon.free(e.handle);
    return released;
  }

  override move(dataId: object, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    const e = this.store.has(dataId) ? this.store.get(dataId) : undefined;
    if (e instanceof NativeEntry) this.addon.free(e.handle);
    super.move(dataId, values, shape, dtype, refCount);
  }

  /** Native memory still held (tensors, bytes): for leak tests. */
  nativeStats(): { tensors: number; bytes: number } {
    const { tensors, bytes } = this.addon.stats();
    return { tensors, bytes };
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

// ---------------------------------------------------------------------------------
// Kernels

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };
type PadArg = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** Calls per kernel name that ran the CPU kernel on 'onednn' (diagnostics; see bench/). */
export const fallbackCounts = new Map<string, number>();

function cpuFallback(kernelName: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  fallbackCounts.set(kernelName, (fallbackCounts.get(kernelName) ?? 0) + 1);
  const k = tf.getKernel(kernelName, 'cpu');
  if (!k) throw new Error(`onednn backend: no CPU kernel '${kernelName}' to fall back to`);
  return k.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
}

const isF32 = (...ts: (tf.TensorInfo | undefined)[]): boolean => ts.every((t) => t === undefined || t.dtype === 'float32');
const pads = (p: tf.backend_util.PadInfo): Pads => [p.top, p.left, p.bottom, p.right];
const dims4 = (s: readonly number[]): Dims4 => [s[0]!, s[1]!, s[2]!, s[3]!];

interface ConvAttrs {
  strides: [number, number] | number;
  pad: PadArg;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: string;
  inputShape?: [number, number, number, number];
  filterShape?: [number, number, number, number];
}

function convInfoOf(xShape: readonly number[], wShape: readonly number[], a: ConvAttrs): tf.backend_util.Conv2DInfo | null {
  if (a.dataFormat !== 'NHWC' && a.dataFormat !== undefined) return null;
  const info = tf.backend_util.computeConv2DInfo(dims4(xShape), dims4(wShape), a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  if (info.outHeight <= 0 || info.outWidth <= 0 || info.padInfo.type === 'EXPLICIT') return null;
  return info;
}

const convArgs = (info: tf.backend_util.Conv2DInfo): [Dims4, Dims4, Dims4, number[], Pads, number[]] => [
  dims4(info.inShape),
  dims4(info.filterShape ?? [info.filterHeight, info.filterWidth, info.inChannels, info.outChannels]),
  dims4(info.outShape),
  [info.strideHeight, info.strideWidth],
  pads(info.padInfo),
  [info.dilationHeight, info.dilationWidth],
];

function conv2D(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const info = isF32(x, filter) && x.shape.length === 4 ? convInfoOf(x.shape, filter.shape, args.attrs as unknown as ConvAttrs) : null;
  if (!info) return cpuFallback('Conv2D', args);
  const h = b.addon.conv2d(b.arg(x), b.filterArg(filter), null, false, ...convArgs(info));
  return b.makeNativeTensorInfo(info.outShape, h);
}

function fusedConv2D(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x, filter, bias, preluActivationWeights } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs;
  const b = args.backend as OneDnnBackend;
  const act = attrs.activation ?? 'linear';
  const info = isF32(x, filter, bias) && x.shape.length === 4 && !preluActivationWeights && (act === 'linear' || act === 'relu') ? convInfoOf(x.shape, filter.shape, attrs) : null;
  if (!info || (bias && (bias.shape.length !== 1 || bias.shape[0] !== info.outChannels))) return cpuFallback('FusedConv2D', args);
  const bv = bias ? b.f32(bias) : null;
  const h = b.addon.conv2d(b.arg(x), b.filterArg(filter), bv, act === 'relu', ...convArgs(info));
  return b.makeNativeTensorInfo(info.outShape, h);
}

function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs;
  const b = args.backend as OneDnnBackend;
  const info = isF32(dy, filter) && attrs.inputShape ? convInfoOf(attrs.inputShape, filter.shape, attrs) : null;
  if (!info || !sameShape(info.outShape, dy.shape)) return cpuFallback('Conv2DBackpropInput', args);
  const h = b.addon.conv2dBackpropInput(b.arg(dy), b.filterArg(filter), ...convArgs(info));
  return b.makeNativeTensorInfo(info.inShape, h);
}

/** The inputs and geometry of a filter-gradient call (x, dy, attrs.filterShape) when the native path takes it, else null. */
function filterGradientCall(args: KernelArgs): { x: tf.TensorInfo; dy: tf.TensorInfo; filterShape: number[]; info: tf.backend_util.Conv2DInfo } | null {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs;
  const info = isF32(x, dy) && attrs.filterShape && x.shape.length === 4 ? convInfoOf(x.shape, attrs.filterShape, attrs) : null;
  return info && sameShape(info.outShape, dy.shape) ? { x, dy, filterShape: attrs.filterShape!, info } : null;
}

function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const call = filterGradientCall(args);
  if (!call) return cpuFallback('Conv2DBackpropFilter', args);
  const b = args.backend as OneDnnBackend;
  if (!b.nativeFilters) return b.makeTensorInfo(call.filterShape, 'float32', b.addon.conv2dBackpropFilter(b.arg(call.x), b.arg(call.dy), ...convArgs(call.info)));
  return b.makeNativeFilterInfo(call.filterShape, b.addon.conv2dBackpropFilter(b.arg(call.x), b.arg(call.dy), ...convArgs(call.info), true));
}

/**
 * Conv2DBackpropFilter and the bias gradient (dy summed over N, H, W) in one native primitive,
 * [dw, db]; elsewhere the two kernels it stands for.
 */
function conv2DBackpropFilterBias(args: KernelArgs): tf.TensorInfo[] {
  const b = args.backend as OneDnnBackend;
  const call = filterGradientCall(args);
  if (!call) {
    const { dy } = args.inputs as { dy: tf.TensorInfo };
    return [conv2DBackpropFilter(args) as tf.TensorInfo, sum({ inputs: { x: dy }, backend: b, attrs: { axis: [0, 1, 2], keepDims: false } }) as tf.TensorInfo];
  }
  const db = (v: Float32Array): tf.TensorInfo => b.makeTensorInfo([call.info.outChannels], 'float32', v);
  if (!b.nativeFilters) {
    const [dw, dbv] = b.addon.conv2dBackpropFilterBias(b.arg(call.x), b.arg(call.dy), ...convArgs(call.info));
    return [b.makeTensorInfo(call.filterShape, 'float32', dw), db(dbv)];
  }
  const [dw, dbv] = b.addon.conv2dBackpropFilterBias(b.arg(call.x), b.arg(call.dy), ...convArgs(call.info), true);
  return [b.makeNativeFilterInfo(call.filterShape, dw), db(dbv)];
}

interface PoolAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: PadArg;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function poolInfoOf(xShape: readonly number[], a: PoolAttrs): tf.backend_util.Conv2DInfo | null {
  if (xShape.length !== 4) return null;
  const info = tf.backend_util.computePool2DInfo(dims4(xShape), a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  if (info.outHeight <= 0 || info.outWidth <= 0 || info.padInfo.type === 'EXPLICIT') return null;
  // oneDNN needs (in + pads - k) / stride + 1 == out; TF.js rounding modes can disagree.
  const fits = (i: number, pa: number, pb: number, k: number, s: number, o: number): boolean => Math.floor((i + pa + pb - k) / s) + 1 === o;
  const p = info.padInfo;
  if (!fits(info.inHeight, p.top, p.bottom, info.filterHeight, info.strideHeight, info.outHeight)) return null;
  if (!fits(info.inWidth, p.left, p.right, info.filterWidth, info.strideWidth, info.outWidth)) return null;
  // A window lying wholly in the padding (first starts past it, or last starts below the
  // input): oneDNN gives the lowest float where TF.js gives -Infinity or, for a 1x1 window
  // with in == out, its identity shortcut (tfjs-core pool_test "fractional outputs").
  const inside = (i: number, pa: number, k: number, s: number, o: number): boolean => pa < k && (o - 1) * s - pa < i;
  if (!inside(info.inHeight, p.top, info.filterHeight, info.strideHeight, info.outHeight)) return null;
  if (!inside(info.inWidth, p.left, info.filterWidth, info.strideWidth, info.outWidth)) return null;
  return info;
}

const poolArgs = (info: tf.backend_util.Conv2DInfo): [Dims4, Dims4, number[], number[], Pads] => [
  dims4(info.inShape),
  dims4(info.outShape),
  [info.filterHeight, info.filterWidth],
  [info.strideHeight, info.strideWidth],
  pads(info.padInfo),
];

function maxPool(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const info = isF32(x) ? poolInfoOf(x.shape, args.attrs as unknown as PoolAttrs) : null;
  if (!info) return cpuFallback('MaxPool', args);
  const h = b.addon.maxPool(b.arg(x), ...poolArgs(info));
  return b.makeNativeTensorInfo(info.outShape, h);
}

function maxPoolGrad(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { dy, input, output } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo; output: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const info = isF32(dy, input) ? poolInfoOf(input.shape, args.attrs as unknown as PoolAttrs) : null;
  if (!info || !sameShape(info.outShape, dy.shape)) return cpuFallback('MaxPoolGrad', args);
  // With the forward's workspace (kept on `output`) the input is not read natively.
  const h = b.addon.maxPoolGrad(b.arg(dy), b.arg(input), b.handleOf(output), ...poolArgs(info));
  return b.makeNativeTensorInfo(info.inShape, h);
}

function relu(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  // Only worth it (and only 4-D) when the input already lives natively.
  if (!isF32(x) || x.shape.length !== 4 || b.handleOf(x) === null) return cpuFallback('Relu', args);
  return b.makeNativeTensorInfo([...x.shape], b.addon.relu(b.arg(x), dims4(x.shape)));
}

function step(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const h = isF32(x) && ((args.attrs?.alpha as number | undefined) ?? 0) === 0 ? b.handleOf(x) : null;
  if (h === null) return cpuFallback('Step', args);
  return b.makeNativeTensorInfo([...x.shape], b.addon.step(h));
}

/** The one value of a float32 tensor of all dims 1 held in JavaScript (a scalar), else undefined. */
function singleJsValue(b: OneDnnBackend, t: tf.TensorInfo): number | undefined {
  if (t.dtype !== 'float32' || !t.shape.every((d) => d === 1) || b.handleOf(t) !== null) return undefined;
  return b.f32(t)[0];
}

function binary(kernelName: string, op: number) {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { a, b: bb } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const b = args.backend as OneDnnBackend;
    if (op === 1 && isF32(a, bb)) {
      // A native tensor times a scalar (the loss seed times its gradient) stays native.
      const [big, s] = b.handleOf(a) !== null && bb.shape.length <= a.shape.length ? [a, singleJsValue(b, bb)] : b.handleOf(bb) !== null && a.shape.length <= bb.shape.length ? [bb, singleJsValue(b, a)] : [a, undefined];
      if (s !== undefined) return b.makeNativeTensorInfo([...big.shape], b.addon.scale(b.handleOf(big)!, s));
    }
    if (isF32(a, bb) && sameShape(a.shape, bb.shape)) {
      const ha = b.handleOf(a);
      // b may be a plain 4-D array (a dropout mask): reordered into a's layout natively.
      const hb = ha !== null && (b.handleOf(bb) !== null || a.shape.length === 4) ? b.arg(bb) : null;
      if (ha !== null && hb !== null) {
        const h = b.addon.binary(op, ha, hb);
        if (h !== null) return b.makeNativeTensorInfo([...a.shape], h);
      }
    }
    return cpuFallback(kernelName, args);
  };
}

function slice(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const hx = isF32(x) && x.shape.length === 4 ? b.handleOf(x) : null;
  if (hx !== null) {
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, args.attrs!.begin as number[], args.attrs!.size as number[]) as [number[], number[]];
    if (size.every((v) => v > 0)) {
      const h = b.addon.slice(hx, begin, size);
      if (h !== null) return b.makeNativeTensorInfo(size, h);
    }
  }
  return cpuFallback('Slice', args);
}

function padV2(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const paddings = args.attrs!.paddings as [number, number][];
  const hx = isF32(x) && x.shape.length === 4 && args.attrs!.constantValue === 0 ? b.handleOf(x) : null;
  if (hx !== null) {
    const h = b.addon.pad(hx, paddings.map((p) => p[0]), paddings.map((p) => p[1]));
    if (h !== null) return b.makeNativeTensorInfo(x.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]), h);
  }
  return cpuFallback('PadV2', args);
}

function concat(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const xs = args.inputs as unknown as tf.TensorInfo[];
  const b = args.backend as OneDnnBackend;
  const first = xs[0];
  if (first && first.shape.length === 4 && tf.util.parseAxisParam(args.attrs!.axis as number, first.shape)[0] === 3) {
    const hs = xs.map((t) => (isF32(t) && sameShape(t.shape.slice(0, 3), first.shape.slice(0, 3)) ? b.handleOf(t) : null));
    if (hs.every((h) => h !== null)) {
      const c = xs.reduce((acc, t) => acc + t.shape[3]!, 0);
      return b.makeNativeTensorInfo([first.shape[0]!, first.shape[1]!, first.shape[2]!, c], b.addon.concat(hs as number[]));
    }
  }
  return cpuFallback('Concat', args);
}

function splitV(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const hx = isF32(x) && x.shape.length === 4 ? b.handleOf(x) : null;
  if (hx !== null) {
    const axis = tf.util.parseAxisParam(args.attrs!.axis as number, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, args.attrs!.numOrSizeSplits as number[] | number, axis);
    const outs: tf.TensorInfo[] = [];
    let offset = 0;
    for (const size of sizes) {
      const begin = [0, 0, 0, 0];
      const shape = [...x.shape];
      begin[axis] = offset;
      shape[axis] = size;
      offset += size;
      const h = size > 0 ? b.addon.slice(hx, begin, shape) : null;
      if (h === null) {
        for (const o of outs) b.disposeIntermediateTensorInfo(o);
        return cpuFallback('SplitV', args);
      }
      outs.push(b.makeNativeTensorInfo(shape, h));
    }
    return outs;
  }
  return cpuFallback('SplitV', args);
}

function sum(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const hx = isF32(x) && x.shape.length === 4 ? b.handleOf(x) : null;
  if (hx !== null) {
    const axes = tf.util.parseAxisParam(args.attrs!.axis as number | number[], x.shape);
    // A per-channel sum: axes within N, H, W and every other of those of size 1 (a bias
    // gradient reduces [1, 2] when the bias was broadcast as [1, 1, 1, C]).
    if (axes.every((a) => a < 3) && [0, 1, 2].every((a) => axes.includes(a) || x.shape[a] === 1)) {
      const shape = args.attrs!.keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
      return b.makeTensorInfo(shape, 'float32', b.addon.channelSum(hx));
    }
  }
  return cpuFallback('Sum', args);
}

/** Add: native for two tensors of one layout, or a 4-D native tensor plus a per-channel bias. */
function add(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { a, b: bb } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  if (isF32(a, bb) && !sameShape(a.shape, bb.shape)) {
    const [big, small] = a.shape.length === 4 ? [a, bb] : [bb, a];
    const c = big.shape[3];
    const isBias = big.shape.length === 4 && small.shape.length >= 1 && small.shape.every((d, i) => d === (i === small.shape.length - 1 ? c : 1));
    const hb = isBias ? b.handleOf(big) : null;
    if (hb !== null) return b.makeNativeTensorInfo([...big.shape], b.addon.biasAdd(hb, b.f32(small)));
  }
  return binary('Add', 0)(args);
}

/**
 * The weighted softmax cross-entropy (src/loss/cross-entropy.ts) on native logits, its gradient
 * native too; the CPU kernel otherwise (JS logits, labels not int32, more than 64 classes).
 */
function softmaxCrossEntropy(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { logits, labels, weights } = args.inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo; weights: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const h = isF32(logits, weights) && logits.shape.length === 4 && logits.shape[3]! <= 64 ? b.handleOf(logits) : null;
  const l = h !== null && labels.dtype === 'int32' && b.handleOf(labels) === null ? b.readSync(labels.dataId) : null;
  if (h === null || !(l instanceof Int32Array)) return cpuFallback(SOFTMAX_CE_KERNEL, args);
  const [sum, grad] = b.addon.softmaxCrossEntropy(h, l, b.f32(weights));
  const pixels = logits.shape[0]! * logits.shape[1]! * logits.shape[2]!;
  return [b.makeTensorInfo([], 'float32', Float32Array.of(sum / pixels)), b.makeNativeTensorInfo([...logits.shape], grad)];
}

/** dy * (y > 0) in one native pass (op 2); the CPU kernel otherwise. */
function reluGrad(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { dy, y } = args.inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const b = args.backend as OneDnnBackend;
  const hd = isF32(dy, y) && sameShape(dy.shape, y.shape) ? b.handleOf(dy) : null;
  const hy = hd !== null ? b.handleOf(y) : null;
  if (hd !== null && hy !== null) {
    const h = b.addon.binary(2, hd, hy);
    if (h !== null) return b.makeNativeTensorInfo([...dy.shape], h);
  }
  return cpuFallback(RELU_GRAD_KERNEL, args);
}

const NATIVE_KERNELS: Record<string, (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]> = {
  Conv2D: conv2D,
  FusedConv2D: fusedConv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  MaxPool: maxPool,
  MaxPoolGrad: maxPoolGrad,
  Relu: relu,
  Step: step,
  Add: add,
  Slice: slice,
  PadV2: padV2,
  Concat: concat,
  SplitV: splitV,
  Sum: sum,
  Multiply: binary('Multiply', 1),
  Sub: binary('Sub', 3),
  [RELU_GRAD_KERNEL]: reluGrad,
  [CONV_FILTER_BIAS_GRAD_KERNEL]: conv2DBackpropFilterBias,
  [SOFTMAX_CE_KERNEL]: softmaxCrossEntropy,
};

/** Kernel names with a native implementation on 'onednn' (others run the CPU kernel). */
export const ONEDNN_NATIVE_KERNELS: readonly string[] = Object.keys(NATIVE_KERNELS);

let registered = false;

/**
 * Registers the 'onednn' backend (priority above 'cpu') when the addon loads.
 * Returns false, with the reason in {@link oneDnnLoadError}, when it does not.
 */
export function registerOneDnnBackend(): boolean {
  if (registered) return true;
  const addon = loadOneDnnAddon();
  if (!addon) return false;
  installFastCpuKernels();
  tf.registerBackend('onednn', () => new OneDnnBackend(addon), 3);
  for (const k of tf.getKernelsForBackend('cpu')) {
    if (k.kernelName in NATIVE_KERNELS) continue;
    const name = k.kernelName;
    // Looked up per call so later replacements of CPU kernels (cpu-kernels.ts) apply here too.
    tf.registerKernel({ kernelName: name, backendName: 'onednn', kernelFunc: ((a: KernelArgs) => cpuFallback(name, a)) as tf.KernelFunc });
  }
  for (const [kernelName, fn] of Object.entries(NATIVE_KERNELS)) {
    tf.registerKernel({ kernelName, backendName: 'onednn', kernelFunc: fn as tf.KernelFunc });
  }
  registered = true;
  return true;
}
