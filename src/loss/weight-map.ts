/**
 * The border weight map of Sec. 3, Eq. (2):
 *
 *   w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))
 *
 * w_c balances class frequencies; d1 and d2 are the distances to the border of the
 * nearest and second-nearest cell. It forces the network to learn the thin separating
 * background between touching cells (Fig. 3c, 3d). Precomputed once per ground truth
 * image (Sec. 3: "We pre-compute the weight map for each ground truth segmentation").
 *
 * Conventions (documented because the paper leaves them open):
 * - Objects ("cells") are the instances of an instance-id map (0 = background). From a
 *   binary mask they are its connected components ({@link instancesFromMask}).
 * - d_k(x) is the exact Euclidean distance between pixel centres from x to the nearest
 *   pixel of object k (so a background pixel next to a cell has d = 1), from the
 *   Felzenszwalb-Huttenlocher EDT in src/util/edt.ts computed per object.
 * - The border term is added on background pixels only: inside a cell d1 = 0 and the term
 *   would only mark cell interiors near other cells, while Fig. 3d shows the weight on the
 *   separating background. Pixels with fewer than two objects in reach get no border term.
 * - Cost: each object's EDT runs only in its bounding box grown by the reach
 *   R = sigma * sqrt(2 ln(w0 / tolerance)); beyond R from an object, d1 + d2 > R and the
 *   term is below `tolerance`, so leaving it out changes w by less than `tolerance`.
 *   Inside the grown box the EDT is exact because the box holds every pixel of the object.
 * Browser-safe.
 */
import type { Raster } from '../io/raster.js';
import { squaredEdtOfSeeds } from '../util/edt.js';
import { labelComponents, type Connectivity } from '../util/components.js';

export interface WeightMapOptions {
  /** Border weight w0. Default 10 (Sec. 3). */
  readonly w0?: number;
  /** Border width sigma in pixels. Default 5 (Sec. 3: "sigma ~ 5 pixels"). */
  readonly sigma?: number;
  /**
   * w_c: 'balanced' gives class c the weight N / (K * N_c) over the K classes present
   * (so the mean of w_c over the image is 1); 'none' gives 1 everywhere; an array gives
   * the weight of each class index explicitly. Default 'balanced'.
   */
  readonly classWeights?: 'balanced' | 'none' | readonly number[];
  /** Largest error allowed by cutting the border term off far from objects. Default 1e-6. */
  readonly tolerance?: number;
}

export const DEFAULT_WEIGHT_MAP = { w0: 10, sigma: 5, classWeights: 'balanced', tolerance: 1e-6 } as const;

function resolve(o: WeightMapOptions): Required<WeightMapOptions> {
  const r = { ...DEFAULT_WEIGHT_MAP, ...o } as Required<WeightMapOptions>;
  if (!(r.w0 >= 0) || !Number.isFinite(r.w0)) throw new Error(`weightMap: w0 must be a finite number >= 0, got ${r.w0}`);
  if (!(r.sigma > 0) || !Number.isFinite(r.sigma)) throw new Error(`weightMap: sigma must be a finite number > 0, got ${r.sigma}`);
  if (!(r.tolerance > 0)) throw new Error(`weightMap: tolerance must be > 0, got ${r.tolerance}`);
  return r;
}

/**
 * Class weights w_c per class index for a class map with `classes` classes.
 *
 * @example classBalanceWeights(Uint8Array.of(0,0,0,1), 2, 'balanced') // [4/6, 4/2] = [0.667, 2]
 */
export function classBalanceWeights(classMap: ArrayLike<number>, classes: number, mode: WeightMapOptions['classWeights'] = 'balanced'): Float64Array {
  const out = new Float64Array(classes);
  if (Array.isArray(mode)) {
    if (mode.length < classes) throw new Error(`classBalanceWeights: ${mode.length} class weights given for ${classes} classes`);
    for (let c = 0; c < classes; c++) out[c] = mode[c]!;
    return out;
  }
  if (mode === 'none') return out.fill(1);
  if (mode !== 'balanced') throw new Error(`classBalanceWeights: classWeights must be 'balanced', 'none' or an array, got ${String(mode)}`);
  const counts = new Float64Array(classes);
  for (let i = 0; i < classMap.length; i++) {
    const c = classMap[i]!;
    if (!(c >= 0 && c < classes)) throw new Error(`classBalanceWeights: class index ${c} at pixel ${i} is outside [0, ${classes - 1}]`);
    counts[c]!++;
  }
  const present = counts.filter((n) => n > 0).length;
  for (let c = 0; c < classes; c++) out[c] = counts[c]! > 0 ? classMap.length / (present * counts[c]!) : 0;
  return out;
}

/**
 * Distances d1 <= d2 from every pixel to the nearest and second-nearest object of an
 * instance map (0 = background), Infinity where fewer objects lie within `reach`
 * (Infinity = no cut-off). Distances are exact EDT values between pixel centres.
 *
 * @example
 *   // 1 0 2 0 0   (one row)
 *   nearestTwoDistances(Int32Array.of(1,0,2,0,0), 1, 5)
 *   // d1 = [0, 1, 0, 1, 2], d2 = [2, 1, 2, 3, 4]
 */
export function nearestTwoDistances(
  instances: ArrayLike<number>,
  height: number,
  width: number,
  reach = Infinity,
): { d1: Float64Array; d2: Float64Array; count: number } {
  if (instances.length !== height * width) throw new Error(`nearestTwoDistances: map has ${instances.length} values, expected ${height}x${width}`);
  // Bounding box of every object id.
  const boxes = new Map<number, [number, number, number, number]>();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const id = instances[y * width + x]!;
      if (id === 0) continue;
      if (!Number.isInteger(id) || id < 0) throw new Error(`nearestTwoDistances: instance ids must be non-negative integers, got ${id} at (${x}, ${y})`);
      const b = boxes.get(id);
      if (b === undefined) boxes.set(id, [y, x, y, x]);
      else {
        if (y < b[0]) b[0] = y;
        if (x < b[1]) b[1] = x;
        if (y > b[2]) b[2] = y;
        if (x > b[3]) b[3] = x;
      }
    }
  }
  const d1 = new Float64Array(height * width).fill(Infinity);
  const d2 = new Float64Array(height * width).fill(Infinity);
  const r = Number.isFinite(reach) ? Math.ceil(reach) : Math.max(height, width);
  const reachSq = reach * reach;
  let scratch = new Float64Array(0);
  for (const [id, [y0, x0, y1, x1]] of boxes) {
    const top = Math.max(0, y0 - r);
    const left = Math.max(0, x0 - r);
    const h = Math.min(height - 1, y1 + r) - top + 1;
    const w = Math.min(width - 1, x1 + r) - left + 1;
    if (scratch.length < h * w) scratch = new Float64Array(h * w);
    const f = scratch.subarray(0, h * w);
    for (let y = 0; y < h; y++) {
      const row = (top + y) * width + left;
      for (let x = 0; x < w; x++) f[y * w + x] = instances[row + x] === id ? 0 : Infinity;
    }
    squaredEdtOfSeeds(f, h, w);
    for (let y = 0; y < h; y++) {
      const row = (top + y) * width + left;
      for (let x = 0; x < w; x++) {
        const sq = f[y * w + x]!;
        if (sq > reachSq) continue;
        const i = row + x;
        const d = Math.sqrt(sq);
        if (d < d1[i]!) {
          d2[i] = d1[i]!;
          d1[i] = d;
        } else if (d < d2[i]!) d2[i] = d;
      }
    }
  }
  return { d1, d2, count: boxes.size };
}

/**
 * The weight map of Eq. (2) for an instance-id map (H x W, 0 = background, 1..N = objects)
 * and the class map used for training (class per pixel, `classes` classes), returned as
 * an H x W float raster.
 *
 * @example two one-pixel objects with a one-pixel gap, w_c = 1 ('none'), w0 = 10, sigma = 5:
 *   instances 1 0 2 -> gap pixel: d1 = d2 = 1, w = 1 + 10 exp(-(1 + 1)^2 / 50) = 1 + 10 exp(-0.08) = 10.231
 */
export function weightMap(
  instances: Raster<Uint8Array | Uint16Array | Int32Array>,
  classMap: Raster<Uint8Array | Uint16Array | Int32Array>,
  classes: number,
  options: WeightMapOptions = {},
): Raster<Float32Array> {
  const o = resolve(options);
  const { height, width } = instances;
  if (instances.channels !== 1 || classMap.channels !== 1) throw new Error('weightMap: instance and class maps must be single-channel');
  if (classMap.height !== height || classMap.width !== width) {
    throw new Error(`weightMap: class map is ${classMap.height}x${classMap.width} but the instance map is ${height}x${width}`);
  }
  const wc = classBalanceWeights(classMap.data, classes, o.classWeights);
  const out = new Float32Array(height * width);
  for (let i = 0; i < out.length; i++) out[i] = wc[classMap.data[i]!]!;
  if (o.w0 === 0) return { data: out, height, width, channels: 1 };
  const reach = o.w0 > o.tolerance ? o.sigma * Math.sqrt(2 * Math.log(o.w0 / o.tolerance)) : 0;
  const { d1, d2 } = nearestTwoDistances(instances.data, height, width, reach);
  const twoSigmaSq = 2 * o.sigma * o.sigma;
  for (let i = 0; i < out.length; i++) {
    if (instances.data[i] !== 0 || d2[i] === Infinity) continue;
    const s = d1[i]! + d2[i]!;
    out[i]! += o.w0 * Math.exp(-(s * s) / twoSigmaSq);
  }
  return { data: out, height, width, channels: 1 };
}

/**
 * Objects of a binary mask as an instance map: connected components of the pixels where
 * `isObject` holds (4- or 8-connected). Touching objects in a binary mask are one component
 * unless the mask already has a background line between them (the ISBI labels draw the
 * membranes), so this cannot split them; use instance labels for touching objects.
 */
export function instancesFromMask(
  mask: ArrayLike<number>,
  height: number,
  width: number,
  connectivity: Connectivity = 4,
  isObject: (v: number) => boolean = (v) => v !== 0,
): Int32Array {
  return labelComponents(mask, height, width, connectivity, isObject).labels;
}

/**
 * Creates the separating background between touching objects of an instance map (the
 * "morphological operations" of Sec. 3 that produce Fig. 3c): a pixel becomes background
 * when one of its neighbours (4- or 8-connected) belongs to a different object with a
 * smaller id. Only one side of each shared border is removed, so the gap is one pixel
 * wide, and afterwards no two different objects are neighbours under `connectivity`.
 * Decisions use the input map only, so the result does not depend on scan order.
 *
 * @example
 *   // 1 1 2 2  ->  1 1 0 2   (the 2 next to a 1 becomes background)
 *   separateTouching(Int32Array.of(1,1,2,2), 1, 4) // [1, 1, 0, 2]
 */
export function separateTouching(instances: ArrayLike<number>, height: number, width: number, connectivity: Connectivity = 8): Int32Array {
  if (instances.length !== height * width) throw new Error(`separateTouching: map has ${instances.length} values, expected ${height}x${width}`);
  if (connectivity !== 4 && connectivity !== 8) throw new Error(`separateTouching: connectivity must be 4 or 8, got ${String(connectivity)}`);
  const out = Int32Array.from(instances);
  const offsets = connectivity === 4 ? [[-1, 0], [1, 0], [0, -1], [0, 1]] : [[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1]];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const id = instances[y * width + x]!;
      if (id === 0) continue;
      for (const [dy, dx] of offsets) {
        const yy = y + dy!;
        const xx = x + dx!;
        if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
        const other = instances[yy * width + xx]!;
        if (other !== 0 && other < id) {
          out[y * width + x] = 0;
          break;
        }
      }
    }
  }
  return out;
}
