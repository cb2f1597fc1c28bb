/**
 * Convolution + bias + ReLU as one op with its own gradient, for the U-Net's 3x3 layers.
 *
 * Why: under a gradient tape TF.js does not fuse an activation into a convolution
 * (`tf.fused.conv2d` falls back to conv2d, add and relu when gradientDepth > 0), so a
 * training step runs three kernels per layer and keeps two activation-sized tensors of
 * each layer for the backward pass. This op runs the FusedConv2D kernel (bias and
 * ReLU inside the convolution, one output), keeps only its input and output, and
 * frees its temporaries as soon as its gradient is computed. Same mathematics: the
 * ReLU's derivative is taken as 0 at 0, like TF.js' `step`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { overrideCalls } from './override.js';

/** Kernel computing dy * (y > 0) in one pass, registered by backends that have one (src/backend). */
export const RELU_GRAD_KERNEL = 'UNetReluGrad';

/**
 * Kernel computing a convolution's filter gradient and its bias gradient (dy summed over N, H, W)
 * together, [dw, db], registered by backends that have one: oneDNN does both in one pass over dy,
 * as PyTorch's convolution_backward does, instead of Conv2DBackpropFilter and a Sum.
 */
export const CONV_FILTER_BIAS_GRAD_KERNEL = 'UNetConv2DBackpropFilterBias';

function reluGrad(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend())) return tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, y }) as tf.Tensor;
  return tf.mul(dy, tf.step(y));
}

/** relu(conv2d(x, filter, stride 1) + bias) with NHWC `x` and HWIO `filter`. */
export function conv2dBiasRelu(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, pad: 'valid' | 'same'): tf.Tensor4D {
  const convAttrs = { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] } as const;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws, bs, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const y = tf.engine().runKernel('FusedConv2D', { x: xs, filter: ws, bias: bs }, { ...convAttrs, activation: 'relu' } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    save([xs, ws, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, sw, sy] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
          const dz = reluGrad(dy, sy);
          const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy: dz, filter: sw }, { ...convAttrs, inputShape: sx.shape } as unknown as tf.NamedAttrMap) as tf.Tensor;
          const filterAttrs = { ...convAttrs, filterShape: sw.shape } as unknown as tf.NamedAttrMap;
          if (tf.getKernel(CONV_FILTER_BIAS_GRAD_KERNEL, tf.getBackend())) {
            const [dw, db] = tf.engine().runKernel(CONV_FILTER_BIAS_GRAD_KERNEL, { x: sx, dy: dz }, filterAttrs) as tf.Tensor[];
            return [dx, dw!, db!];
          }
          const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: sx, dy: dz }, filterAttrs) as tf.Tensor;
          return [dx, dw, tf.sum(dz, [0, 1, 2])];
        }),
    };
  });
  return op(x, filter, bias) as tf.Tensor4D;
}

interface ConvInternals {
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
  padding: string;
  strides: number[];
  dilationRate: number[];
  dataFormat: string;
  activation: { getClassName(): string };
}

/**
 * Makes every stride-1 Conv2D layer of `model` with bias and ReLU run {@link conv2dBiasRelu}
 * (an instance override of `call`, so the saved topology stays a plain Conv2D). Applied to
 * every U-Net we build or load; returns the number of layers changed.
 */
export function fuseConvRelu(model: tfl.LayersModel): number {
  return overrideCalls<ConvInternals>(model, 'Conv2D', (c) => {
    const plain = c.strides.every((s) => s === 1) && c.dilationRate.every((d) => d === 1) && c.dataFormat === 'channelsLast';
    if (!plain || !c.bias || c.activation.getClassName().toLowerCase() !== 'relu') return null;
    if (c.padding !== 'valid' && c.padding !== 'same') return null;
    const pad = c.padding;
    const bias = c.bias;
    return (inputs) => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      return tf.tidy(() => conv2dBiasRelu(x, c.kernel.read() as tf.Tensor4D, bias.read() as tf.Tensor1D, pad));
    };
  });
}
