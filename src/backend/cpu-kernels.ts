/**
 * Faster pure-JS kernels for the CPU backend where TF.js' own are the bottleneck of
 * U-Net training. tfjs-backend-cpu's Conv2DBackpropFilter reads every element through
 * TensorBuffer.get(), ~95% of a training step on a small U-Net (measured: 950 of
 * 1040 ms); this one walks the NHWC arrays directly with the output-channel loop
 * innermost. Same math and, per filter element, the same float64 summation order as
 * TF.js' kernel. TF.js' own kernel stays reachable ({@link tfjsConv2DBackpropFilter}):
 * it runs every case the fast one does not cover (NCHW, non-float32) and is what the
 * fast one is tested against (test/cpu-kernels.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { SOFTMAX_CE_KERNEL } from '../loss/cross-entropy.js';
import { RELU_GRAD_KERNEL } from '../model/fused-conv.js';

interface BackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };

/**
 * TF.js' own CPU Conv2DBackpropFilter (tfjs-backend-cpu 4.22.0): what the fast kernel
 * falls back to and is tested against. Installs the fast kernels first if needed.
 */
export function tfjsConv2DBackpropFilter(): tf.KernelFunc {
  return tfjsCpuKernel('Conv2DBackpropFilter');
}

/** dW of a convolution (NHWC x and dy, HWIO dW), or TF.js' kernel for what this one does not cover. */
export function conv2DBackpropFilterNHWC(args: KernelArgs): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as BackpropFilterAttrs;
  if (attrs.dataFormat === 'NCHW' || x.dtype !== 'float32' || dy.dtype !== 'float32') return tfjsConv2DBackpropFilter()(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  const backend = args.backend as MathBackendCPU;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  const xv = backend.data.get(x.dataId).values as Float32Array;
  const dyv = backend.data.get(dy.dataId).values as Float32Array;
  const { batchSize, inHeight, inWidth, inChannels: ci, outHeight, outWidth, outChannels: co, filterHeight: fh, filterWidth: fw } = info;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Summed in float64 like TF.js' kernel (its dotProd is a JS number), stored as float32 at the end.
  const dw = new Float64Array(fh * fw * ci * co);
  // Zero inputs (ReLU outputs often are) are skipped, unless dy holds a NaN or an
  // infinity: then 0 * dy is NaN and must reach dW as it does in TF.js' kernel.
  let skipZeros = true;
  for (let i = 0; i < dyv.length; i++) {
    if (!Number.isFinite(dyv[i]!)) {
      skipZeros = false;
      break;
    }
  }
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ky = 0; ky < fh; ky++) {
        const iy = oy * sh + ky - top;
        if (iy < 0 || iy >= inHeight) continue;
        for (let ox = 0; ox < outWidth; ox++) {
          const dyBase = ((b * outHeight + oy) * outWidth + ox) * co;
          for (let kx = 0; kx < fw; kx++) {
            const ix = ox * sw + kx - left;
            if (ix < 0 || ix >= inWidth) continue;
            const xBase = ((b * inHeight + iy) * inWidth + ix) * ci;
            const wBase = (ky * fw + kx) * ci * co;
            for (let c = 0; c < ci; c++) {
              const xval = xv[xBase + c]!;
              if (xval === 0 && skipZeros) continue;
              const wRow = wBase + c * co;
              for (let o = 0; o < co; o++) dw[wRow + o]! += xval * dyv[dyBase + o]!;
            }
          }
        }
      }
    }
  }
  return backend.makeTensorInfo(attrs.filterShape, 'float32', Float32Array.from(dw));
}

/** dy * (y > 0), NaN in y propagating like TF.js' mul(dy, step(y)): the ReLU gradient of src/model/fused-conv.ts. */
function reluGrad(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend }): tf.TensorInfo {
  const { dy, y } = args.inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const backend = args.backend as MathBackendCPU;
  const dyv = backend.data.get(dy.dataId).values as Float32Array;
  const yv = backend.data.get(y.dataId).values as Float32Array;
  const out = new Float32Array(dyv.length);
  for (let i = 0; i < out.length; i++) {
    const yi = yv[i]!;
    out[i] = yi > 0 ? dyv[i]! : yi !== yi ? yi : 0;
  }
  return backend.makeTensorInfo([...dy.shape], 'float32', out);
}

/** [loss, dLogits] of the weighted softmax cross-entropy (src/loss/cross-entropy.ts), in float64 per pixel. */
function softmaxCrossEntropy(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend }): tf.TensorInfo[] {
  const { logits, labels, weights } = args.inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo; weights: tf.TensorInfo };
  const backend = args.backend as MathBackendCPU;
  const x = backend.data.get(logits.dataId).values as Float32Array;
  const l = backend.data.get(labels.dataId).values as ArrayLike<number>;
  const w = backend.data.get(weights.dataId).values as Float32Array;
  const k = logits.shape[logits.shape.length - 1]!;
  const pixels = x.length / k;
  if (l.length !== pixels || w.length !== pixels) throw new Error(`${SOFTMAX_CE_KERNEL}: ${pixels} pixels of logits, ${l.length} labels, ${w.length} weights`);
  const grad = new Float32Array(x.length);
  if (k === 2) return twoClassSoftmaxCrossEntropy(backend, logits.shape, x, l, w, grad);
  const e = new Float64Array(k);
  let sum = 0;
  for (let p = 0; p < pixels; p++) {
    const o = p * k;
    let m = -Infinity;
    for (let c = 0; c < k; c++) m = Math.max(m, x[o + c]!);
    let z = 0;
    for (let c = 0; c < k; c++) z += e[c] = Math.exp(x[o + c]! - m);
    const label = l[p]!;
    const valid = Number.isInteger(label) && label >= 0 && label < k;
    const wp = w[p]!;
    if (valid) sum += wp * (m + Math.log(z) - x[o + label]!);
    if (!valid) continue; // a zero one-hot row: no loss, no gradient
    const scale = wp / pixels;
    for (let c = 0; c < k; c++) grad[o + c] = scale * (e[c]! / z - (c === label ? 1 : 0));
  }
  return [backend.makeTensorInfo([], 'float32', Float32Array.of(sum / pixels)), backend.makeTensorInfo([...logits.shape], 'float32', grad)];
}

/**
 * Sum of a float32 tensor over all axes but the last (a bias gradient: the per-class sum of the
 * logits' gradient), or null for any other reduction. TF.js' kernel transposes the channels to
 * the front first, 21 ms of a 16-filter 412 training step for the [1, 228, 228, 2] gradient; this
 * walks the array once. Per channel, the same float64 sum in the same pixel order, so the same
 * float32 result.
 *
 * @example leadingAxesSum over x = [[1, 2], [3, 4]] (shape [2, 2], axis 0) gives [4, 6]
 */
function leadingAxesSum(args: KernelArgs): tf.TensorInfo | null {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype !== 'float32' || x.shape.length < 2) return null;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(args.attrs!.axis as number | number[], x.shape);
  if (new Set(axes).size !== rank - 1 || axes.some((a) => a === rank - 1)) return null;
  const backend = args.backend as MathBackendCPU;
  const v = backend.data.get(x.dataId).values as Float32Array;
  const c = x.shape[rank - 1]!;
  const acc = new Float64Array(c);
  for (let i = 0; i < v.length; i += c) for (let k = 0; k < c; k++) acc[k]! += v[i + k]!;
  const shape = args.attrs!.keepDims ? x.shape.map((d, i) => (i === rank - 1 ? d : 1)) : [c];
  return backend.makeTensorInfo(shape, 'float32', Float32Array.from(acc));
}

/** The single value of `t` when it holds one (a scalar, or all dims 1 and rank at most `other`'s), else undefined. */
function singleValue(backend: MathBackendCPU, t: tf.TensorInfo, other: tf.TensorInfo): number | undefined {
  if (!t.shape.every((d) => d === 1) || t.shape.length > other.shape.length) return undefined;
  return (backend.data.get(t.dataId).values as Float32Array)[0];
}

/**
 * a * b and a >= b for float32 a and b where one side holds a single value, else null. TF.js'
 * kernels broadcast element by element through index arithmetic: 4-5 ms to scale the
 * [1, 228, 228, 2] logits' gradient by the loss's seed, and as much for the dropout mask's >= and
 * * on [1, 18, 18, 256]. Each value is the JavaScript expression TF.js' kernel evaluates, stored
 * into the same typed array (float32, or 0/1 for bool), so the results are the same bits. One
 * loop per operation and side keeps each loop monomorphic.
 */
function multiplySingle(args: KernelArgs): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const backend = args.backend as MathBackendCPU;
  const sb = singleValue(backend, b, a);
  const sa = sb === undefined ? singleValue(backend, a, b) : undefined;
  if (sb === undefined && sa === undefined) return null;
  const [big, s] = sb !== undefined ? [a, sb] : [b, sa!];
  const v = backend.data.get(big.dataId).values as Float32Array;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * s;
  return backend.makeTensorInfo([...big.shape], 'float32', out);
}

function greaterEqualSingle(args: KernelArgs): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const backend = args.backend as MathBackendCPU;
  const sb = singleValue(backend, b, a);
  if (sb !== undefined) {
    const v = backend.data.get(a.dataId).values as Float32Array;
    const out = new Uint8Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = v[i]! >= sb ? 1 : 0;
    return backend.makeTensorInfo([...a.shape], 'bool', out);
  }
  const sa = singleValue(backend, a, b);
  if (sa === undefined) return null;
  const v = backend.data.get(b.dataId).values as Float32Array;
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = sa >= v[i]! ? 1 : 0;
  return backend.makeTensorInfo([...b.shape], 'bool', out);
}

/** TF.js' own CPU kernels that a faster one above replaced, by name (they run what it does not cover). */
const tfjsKernels = new Map<string, tf.KernelFunc>();

/**
 * Registers `kernelFunc` as the CPU kernel `name`, keeping TF.js' own in {@link tfjsKernels}. The
 * registry keeps one config per (kernel, backend); unregister + register replaces it without
 * TF.js' "already registered" warning.
 */
function replaceCpuKernel(name: string, kernelFunc: tf.KernelFunc): void {
  const original = tf.getKernel(name, 'cpu');
  if (!original) throw new Error(`installFastCpuKernels: tfjs-backend-cpu registered no ${name} kernel (is @tensorflow/tfjs-backend-cpu 4.22.0 imported?)`);
  tfjsKernels.set(name, original.kernelFunc);
  tf.unregisterKernel(name, 'cpu');
  tf.registerKernel({ kernelName: name, backendName: 'cpu', kernelFunc });
}

/** `fast`, and TF.js' own kernel `name` whenever `fast` returns null. */
function orTfjs(name: string, fast: (args: KernelArgs) => tf.TensorInfo | null): tf.KernelFunc {
  // Looked up per call: the original is stored when replaceCpuKernel registers this.
  return ((args: KernelArgs) => fast(args) ?? tfjsKernels.get(name)!(args as Parameters<tf.KernelFunc>[0])) as tf.KernelFunc;
}

/** TF.js' own CPU kernel `name` (Conv2DBackpropFilter, Sum, Multiply, GreaterEqual) that a fast one replaced: the fallback, and the reference in tests. */
export function tfjsCpuKernel(name: string): tf.KernelFunc {
  installFastCpuKernels();
  const k = tfjsKernels.get(name);
  if (!k) throw new Error(`tfjsCpuKernel: ${name} was not replaced (replaced: ${[...tfjsKernels.keys()].join(', ')})`);
  return k;
}

/**
 * The loop above for two classes (the paper's setting), unrolled: the same operations in the same
 * order (max from -Infinity, z = 0 + e0 + e1, the same loss and gradient expressions), so the same
 * float64 values and float32 results; 6.7 of 12 ms for a 228 x 228 output went to the general
 * loop's per-class loops and scratch array.
 */
function twoClassSoftmaxCrossEntropy(backend: MathBackendCPU, shape: readonly number[], x: Float32Array, l: ArrayLike<number>, w: Float32Array, grad: Float32Array): tf.TensorInfo[] {
  const pixels = w.length;
  let sum = 0;
  for (let p = 0; p < pixels; p++) {
    const x0 = x[2 * p]!;
    const x1 = x[2 * p + 1]!;
    const m = Math.max(Math.max(-Infinity, x0), x1);
    const e0 = Math.exp(x0 - m);
    const e1 = Math.exp(x1 - m);
    const z = 0 + e0 + e1;
    const label = l[p]!;
    if (!(Number.isInteger(label) && label >= 0 && label < 2)) continue; // a zero one-hot row: no loss, no gradient
    const wp = w[p]!;
    sum += wp * (m + Math.log(z) - (label === 0 ? x0 : x1));
    const scale = wp / pixels;
    grad[2 * p] = scale * (e0 / z - (label === 0 ? 1 : 0));
    grad[2 * p + 1] = scale * (e1 / z - (label === 1 ? 1 : 0));
  }
  return [backend.makeTensorInfo([], 'float32', Float32Array.of(sum / pixels)), backend.makeTensorInfo([...shape], 'float32', grad)];
}

let installed = false;

/**
 * Makes the CPU backend's Conv2DBackpropFilter, Sum, Multiply and GreaterEqual the faster ones
 * above (keeping TF.js' own as their fallback and reference) and adds our fused kernels (once).
 */
export function installFastCpuKernels(): void {
  if (installed) return;
  // conv2DBackpropFilterNHWC hands what it does not cover to TF.js' kernel itself.
  replaceCpuKernel('Conv2DBackpropFilter', conv2DBackpropFilterNHWC as tf.KernelFunc);
  replaceCpuKernel('Sum', orTfjs('Sum', leadingAxesSum));
  replaceCpuKernel('Multiply', orTfjs('Multiply', multiplySingle));
  replaceCpuKernel('GreaterEqual', orTfjs('GreaterEqual', greaterEqualSingle));
  tf.registerKernel({ kernelName: RELU_GRAD_KERNEL, backendName: 'cpu', kernelFunc: reluGrad as tf.KernelFunc });
  tf.registerKernel({ kernelName: SOFTMAX_CE_KERNEL, backendName: 'cpu', kernelFunc: softmaxCrossEntropy as unknown as tf.KernelFunc });
  installed = true;
}
