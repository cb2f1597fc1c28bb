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

/** TF.js' own CPU Conv2DBackpropFilter, taken from the registry before ours replaced it. */
let tfjsBackpropFilter: tf.KernelFunc | null = null;

/**
 * TF.js' own CPU Conv2DBackpropFilter (tfjs-backend-cpu 4.22.0): what the fast kernel
 * falls back to and is tested against. Installs the fast kernels first if needed.
 */
export function tfjsConv2DBackpropFilter(): tf.KernelFunc {
  installFastCpuKernels();
  return tfjsBackpropFilter!;
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

let installed = false;

/**
 * Makes the CPU backend's Conv2DBackpropFilter the faster one above (keeping TF.js' own
 * as its fallback and reference) and adds our fused kernels (once).
 */
export function installFastCpuKernels(): void {
  if (installed) return;
  const original = tf.getKernel('Conv2DBackpropFilter', 'cpu');
  if (!original) throw new Error('installFastCpuKernels: tfjs-backend-cpu registered no Conv2DBackpropFilter kernel (is @tensorflow/tfjs-backend-cpu 4.22.0 imported?)');
  tfjsBackpropFilter = original.kernelFunc;
  // The registry keeps one config per (kernel, backend); unregister + register replaces it
  // without TF.js' "already registered" warning. The original stays in tfjsBackpropFilter.
  tf.unregisterKernel('Conv2DBackpropFilter', 'cpu');
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'cpu', kernelFunc: conv2DBackpropFilterNHWC as tf.KernelFunc });
  tf.registerKernel({ kernelName: RELU_GRAD_KERNEL, backendName: 'cpu', kernelFunc: reluGrad as tf.KernelFunc });
  tf.registerKernel({ kernelName: SOFTMAX_CE_KERNEL, backendName: 'cpu', kernelFunc: softmaxCrossEntropy as unknown as tf.KernelFunc });
  installed = true;
}
