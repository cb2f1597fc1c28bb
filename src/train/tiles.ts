/**
 * Training tiles (Sec. 3: "we favor large input tiles over a large batch size").
 * A tile is an input window of the model's input size around an output window; the
 * context outside the image is mirrored, as in overlap-tile inference.
 */
import { extractWindow } from '../util/mirror.js';
import type { LabelMap, Raster } from '../io/raster.js';
import type { Rng } from '../util/rng.js';

export interface TrainingSample {
  readonly name: string;
  /** Normalised image, H x W x C. */
  readonly image: Raster<Float32Array>;
  /** Class index per pixel, H x W. */
  readonly labels: LabelMap;
  /** Per-pixel loss weights w(x), H x W; all ones when absent. */
  readonly weights?: Raster<Float32Array>;
}

/** Image, labels and weights of one input window, all at input resolution. */
export interface Tile {
  readonly image: Float32Array; // inH * inW * C
  readonly labels: Int32Array; // inH * inW
  readonly weights: Float32Array; // inH * inW
}

export interface TileGeometry {
  readonly input: readonly [height: number, width: number];
  readonly output: readonly [height: number, width: number];
}

/**
 * Cuts and augments the input window of `sample` whose output window starts at (outTop,
 * outLeft), drawing from `rng` (src/augment/augment.ts makeAugmenter).
 */
export type TileAugmenter = (sample: TrainingSample, geometry: TileGeometry, outTop: number, outLeft: number, channels: number, rng: Rng) => Tile;

/**
 * Cuts the input window whose centre output window starts at (outTop, outLeft).
 * The input window starts margin pixels earlier on each axis, margin = (in - out) / 2.
 */
export function cutTile(sample: TrainingSample, geo: TileGeometry, outTop: number, outLeft: number): Tile {
  const { image, labels, weights } = sample;
  const [inH, inW] = geo.input;
  const mTop = (geo.input[0] - geo.output[0]) / 2;
  const mLeft = (geo.input[1] - geo.output[1]) / 2;
  const top = outTop - mTop;
  const left = outLeft - mLeft;
  const img = extractWindow(image.data, image.height, image.width, image.channels, top, left, inH, inW);
  // Straight into an Int32 tile: converting the whole label map here cost O(H x W) per tile.
  const lab = extractWindow(labels.data, labels.height, labels.width, 1, top, left, inH, inW, new Int32Array(inH * inW));
  const w = weights
    ? extractWindow(weights.data, weights.height, weights.width, 1, top, left, inH, inW)
    : new Float32Array(inH * inW).fill(1);
  return { image: img, labels: lab, weights: w };
}

/**
 * A random output window position: uniform over all placements inside the image,
 * or 0 on an axis where the image is smaller than the output (mirroring fills the rest).
 *
 * @example randomOutputOrigin(rng, [512, 512], [388, 388]) // top, left each in [0, 124]
 */
export function randomOutputOrigin(rng: Rng, imageHW: readonly [number, number], outputHW: readonly [number, number]): [number, number] {
  return [rng.int(0, Math.max(0, imageHW[0] - outputHW[0])), rng.int(0, Math.max(0, imageHW[1] - outputHW[1]))];
}

/**
 * Output window origins along one axis that cover [0, size) with windows of length `out`,
 * the last one flush with the end.
 *
 * @example coveringOrigins(512, 388) // [0, 124]
 * @example coveringOrigins(100, 388) // [0]
 * @example coveringOrigins(800, 388) // [0, 388, 412]
 */
export function coveringOrigins(size: number, out: number): number[] {
  if (size <= out) return [0];
  const origins: number[] = [];
  for (let o = 0; o + out < size; o += out) origins.push(o);
  origins.push(size - out);
  return origins;
}
