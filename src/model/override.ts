/**
 * Instance overrides of a layer's `call`, the way unet-ts runs a faster op for a standard layer
 * (src/model/fused-conv.ts, src/model/crop.ts) while the saved topology keeps the plain layer.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** What `call` receives: a layer's input tensor (or list of them) and its keyword arguments. */
export type LayerCall = (inputs: tf.Tensor | tf.Tensor[], kwargs: unknown) => tf.Tensor;

/**
 * Replaces `call` on every layer of `model` of class `className` for which `make` returns a
 * function (`make` returns null to leave a layer as it is); returns the number of layers changed.
 */
export function overrideCalls<L>(model: tfl.LayersModel, className: string, make: (layer: L) => LayerCall | null): number {
  let n = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== className) continue;
    const call = make(layer as unknown as L);
    if (!call) continue;
    (layer as unknown as { call: LayerCall }).call = call;
    n++;
  }
  return n;
}
