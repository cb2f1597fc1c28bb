/**
 * The paper's energy (Sec. 3): a pixel-wise softmax over the final feature map
 * combined with cross-entropy, weighted per pixel by w(x):
 *
 *   E = - sum_x w(x) log p_{l(x)}(x)
 *
 * We average over the B * h * w output pixels instead of summing so that the
 * learning rate does not depend on the tile size (a sum over a 388x388 tile is
 * 150k times a per-pixel loss). The weights keep their relative meaning: an
 * all-ones map gives the plain mean cross-entropy.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Centre-crops the spatial dims of an NHW or NHWC tensor to [outH, outW].
 * Labels and weight maps given at input resolution are cropped to the output this way.
 *
 * @example centreCrop(labels, [388, 388]) // labels [1, 572, 572] -> [1, 388, 388], offset 92 per side
 */
export function centreCrop<T extends tf.Tensor>(t: T, [outH, outW]: readonly [number, number], caller = 'centreCrop'): T {
  const [, h, w] = t.shape as number[];
  if (h === undefined || w === undefined) throw new Error(`${caller}: expected a tensor of rank >= 3 (N, H, W, ...), got shape [${t.shape}]`);
  if (h === outH && w === outW) return t.clone() as T;
  if ((h - outH) % 2 !== 0 || (w - outW) % 2 !== 0 || h < outH || w < outW) {
    throw new Error(`${caller}: cannot centre-crop ${h}x${w} to ${outH}x${outW}; the difference must be even and non-negative`);
  }
  const begin = [0, (h - outH) / 2, (w - outW) / 2, ...t.shape.slice(3).map(() => 0)];
  const size = [-1, outH, outW, ...t.shape.slice(3).map(() => -1)];
  return tf.slice(t, begin, size) as T;
}

/**
 * Weighted pixel-wise softmax cross-entropy, averaged over output pixels.
 *
 * @param logitsNHWK  network output [B, h, w, K] (raw scores; softmax is applied here)
 * @param labelsNHW   class indices [B, H, W] (int32 or float32 holding integers); centre-cropped to h x w when larger
 * @param weightsNHW  per-pixel weights [B, H, W], centre-cropped likewise; all ones when omitted
 *
 * @example logits [[0, ln 3]] label 1 weight 2 -> 2 * -log(3/4) = 0.5754
 */
export function weightedSoftmaxCrossEntropy(logitsNHWK: tf.Tensor4D, labelsNHW: tf.Tensor3D, weightsNHW?: tf.Tensor3D | null): tf.Scalar {
  return tf.tidy(() => {
    const [b, h, w, k] = logitsNHWK.shape;
    const [lb] = labelsNHW.shape;
    if (lb !== b) throw new Error(`weightedSoftmaxCrossEntropy: labels batch ${lb} does not match logits batch ${b}`);
    if (weightsNHW && weightsNHW.shape[0] !== b) throw new Error(`weightedSoftmaxCrossEntropy: weights batch ${weightsNHW.shape[0]} does not match logits batch ${b}`);
    const labels = centreCrop(labelsNHW, [h, w], 'weightedSoftmaxCrossEntropy(labels)');
    const weights = weightsNHW ? centreCrop(weightsNHW, [h, w], 'weightedSoftmaxCrossEntropy(weights)') : null;
    if (tf.getKernel(SOFTMAX_CE_KERNEL, tf.getBackend())) return fusedLoss(logitsNHWK, labels, weights ?? tf.ones([b, h, w]));
    const oneHot = tf.oneHot(tf.cast(tf.reshape(labels, [-1]), 'int32'), k);
    const logProbs = tf.logSoftmax(tf.reshape(logitsNHWK, [-1, k]));
    const ce = tf.neg(tf.sum(tf.mul(oneHot, logProbs), -1));
    const perPixel = weights ? tf.mul(ce, tf.reshape(weights, [-1])) : ce;
    return tf.mean(perPixel) as tf.Scalar;
  });
}

/**
 * Kernel computing, in one pass over [B, h, w, K] logits, the loss above and its
 * gradient w(x) (softmax(x) - onehot(l(x))) / (B h w). Backends that train register it
 * (src/backend); elsewhere the loss is composed of TF.js ops. A pixel whose label is
 * outside [0, K) adds no loss and no gradient, like TF.js' all-zero oneHot row.
 */
export const SOFTMAX_CE_KERNEL = 'UNetWeightedSoftmaxCrossEntropy';

function fusedLoss(logits: tf.Tensor4D, labels: tf.Tensor3D, weights: tf.Tensor3D): tf.Scalar {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, l, w, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [loss, grad] = tf.engine().runKernel(SOFTMAX_CE_KERNEL, { logits: x, labels: l, weights: w }) as tf.Tensor[];
    save([grad!]);
    return {
      value: loss!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(saved[0]!, dy), tf.zerosLike(l), tf.zerosLike(w)],
    };
  });
  return op(logits, labels, weights) as tf.Scalar;
}
