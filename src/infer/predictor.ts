/**
 * The model abstraction of tiled inference: anything that maps a batch of input
 * tiles (NHWC) to class probabilities on the (centre) output tiles (NHWK). The tiler
 * never sees TF.js; a trained U-Net is adapted with {@link unetPredictor}, and tests
 * use stubs (e.g. a centre crop).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { resolveConfig, type UNetConfig } from '../model/config.js';
import { invalidSizeMessage, isValidInputSize, minValidInputSize, outputSize, validInputSizes } from '../model/size.js';
import { configOfModel, modelInputShape, toTileShape, withInputSize, type TileShape } from '../model/unet.js';
import type { Size2 } from './tiling.js';
import { DEFAULT_PREDICT_BATCH } from './predict.js';

/** Activation memory budget for choosing a prediction tile (`unet predict --memory`, `unet tune`, tuning after training): 1 GiB, modest next to what training the same net needs. */
export const DEFAULT_TILE_MEMORY_BYTES = 2 ** 30;

export interface TilePredictor {
  /** Input tile [height, width]. */
  readonly inputShape: Size2;
  /** Output tile [height, width], centred in the input tile. */
  readonly outputShape: Size2;
  /** Image channels per input pixel. */
  readonly channels: number;
  /** Values per output pixel (class probabilities). */
  readonly classes: number;
  /**
   * Tile origins must be multiples of this to give shift-consistent predictions:
   * 2^depth for a U-Net (its total pooling factor), 1 for a pointwise model.
   */
  readonly alignment: number;
  /** n input tiles, n * inH * inW * channels values -> n * outH * outW * classes probabilities. */
  predictBatch(tilesNHWC: Float32Array, n: number): Promise<Float32Array>;
}

/** A predictor that owns tensors (a rebuilt model) and must be disposed. */
export interface DisposablePredictor extends TilePredictor {
  dispose(): void;
}

/**
 * Wraps a U-Net built by buildUNet (or loaded) as a predictor for tiles of `tile`
 * (default: the shape the model was built for). A different tile shape rebuilds the
 * network with the same weights (TF.js layers fix the spatial shape at build time).
 * Softmax turns the logits into class probabilities.
 *
 * @throws "predict: tile 570 is not a valid U-Net input (depth 4, valid padding); nearest valid sizes are 556 and 572"
 */
export function unetPredictor(model: tfl.LayersModel, config: Partial<UNetConfig>, tile?: number | TileShape): DisposablePredictor {
  const c = resolveConfig(config);
  const built = modelInputShape(model);
  const [h, w] = tile === undefined ? built : toTileShape(tile);
  for (const [v, what] of [[h, 'tile height'], [w, 'tile width']] as const) {
    if (!isValidInputSize(v, c)) throw new Error(`predict: ${invalidSizeMessage(v, c, what)}`);
  }
  const rebuilt = h === built[0] && w === built[1] ? null : withInputSize(model, c, [h, w]);
  const net = rebuilt ?? model;
  const outputShape: Size2 = [outputSize(h, c), outputSize(w, c)];
  const channels = c.inputChannels;
  return {
    inputShape: [h, w],
    outputShape,
    channels,
    classes: c.classes,
    alignment: 2 ** c.depth,
    async predictBatch(tilesNHWC: Float32Array, n: number): Promise<Float32Array> {
      if (tilesNHWC.length !== n * h * w * channels) throw new Error(`predictBatch: got ${tilesNHWC.length} values for ${n} tiles of ${h}x${w}x${channels}`);
      const probs = tf.tidy(() => tf.softmax(net.predict(tf.tensor4d(tilesNHWC, [n, h, w, channels])) as tf.Tensor4D));
      try {
        return (await probs.data()) as Float32Array;
      } finally {
        probs.dispose();
      }
    },
    dispose(): void {
      rebuilt?.dispose();
    },
  };
}

/**
 * Number of float32 activations in one forward pass of a U-Net on a square `size`
 * input (sum of every layer's output, input included). Mirrors buildUNet layer by
 * layer; an upper bound on what inference keeps alive at once, since TF.js frees
 * intermediates once their consumers ran.
 */
export function activationElements(config: Partial<UNetConfig>, size: number): number {
  const c = resolveConfig(config);
  outputSize(size, c, 'activationElements');
  const pad = c.padding === 'valid' ? 2 : 0;
  const perConv = c.batchNorm ? 3 : 1; // conv, bn, relu; or one fused conv + ReLU (src/model/fused-conv.ts)
  let total = size * size * c.inputChannels;
  let s = size;
  const skip: number[] = [];
  const filters = (l: number): number => c.baseFilters * 2 ** l;
  const doubleConv = (f: number): void => {
    for (let i = 0; i < 2; i++) {
      s -= pad;
      total += perConv * s * s * f;
    }
  };
  for (let l = 0; l < c.depth; l++) {
    doubleConv(filters(l));
    skip.push(s);
    s /= 2;
    total += s * s * filters(l);
  }
  doubleConv(filters(c.depth));
  if (c.dropout > 0) total += s * s * filters(c.depth);
  for (let l = c.depth - 1; l >= 0; l--) {
    s *= 2;
    total += s * s * filters(l); // up-convolution
    if (skip[l]! !== s) total += s * s * filters(l); // cropped skip
    total += s * s * 2 * filters(l); // concatenation
    doubleConv(filters(l));
  }
  total += s * s * c.classes * 2; // logits and softmax
  return total;
}

/** Bytes of activations for `batch` tiles of `size` (float32). */
export function estimateTileBytes(config: Partial<UNetConfig>, size: number, batch = 1): number {
  return activationElements(config, size) * 4 * batch;
}

/**
 * The largest valid square tile whose activations for `batch` tiles fit in
 * `budgetBytes`, capped at the smallest tile whose output already covers an image
 * of `imageSize` (bigger would only predict mirrored context) and at `maxTile`.
 *
 * @throws when even the smallest valid tile does not fit, naming the bytes it needs.
 */
export function chooseTileSize(
  config: Partial<UNetConfig>,
  budgetBytes: number,
  options: { readonly batch?: number; readonly imageSize?: Size2; readonly maxTile?: number } = {},
): number {
  const c = resolveConfig(config);
  const batch = options.batch ?? DEFAULT_PREDICT_BATCH;
  if (!(budgetBytes > 0)) throw new Error(`chooseTileSize: budget must be > 0 bytes, got ${budgetBytes}`);
  let maxTile = options.maxTile ?? 1024;
  if (options.imageSize) {
    const side = Math.max(...options.imageSize);
    const covering = validInputSizes(c, 1, maxTile + 2 ** (c.depth + 1)).find((v) => outputSize(v, c) >= side);
    if (covering !== undefined) maxTile = Math.min(maxTile, covering);
  }
  const candidates = validInputSizes(c, 1, maxTile).reverse();
  const fit = candidates.find((v) => estimateTileBytes(c, v, batch) <= budgetBytes);
  if (fit !== undefined) return fit;
  const smallest = minValidInputSize(c);
  throw new Error(
    `chooseTileSize: even the smallest valid tile (${smallest}) needs ${(estimateTileBytes(c, smallest, batch) / 2 ** 20).toFixed(1)} MiB for a batch of ${batch}, over the budget of ${(budgetBytes / 2 ** 20).toFixed(1)} MiB`,
  );
}

/** A predictor for a model's current weights at the model's own tile shape, and how to close it. */
export interface OpenedPredictor {
  readonly predictor: TilePredictor;
  close(): Promise<void>;
}

/**
 * Opens a predictor on the weights a model holds now, once per validation pass. The default runs
 * TF.js on the active backend; Node callers may pass ONNX Runtime's (openCurrentWeights in
 * src/infer/engine.ts), which is faster than TF.js on the oneDNN backend too.
 */
export type PredictorOpener = (model: tfl.LayersModel) => Promise<OpenedPredictor>;

/** TF.js on the active backend, the model itself (no rebuild, no weight copy). */
export const tfjsPredictorOpener: PredictorOpener = async (model) => {
  const predictor = unetPredictor(model, configOfModel(model));
  return { predictor, close: async () => predictor.dispose() };
};
