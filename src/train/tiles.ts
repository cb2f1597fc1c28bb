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
  /**
   * The true instance ids (H x W, 0 = background) as the label file gives them, for instance
   * labels: the truth of the validation metric (src/train/validation-metric.ts).
   */
  readonly instances?: Int32Array;
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
 * outLeft), drawing from `rng` (src/augment/augment.ts makeAugmenter). With `zeroOutside`, the
 * pixels whose (deformed) source position lies outside the image get weight 0, as in
 * {@link cutTile}.
 */
export type TileAugmenter = (sample: TrainingSample, geometry: TileGeometry, outTop: number, outLeft: number, channels: number, rng: Rng, zeroOutside?: boolean) => Tile;

/**
 * Cuts the input window whose centre output window starts at (outTop, outLeft).
 * The input window starts margin pixels earlier on each axis, margin = (in - out) / 2.
 * With `zeroOutside`, pixels of the window outside the image keep their mirrored image context
 * but get weight 0 (see {@link zeroWeightsOutside}; the 'uniform' placement needs it).
 */
export function cutTile(sample: TrainingSample, geo: TileGeometry, outTop: number, outLeft: number, zeroOutside = false): Tile {
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
  if (zeroOutside) zeroWeightsOutside(w, inH, inW, top, left, image.height, image.width);
  return { image: img, labels: lab, weights: w };
}

/**
 * Sets to 0 the weights of the pixels of an inH x inW window at (top, left) that lie outside an
 * imageH x imageW image: they are mirror copies of pixels inside, and training on them would
 * count those pixels twice. Returns `weights` (changed in place).
 *
 * @example zeroWeightsOutside(Float32Array.of(1, 1, 1), 1, 3, 0, -1, 1, 5) // [0, 1, 1]
 */
export function zeroWeightsOutside(weights: Float32Array, inH: number, inW: number, top: number, left: number, imageH: number, imageW: number): Float32Array {
  if (weights.length !== inH * inW) throw new Error(`zeroWeightsOutside: ${weights.length} weights for a ${inH}x${inW} window`);
  for (let y = 0; y < inH; y++) {
    const iy = top + y;
    const rowOutside = iy < 0 || iy >= imageH;
    for (let x = 0; x < inW; x++) {
      const ix = left + x;
      if (rowOutside || ix < 0 || ix >= imageW) weights[y * inW + x] = 0;
    }
  }
  return weights;
}

/**
 * Where training tiles go in an image (Sec. 3 trains on random tiles; the paper does not say how
 * they are placed):
 * - 'uniform' (default): every pixel of the image lies in the output window equally often
 *   ({@link uniformCoverageOrigin}); output pixels outside the image get weight 0.
 * - 'clamped': the 'uniform' window moved the least distance that puts it inside the image, on
 *   each axis where the image is at least as long as the output ({@link clampedCoverageOrigin}).
 *   Nothing is wasted there, and every pixel is covered at least as often as under 'uniform'
 *   (a moved window still holds the image pixels it held) and at most twice as often.
 * - 'inside': the output window uniformly over the placements inside the image (unet-ts before
 *   issue 14). A pixel at the border lies in 1 of the size - out + 1 windows of its axis, a central
 *   one in up to all of them: for a 512 px axis and a 388 px output 1 vs 125.
 *
 * Worked example, a 512 px axis and the 228 px output of a 412 tile: 'uniform' covers every
 * pixel 1/3 of the time with 75 % of the window in the image (56 % of a 2-D window); 'clamped'
 * covers every pixel between 1/3 and 2/3 of the time with all of the window in the image;
 * 'inside' covers the edge pixel 1/285 of the time and the centre 0.8.
 */
export type TileSampling = 'uniform' | 'clamped' | 'inside';
export const TILE_SAMPLINGS: readonly TileSampling[] = ['uniform', 'clamped', 'inside'];

/**
 * Whether output pixels that read outside the image (mirror copies of pixels inside) get weight 0
 * ({@link zeroWeightsOutside}, augmentWindow's zeroOutside): under 'uniform' and 'clamped', whose
 * windows reach past an axis shorter than the output (and, once rotated or deformed, past any
 * border); not under 'inside', which keeps the mirrored weights as before issue 14.
 */
export function placementZeroesOutside(placement: TileSampling): boolean {
  return placement !== 'inside';
}

/**
 * A random output window origin on one axis of `size` pixels such that every pixel is covered with
 * the same probability 1/n, n = ceil(size / out): a grid of n abutting windows that covers the axis
 * is shifted by a uniform s in [size - n * out, 0], and one of its n windows is taken uniformly.
 * Each pixel lies in exactly one window of every shifted grid, hence the 1/n. No exactly uniform
 * placement wastes less: pixels 0, out, 2 out, ... are n pixels no window holds two of, so their
 * coverages add up to at most 1; the fraction of the window inside the image, size / (n out), is
 * the largest possible (e.g. 512 / 776 = 0.66 for a 512 px axis and a 388 px output; 1 when size
 * is a multiple of out, where the grid cannot shift).
 *
 * @example uniformCoverageOrigin(rng, 512, 388) // in [-264, 388]: s in [-264, 0], plus 0 or 388
 * @example uniformCoverageOrigin(rng, 100, 388) // in [-288, 0]: the window holds the whole axis
 */
export function uniformCoverageOrigin(rng: Rng, size: number, out: number): number {
  if (!(Number.isInteger(size) && size >= 1 && Number.isInteger(out) && out >= 1)) throw new Error(`uniformCoverageOrigin: size and out must be positive integers, got ${size} and ${out}`);
  const n = Math.ceil(size / out);
  const shift = rng.int(size - n * out, 0);
  return shift + rng.int(0, n - 1) * out;
}

/**
 * {@link uniformCoverageOrigin} moved into [0, size - out] when size >= out (the 'clamped'
 * placement); on a shorter axis the uniform origin stands, as no window fits inside there.
 *
 * @example clampedCoverageOrigin(rng, 512, 228) // in [0, 284]: uniform's [-172, 456], clamped
 * @example clampedCoverageOrigin(rng, 100, 388) // in [-288, 0], as uniformCoverageOrigin
 */
export function clampedCoverageOrigin(rng: Rng, size: number, out: number): number {
  const origin = uniformCoverageOrigin(rng, size, out);
  return size >= out ? Math.min(Math.max(origin, 0), size - out) : origin;
}

/**
 * A random output window origin [top, left] for `placement` (see {@link TileSampling}); the axes
 * are drawn independently, so the 'uniform' coverage of a pixel is the product of its axes' 1/n.
 */
export function placeOutputWindow(rng: Rng, imageHW: readonly [number, number], outputHW: readonly [number, number], placement: TileSampling): [number, number] {
  if (placement === 'inside') return randomOutputOrigin(rng, imageHW, outputHW);
  if (placement === 'uniform') return [uniformCoverageOrigin(rng, imageHW[0], outputHW[0]), uniformCoverageOrigin(rng, imageHW[1], outputHW[1])];
  if (placement === 'clamped') return [clampedCoverageOrigin(rng, imageHW[0], outputHW[0]), clampedCoverageOrigin(rng, imageHW[1], outputHW[1])];
  throw new Error(`placeOutputWindow: placement must be one of ${TILE_SAMPLINGS.join(', ')}, got ${String(placement)}`);
}

/**
 * A random output window position (the 'inside' placement): uniform over all placements inside the image,
 * or 0 on an axis where the image is smaller than the output (mirroring fills the rest).
 *
 * @example randomOutputOrigin(rng, [512, 512], [388, 388]) // top, left each in [0, 124]
 */
export function randomOutputOrigin(rng: Rng, imageHW: readonly [number, number], outputHW: readonly [number, number]): [number, number] {
  return [rng.int(0, Math.max(0, imageHW[0] - outputHW[0])), rng.int(0, Math.max(0, imageHW[1] - outputHW[1]))];
}
