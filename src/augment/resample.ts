/**
 * Resampling of images, label maps and weight maps through one sampling map, with
 * mirrored borders (as the overlap-tile strategy of Sec. 2 mirrors missing context).
 * Images use bicubic (Keys, a = -0.5) or bilinear interpolation, label maps nearest
 * neighbour (Sec. 3.1 keeps labels a valid set of classes), weight maps bilinear.
 * Browser-safe.
 */
import { reflectIndex } from '../util/mirror.js';
import { cubicKernel } from './elastic.js';

export type Interpolation = 'cubic' | 'linear' | 'nearest';

/** Source coordinates per output pixel: output (y, x) reads the input at (sy, sx). */
export interface SamplingMap {
  readonly height: number;
  readonly width: number;
  readonly sy: Float32Array;
  readonly sx: Float32Array;
}

/** The identity sampling map of an H x W grid. */
export function identityMap(height: number, width: number): SamplingMap {
  const sy = new Float32Array(height * width);
  const sx = new Float32Array(height * width);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) { sy[y * width + x] = y; sx[y * width + x] = x; }
  return { height, width, sy, sx };
}

/**
 * Resamples an H x W x C array (same H x W as the map) at the map's source positions.
 * Integer source positions reproduce the input exactly under every interpolation.
 *
 * @example resample(Float32Array.of(1, 2, 3), 1, 3, 1, { height: 1, width: 3, sy: Float32Array.of(0, 0, 0), sx: Float32Array.of(0.5, 1, -1) }, 'linear')
 *   // [1.5, 2, 2]   (-1 mirrors to 1)
 */
export function resample<T extends Float32Array | Int32Array | Uint8Array | Uint16Array>(
  data: T,
  height: number,
  width: number,
  channels: number,
  map: SamplingMap,
  interpolation: Interpolation,
): T {
  if (data.length !== height * width * channels) throw new Error(`resample: data has ${data.length} values, expected ${height}x${width}x${channels}`);
  const n = map.height * map.width;
  const Ctor = data.constructor as new (len: number) => T;
  const out = new Ctor(n * channels);
  // Per pixel, the 4 (cubic) or 2 (linear) mirrored rows and columns are looked up once and
  // the weights go into reused arrays: the same reads and the same arithmetic, in the same
  // order, as evaluating each tap on its own, without 16 index reflections and two arrays
  // allocated per pixel (most of a training tile's augmentation time).
  const rows = new Int32Array(4);
  const cols = new Int32Array(4);
  const wy = new Float64Array(4);
  const wx = new Float64Array(4);
  for (let i = 0; i < n; i++) {
    const y = map.sy[i]!;
    const x = map.sx[i]!;
    if (interpolation === 'nearest') {
      const src = (reflectIndex(Math.round(y), height) * width + reflectIndex(Math.round(x), width)) * channels;
      for (let c = 0; c < channels; c++) out[i * channels + c] = data[src + c]!;
      continue;
    }
    const y0 = Math.floor(y);
    const x0 = Math.floor(x);
    const fy = y - y0;
    const fx = x - x0;
    if (interpolation === 'linear') {
      const r0 = reflectIndex(y0, height) * width;
      const r1 = reflectIndex(y0 + 1, height) * width;
      const c0 = reflectIndex(x0, width);
      const c1 = reflectIndex(x0 + 1, width);
      for (let c = 0; c < channels; c++) {
        const top = data[(r0 + c0) * channels + c]! * (1 - fx) + (fx === 0 ? 0 : data[(r0 + c1) * channels + c]! * fx);
        const bottom = fy === 0 ? 0 : data[(r1 + c0) * channels + c]! * (1 - fx) + (fx === 0 ? 0 : data[(r1 + c1) * channels + c]! * fx);
        out[i * channels + c] = top * (1 - fy) + bottom * fy;
      }
      continue;
    }
    for (let k = 0; k < 4; k++) {
      rows[k] = reflectIndex(y0 - 1 + k, height) * width;
      cols[k] = reflectIndex(x0 - 1 + k, width);
    }
    // fy + 1, fy, fy - 1, fy - 2 exactly (fy + 1 - k would round differently).
    wy[0] = cubicKernel(fy + 1);
    wy[1] = cubicKernel(fy);
    wy[2] = cubicKernel(fy - 1);
    wy[3] = cubicKernel(fy - 2);
    wx[0] = cubicKernel(fx + 1);
    wx[1] = cubicKernel(fx);
    wx[2] = cubicKernel(fx - 1);
    wx[3] = cubicKernel(fx - 2);
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let ky = 0; ky < 4; ky++) {
        const wyk = wy[ky]!;
        if (wyk === 0) continue;
        const r = rows[ky]!;
        let row = 0;
        for (let kx = 0; kx < 4; kx++) {
          const wxk = wx[kx]!;
          if (wxk !== 0) row += wxk * data[(r + cols[kx]!) * channels + c]!;
        }
        s += wyk * row;
      }
      out[i * channels + c] = s;
    }
  }
  return out;
}
