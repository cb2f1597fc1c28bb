/**
 * The U-Net of Ronneberger, Fischer and Brox (2015), Fig. 1, as TF.js layers.
 * The forward pass reads like the figure: doubleConv per level, down (2x2 max-pool),
 * up (2x2 up-convolution + crop-and-concat + doubleConv), outConv (1x1 to classes).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { resolveConfig, type UNetConfig } from './config.js';
import { outputSize, skipCropPerSide } from './size.js';
import { SeededDropout } from './dropout.js';
import { fuseConvRelu } from './fused-conv.js';
import { cropInOneSlice } from './crop.js';
import { initializeWeights } from './init.js';
import { Rng } from '../util/rng.js';

type Sym = tfl.SymbolicTensor;

/** Height and width of a tile, in pixels. */
export type TileShape = readonly [height: number, width: number];

export function toTileShape(size: number | TileShape): TileShape {
  return typeof size === 'number' ? [size, size] : size;
}

/** How {@link buildUNet} initialises the weights. */
export interface BuildOptions {
  /** Seed of the initialisation: the same seed gives the same weights. Default 0. */
  readonly seed?: number;
  /**
   * 'he' (default): every conv kernel drawn from N(0, 2/N) and every bias 0, Sec. 3
   * ({@link initializeWeights} with `new Rng(seed)`). 'zeros': all-zero kernels, which
   * predict a constant 0.5 everywhere; only for a caller that overwrites every weight
   * at once (rebuilding for another tile size) or never predicts (counting parameters),
   * and so skips the draw (about 9 s for the paper's 31M weights).
   */
  readonly init?: 'he' | 'zeros';
}

export const DEFAULT_BUILD: Required<BuildOptions> = { seed: 0, init: 'he' };

/**
 * Builds the network for input tiles of `inputSize` (a number for square tiles), with
 * seeded He-initialised weights (see {@link BuildOptions}): a model straight from here
 * already trains and predicts non-constant values. Re-seed with {@link initializeWeights}.
 * TF.js cannot infer crop shapes for unknown spatial sizes, so a model is built for
 * one tile shape; {@link withInputSize} rebuilds it for another with the same weights.
 *
 * @example buildUNet({ depth: 2, baseFilters: 4 }, 60, { seed: 7 }) // 60 -> 20 px, weights from seed 7
 */
export function buildUNet(config: Partial<UNetConfig> = {}, inputSize: number | TileShape = 572, options: BuildOptions = {}): tfl.LayersModel {
  const { seed, init } = { ...DEFAULT_BUILD, ...options };
  if (!Number.isInteger(seed)) throw new Error(`buildUNet: seed must be an integer, got ${seed}`);
  if (init !== 'he' && init !== 'zeros') throw new Error(`buildUNet: init must be 'he' or 'zeros', got ${String(init)}`);
  const c = resolveConfig(config);
  const [h, w] = toTileShape(inputSize);
  outputSize(h, c, 'buildUNet', 'input height');
  outputSize(w, c, 'buildUNet', 'input width');

  const image = tfl.input({ shape: [h, w, c.inputChannels], name: 'image' });
  const filters = (level: number): number => c.baseFilters * 2 ** level;

  const skips: Sym[] = [];
  let x: Sym = image;
  for (let level = 0; level < c.depth; level++) {
    x = doubleConv(x, filters(level), c, `enc${level}`);
    skips.push(x);
    x = down(x, `enc${level}_pool`);
  }
  x = doubleConv(x, filters(c.depth), c, 'bottom');
  // Sec. 3.1: "Drop-out layers at the end of the contracting path perform further implicit data augmentation."
  if (c.dropout > 0) x = new SeededDropout({ rate: c.dropout, name: 'bottom_dropout' }).apply(x) as Sym;
  for (let level = c.depth - 1; level >= 0; level--) {
    x = up(x, skips[level]!, filters(level), skipCropPerSide(level, c), c, `dec${level}`);
  }
  const logits = outConv(x, c.classes);
  const model = tfl.model({ inputs: image, outputs: logits, name: 'unet' });
  fuseConvRelu(model);
  cropInOneSlice(model);
  if (init === 'he') initializeWeights(model, new Rng(seed));
  return model;
}

/**
 * Two 3x3 convolutions, each followed by (optional batch norm and) a ReLU. Without batch
 * norm the ReLU is the convolution's own activation, which TF.js runs as one fused
 * kernel: one activation tensor per layer instead of two, kept for the backward pass.
 */
function doubleConv(x: Sym, filters: number, c: UNetConfig, name: string): Sym {
  for (const i of [1, 2]) {
    x = tfl.layers
      .conv2d({
        filters,
        kernelSize: 3,
        padding: c.padding,
        useBias: !c.batchNorm,
        activation: c.batchNorm ? 'linear' : 'relu',
        kernelInitializer: 'zeros',
        name: `${name}_conv${i}`,
      })
      .apply(x) as Sym;
    if (c.batchNorm) {
      x = tfl.layers.batchNormalization({ name: `${name}_bn${i}` }).apply(x) as Sym;
      x = tfl.layers.reLU({ name: `${name}_relu${i}` }).apply(x) as Sym;
    }
  }
  return x;
}

/** 2x2 max-pool, stride 2: halves the size, the channels double in the next doubleConv. */
function down(x: Sym, name: string): Sym {
  return tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name }).apply(x) as Sym;
}

/** 2x2 up-convolution halving the channels, concatenation with the centre-cropped skip map, doubleConv. */
function up(x: Sym, skip: Sym, filters: number, cropPerSide: number, c: UNetConfig, name: string): Sym {
  const upsampled = tfl.layers
    .conv2dTranspose({ filters, kernelSize: 2, strides: 2, padding: 'valid', kernelInitializer: 'zeros', name: `${name}_upconv` })
    .apply(x) as Sym;
  // Sec. 2: "The cropping is necessary due to the loss of border pixels in every convolution."
  const cropped =
    cropPerSide > 0
      ? (tfl.layers.cropping2D({ cropping: [[cropPerSide, cropPerSide], [cropPerSide, cropPerSide]], name: `${name}_crop` }).apply(skip) as Sym)
      : skip;
  const merged = tfl.layers.concatenate({ axis: -1, name: `${name}_concat` }).apply([cropped, upsampled]) as Sym;
  return doubleConv(merged, filters, c, name);
}

/** Final 1x1 convolution mapping each feature vector to class logits (softmax lives in the loss). */
function outConv(x: Sym, classes: number): Sym {
  return tfl.layers.conv2d({ filters: classes, kernelSize: 1, kernelInitializer: 'zeros', name: 'out_conv' }).apply(x) as Sym;
}

/** The same network for another tile shape, sharing no tensors with `model` (weights copied). */
export function withInputSize(model: tfl.LayersModel, config: Partial<UNetConfig>, inputSize: number | TileShape): tfl.LayersModel {
  const rebuilt = buildUNet(config, inputSize, { init: 'zeros' }); // every weight is set next
  const weights = model.getWeights();
  rebuilt.setWeights(weights);
  return rebuilt;
}

/**
 * The UNetConfig a model built by buildUNet (or loaded) was built from, read off its layers:
 * depth = max-pools, base filters and padding of the first 3x3 conv, classes = the 1x1 output
 * conv's filters, batch norm if any layer is one, dropout = the bottom dropout's rate (0 without).
 *
 * @example configOfModel(buildUNet({ depth: 2, baseFilters: 4 }, 44)) // { depth: 2, baseFilters: 4, classes: 2, inputChannels: 1, padding: 'valid', batchNorm: false, dropout: 0.5 }
 */
export function configOfModel(model: tfl.LayersModel): UNetConfig {
  const layers = model.layers;
  const firstConv = layers.find((l) => l.getClassName() === 'Conv2D');
  const out = layers.find((l) => l.name === 'out_conv');
  if (!firstConv || !out) throw new Error(`configOfModel: ${model.name} is not a U-Net built by unet-ts (no Conv2D layer${firstConv ? " named 'out_conv'" : ''})`);
  const conv = firstConv.getConfig() as { filters: number; padding: string };
  const dropout = layers.find((l) => l.getClassName() === 'UNetSeededDropout' || l.getClassName() === 'Dropout');
  return resolveConfig({
    depth: layers.filter((l) => l.getClassName() === 'MaxPooling2D').length,
    baseFilters: conv.filters,
    classes: (out.getConfig() as { filters: number }).filters,
    inputChannels: model.inputs[0]!.shape[3]!,
    padding: conv.padding as UNetConfig['padding'],
    batchNorm: layers.some((l) => l.getClassName() === 'BatchNormalization'),
    dropout: dropout ? (dropout.getConfig() as { rate: number }).rate : 0,
  });
}

/** Input tile shape a built model expects, read from its input layer. */
export function modelInputShape(model: tfl.LayersModel): TileShape {
  const shape = model.inputs[0]!.shape;
  return [shape[1]!, shape[2]!];
}
