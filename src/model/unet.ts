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

type Sym = tfl.SymbolicTensor;

/** Height and width of a tile, in pixels. */
export type TileShape = readonly [height: number, width: number];

export function toTileShape(size: number | TileShape): TileShape {
  return typeof size === 'number' ? [size, size] : size;
}

/**
 * Builds the network for input tiles of `inputSize` (a number for square tiles).
 * Weights are created with zeros; call {@link initializeWeights} (seeded) or load them.
 * TF.js cannot infer crop shapes for unknown spatial sizes, so a model is built for
 * one tile shape; {@link withInputSize} rebuilds it for another with the same weights.
 */
export function buildUNet(config: Partial<UNetConfig> = {}, inputSize: number | TileShape = 572): tfl.LayersModel {
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
  const rebuilt = buildUNet(config, inputSize);
  const weights = model.getWeights();
  rebuilt.setWeights(weights);
  return rebuilt;
}

/** Input tile shape a built model expects, read from its input layer. */
export function modelInputShape(model: tfl.LayersModel): TileShape {
  const shape = model.inputs[0]!.shape;
  return [shape[1]!, shape[2]!];
}
