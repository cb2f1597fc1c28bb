/**
 * Seeded weight initialisation. Sec. 3: "initialize the weights from a Gaussian
 * distribution with a standard deviation of sqrt(2/N), where N denotes the number of
 * incoming nodes of one neuron", e.g. N = 9 * 64 for a 3x3 conv on 64 channels.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Rng } from '../util/rng.js';

/**
 * Incoming nodes of one neuron for a kernel:
 * - conv2d kernel [kh, kw, cin, cout]: N = kh * kw * cin.
 * - conv2dTranspose kernel [kh, kw, cout, cin] with stride = kernel size (the 2x2 up-conv):
 *   each output pixel sees one kernel tap per input channel, so N = cin.
 *
 * @example fanIn('conv2d', [3, 3, 64, 128]) === 576
 * @example fanIn('conv2dTranspose', [2, 2, 512, 1024]) === 1024
 */
export function fanIn(kind: 'conv2d' | 'conv2dTranspose', kernelShape: readonly number[]): number {
  const [kh, kw, a, b] = kernelShape as [number, number, number, number];
  return kind === 'conv2d' ? kh * kw * a : b;
}

/**
 * Sets every conv kernel to N(0, 2/N) and every bias to 0, drawing from `rng`
 * in layer order, so the same seed gives the same network. Batch-norm layers keep
 * their standard init (gamma 1, beta 0).
 */
export function initializeWeights(model: tfl.LayersModel, rng: Rng): void {
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (className !== 'Conv2D' && className !== 'Conv2DTranspose') continue;
    const kind = className === 'Conv2D' ? 'conv2d' : 'conv2dTranspose';
    const values = layer.getWeights();
    const kernel = values[0]!;
    const std = Math.sqrt(2 / fanIn(kind, kernel.shape));
    const data = new Float32Array(kernel.size);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal(0, std);
    const next: tf.Tensor[] = [tf.tensor(data, kernel.shape)];
    for (const extra of values.slice(1)) next.push(tf.zerosLike(extra));
    layer.setWeights(next);
    for (const t of next) t.dispose();
  }
}

/** Total number of trainable scalars. */
export function countParameters(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0);
}
