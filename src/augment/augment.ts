/**
 * Joint data augmentation of one training tile (Sec. 3.1): shift, rotation, flips and
 * elastic deformation are combined into a single sampling map, so image, labels and
 * weights are resampled once and stay aligned; gray-value variations then change the
 * image only. All randomness comes from the Rng passed in. Browser-safe.
 */
import type { Tile, TileAugmenter } from '../train/tiles.js';
import type { Rng } from '../util/rng.js';
import { DEFAULT_ELASTIC, randomElasticField, type ElasticOptions } from './elastic.js';
import { resample, type Interpolation, type SamplingMap } from './resample.js';

export interface AugmentOptions {
  /** Elastic deformation (Sec. 3.1), or false for none. Default { gridSize: 3, std: 10 }. */
  readonly elastic?: ElasticOptions | false;
  /**
   * Largest rotation in degrees, drawn uniformly from [-rotation, rotation] about the tile
   * centre. Default 180: arbitrary angles.
   */
  readonly rotation?: number;
  /**
   * Largest extra shift in pixels per axis, uniform in [-shift, shift]. Default 0 because the
   * training tile's origin is already drawn uniformly over the image (src/train/tiles.ts).
   */
  readonly shift?: number;
  /** Random horizontal and vertical flips, each with probability 1/2. Default true. */
  readonly flips?: boolean;
  /** Image interpolation: 'cubic' (default) or 'linear'. Labels always use nearest neighbour. */
  readonly interpolation?: Exclude<Interpolation, 'nearest'>;
  /** Gray-value offset, uniform in [-brightness, brightness] (normalised units). Default 0.1. */
  readonly brightness?: number;
  /** Contrast factor about the tile mean, uniform in [1 - contrast, 1 + contrast]. Default 0.1. */
  readonly contrast?: number;
  /**
   * Gamma exponent exp(u), u uniform in [-gamma, gamma], applied to the tile rescaled to its own
   * [min, max] and mapped back (so it works for any normalisation). Default 0.2.
   */
  readonly gamma?: number;
  /** Standard deviation of additive Gaussian noise (normalised units). Default 0.01. */
  readonly noise?: number;
}

export const DEFAULT_AUGMENT = {
  elastic: DEFAULT_ELASTIC,
  rotation: 180,
  shift: 0,
  flips: true,
  interpolation: 'cubic',
  brightness: 0.1,
  contrast: 0.1,
  gamma: 0.2,
  noise: 0.01,
} as const;

/** The augmentation parameters drawn for one tile (exposed for tests and previews). */
export interface GeometricDraw {
  readonly angle: number; // radians
  readonly shiftY: number;
  readonly shiftX: number;
  readonly flipY: boolean;
  readonly flipX: boolean;
}

function checkOptions(o: Required<AugmentOptions>): void {
  for (const k of ['rotation', 'shift', 'brightness', 'contrast', 'gamma', 'noise'] as const) {
    if (!(o[k] >= 0) || !Number.isFinite(o[k])) throw new Error(`makeAugmenter: ${k} must be a finite number >= 0, got ${o[k]}`);
  }
  if (o.contrast > 1) throw new Error(`makeAugmenter: contrast must be <= 1 (factor in [1 - contrast, 1 + contrast]), got ${o.contrast}`);
  if (o.interpolation !== 'cubic' && o.interpolation !== 'linear') throw new Error(`makeAugmenter: interpolation must be 'cubic' or 'linear', got ${String(o.interpolation)}`);
}

/**
 * The sampling map of output pixel p: source = R F (p - c) + c + t + D(p), with c the tile
 * centre, F the flips, R the rotation, t the shift and D the elastic displacement field.
 * With angle 0, no shift, no flip and D = 0 it is the identity.
 */
export function geometricMap(
  height: number,
  width: number,
  draw: GeometricDraw,
  field?: { readonly dy: Float32Array; readonly dx: Float32Array },
): SamplingMap {
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  const cos = Math.cos(draw.angle);
  const sin = Math.sin(draw.angle);
  const sy = new Float32Array(height * width);
  const sx = new Float32Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const vy = draw.flipY ? cy - y : y - cy;
      const vx = draw.flipX ? cx - x : x - cx;
      sy[i] = cos * vy + sin * vx + cy + draw.shiftY + (field ? field.dy[i]! : 0);
      sx[i] = -sin * vy + cos * vx + cx + draw.shiftX + (field ? field.dx[i]! : 0);
    }
  }
  return { height, width, sy, sx };
}

/**
 * Gray-value variation of a normalised H x W x C image in place: contrast about the mean,
 * brightness offset, gamma on the [min, max]-rescaled values, additive Gaussian noise.
 */
export function grayValueVariation(image: Float32Array, rng: Rng, o: Pick<AugmentOptions, 'brightness' | 'contrast' | 'gamma' | 'noise'>): Float32Array {
  const brightness = o.brightness ?? DEFAULT_AUGMENT.brightness;
  const contrast = o.contrast ?? DEFAULT_AUGMENT.contrast;
  const gamma = o.gamma ?? DEFAULT_AUGMENT.gamma;
  const noise = o.noise ?? DEFAULT_AUGMENT.noise;
  const c = 1 + (2 * rng.uniform() - 1) * contrast;
  const b = (2 * rng.uniform() - 1) * brightness;
  const g = Math.exp((2 * rng.uniform() - 1) * gamma);
  let mean = 0;
  for (const v of image) mean += v;
  mean /= image.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < image.length; i++) {
    image[i] = (image[i]! - mean) * c + mean + b;
    // The bounds must come from the stored float32 values: a float64 bound can lie just
    // above a rounded value, and a negative base to a fractional power is NaN.
    const v = image[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (g !== 1 && hi > lo) {
    const range = hi - lo;
    for (let i = 0; i < image.length; i++) image[i] = lo + range * Math.max(0, (image[i]! - lo) / range) ** g;
  }
  if (noise > 0) for (let i = 0; i < image.length; i++) image[i]! += rng.normal(0, noise);
  return image;
}

/** Draws the geometric parameters for one tile. */
export function drawGeometry(rng: Rng, o: Pick<AugmentOptions, 'rotation' | 'shift' | 'flips'>): GeometricDraw {
  const rotation = o.rotation ?? DEFAULT_AUGMENT.rotation;
  const shift = o.shift ?? DEFAULT_AUGMENT.shift;
  const flips = o.flips ?? DEFAULT_AUGMENT.flips;
  return {
    angle: ((2 * rng.uniform() - 1) * rotation * Math.PI) / 180,
    shiftY: (2 * rng.uniform() - 1) * shift,
    shiftX: (2 * rng.uniform() - 1) * shift,
    flipY: flips && rng.uniform() < 0.5,
    flipX: flips && rng.uniform() < 0.5,
  };
}

/** Image, labels and (optional) weights of a whole sample, the arrays augmentation reads from. */
export interface AugmentSource {
  readonly image: Float32Array; // H x W x C
  readonly labels: Float32Array | Int32Array | Uint8Array | Uint16Array; // H x W
  readonly weights?: Float32Array; // H x W; all ones when absent
  readonly height: number;
  readonly width: number;
}

/**
 * Augments the `height` x `width` window at (top, left) of `source`: the sampling map of the
 * window (rotation and flips about its centre, shift, elastic field) is taken in the source's
 * coordinates, so a rotated or deformed window reads the real pixels around it; mirroring
 * happens only where the map leaves the source (its true borders, as overlap-tile inference
 * mirrors). Image with cubic (or linear) interpolation, labels with nearest neighbour, weights
 * with linear interpolation, all through the same map; then the gray-value variation. With
 * `zeroOutside`, pixels whose source position (nearest pixel) lies outside the source get weight 0.
 */
export function augmentWindow(source: AugmentSource, top: number, left: number, height: number, width: number, channels: number, rng: Rng, options: AugmentOptions = {}, zeroOutside = false): Tile {
  const o = { ...DEFAULT_AUGMENT, ...options } as Required<AugmentOptions>;
  checkOptions(o);
  const n = source.height * source.width;
  if (source.image.length !== n * channels || source.labels.length !== n || (source.weights && source.weights.length !== n)) {
    throw new Error(`augmentWindow: source arrays (${source.image.length}, ${source.labels.length}, ${source.weights?.length ?? 'no'} values) do not match ${source.height}x${source.width}x${channels}`);
  }
  const draw = drawGeometry(rng, o);
  const field = o.elastic === false ? undefined : randomElasticField(rng, height, width, o.elastic);
  const map = geometricMap(height, width, draw, field);
  for (let i = 0; i < map.sy.length; i++) {
    map.sy[i]! += top;
    map.sx[i]! += left;
  }
  const image = resample(source.image, source.height, source.width, channels, map, o.interpolation);
  const labels = Int32Array.from(resample(source.labels, source.height, source.width, 1, map, 'nearest'));
  const weights = source.weights ? resample(source.weights, source.height, source.width, 1, map, 'linear') : new Float32Array(height * width).fill(1);
  if (zeroOutside) {
    for (let i = 0; i < weights.length; i++) {
      const y = Math.round(map.sy[i]!);
      const x = Math.round(map.sx[i]!);
      if (y < 0 || y >= source.height || x < 0 || x >= source.width) weights[i] = 0;
    }
  }
  grayValueVariation(image, rng, o);
  return { image, labels, weights };
}

/**
 * Augments one already cut tile on its own (previews, tests): the window is the whole tile, so
 * what a rotation brings in from outside it is mirrored from the tile. Training uses
 * {@link makeAugmenter}, which reads the real context around the tile instead.
 */
export function augmentTile(tile: Tile, height: number, width: number, channels: number, rng: Rng, options: AugmentOptions = {}): Tile {
  if (tile.image.length !== height * width * channels || tile.labels.length !== height * width || tile.weights.length !== height * width) {
    throw new Error(`augmentTile: tile arrays (${tile.image.length}, ${tile.labels.length}, ${tile.weights.length} values) do not match ${height}x${width}x${channels}`);
  }
  return augmentWindow({ ...tile, height, width }, 0, 0, height, width, channels, rng, options);
}

/**
 * The `augment` hook of TrainOptions (src/train/train.ts) for the given options: it cuts and
 * augments the input window whose output window starts at (outTop, outLeft) of the sample,
 * reading real image context for what rotation and deformation bring into the window.
 */
export function makeAugmenter(options: AugmentOptions = {}): TileAugmenter {
  checkOptions({ ...DEFAULT_AUGMENT, ...options } as Required<AugmentOptions>);
  return (sample, geometry, outTop, outLeft, channels, rng, zeroOutside = false) => {
    const [inH, inW] = geometry.input;
    const top = outTop - (inH - geometry.output[0]) / 2;
    const left = outLeft - (inW - geometry.output[1]) / 2;
    const source = { image: sample.image.data, labels: sample.labels.data, height: sample.image.height, width: sample.image.width, ...(sample.weights ? { weights: sample.weights.data } : {}) };
    return augmentWindow(source, top, left, inH, inW, channels, rng, options, zeroOutside);
  };
}
