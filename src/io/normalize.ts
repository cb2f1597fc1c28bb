/**
 * Intensity normalisation: always explicit, stored in the model metadata so that
 * prediction applies exactly what training applied. Nothing here guesses a range
 * from the data unless the chosen kind says so ('minmax', 'percentile', 'meanstd').
 */
import type { PixelArray, Raster } from './raster.js';

export type Normalization =
  /** Maps [0, 2^bits - 1] of the stored integer type to [0, 1]: 0..255 for 8-bit, 0..65535 for 16-bit. Floats are rejected. */
  | { readonly kind: 'dtype' }
  /** Maps the fixed range [min, max] to [0, 1] (values outside are not clipped). */
  | { readonly kind: 'range'; readonly min: number; readonly max: number }
  /** Per image: its own min and max map to 0 and 1. */
  | { readonly kind: 'minmax' }
  /** Per image: percentiles `low` and `high` (0-100) map to 0 and 1, values outside are clipped. */
  | { readonly kind: 'percentile'; readonly low: number; readonly high: number }
  /** Per image zero mean, unit variance, or fixed statistics when given. */
  | { readonly kind: 'meanstd'; readonly mean?: number; readonly std?: number };

/** The forms parseNormalization reads, for messages and help. */
export const NORMALIZATION_SPECS = 'dtype | range:MIN,MAX | minmax | percentile:LOW,HIGH | meanstd[:MEAN,STD]';

/**
 * The normalisation unless one is chosen: 'dtype' is fixed (the same map for every image, so
 * an exported graph can embed it) and keeps the stored 8- and 16-bit range, mapped to [0, 1].
 */
export const DEFAULT_NORMALIZATION: Normalization = Object.freeze({ kind: 'dtype' });

/**
 * Parses the CLI form.
 * @example parseNormalization('range:0,4095') // { kind: 'range', min: 0, max: 4095 }
 * @example parseNormalization('percentile:1,99.8') // { kind: 'percentile', low: 1, high: 99.8 }
 */
export function parseNormalization(text: string): Normalization {
  const [kind, args = ''] = text.split(':', 2) as [string, string?];
  const nums = args === '' ? [] : args.split(',').map(Number);
  const bad = (why: string): never => {
    throw new Error(`parseNormalization: "${text}" ${why}; expected ${NORMALIZATION_SPECS}`);
  };
  if (nums.some((n) => !Number.isFinite(n))) bad('has a non-numeric argument');
  switch (kind) {
    case 'dtype':
    case 'minmax':
      if (nums.length) bad('takes no arguments');
      return { kind };
    case 'range':
      if (nums.length !== 2 || !(nums[1]! > nums[0]!)) bad('needs MIN,MAX with MAX > MIN');
      return { kind, min: nums[0]!, max: nums[1]! };
    case 'percentile':
      if (nums.length !== 2 || !(nums[0]! >= 0 && nums[1]! <= 100 && nums[1]! > nums[0]!)) bad('needs LOW,HIGH with 0 <= LOW < HIGH <= 100');
      return { kind, low: nums[0]!, high: nums[1]! };
    case 'meanstd':
      if (nums.length === 0) return { kind };
      if (nums.length !== 2 || !(nums[1]! > 0)) bad('needs MEAN,STD with STD > 0');
      return { kind, mean: nums[0]!, std: nums[1]! };
    default:
      return bad('has an unknown kind');
  }
}

/** Applies `n` to every channel of `r` together, returning float32 values. */
export function normalize(r: Raster<PixelArray>, n: Normalization, name = 'image'): Raster<Float32Array> {
  const src = r.data;
  let scale: number;
  let offset: number;
  let clip: [number, number] | null = null;
  switch (n.kind) {
    case 'dtype': {
      const max = src instanceof Uint8Array ? 255 : src instanceof Uint16Array ? 65535 : null;
      if (max === null) throw new Error(`normalize: ${name} holds ${src.constructor.name} values; 'dtype' normalisation needs 8- or 16-bit integers, choose range:MIN,MAX, minmax, percentile or meanstd`);
      scale = 1 / max;
      offset = 0;
      break;
    }
    case 'range':
      scale = 1 / (n.max - n.min);
      offset = -n.min * scale;
      break;
    case 'minmax': {
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of src) { if (v < lo) lo = v; if (v > hi) hi = v; }
      scale = hi > lo ? 1 / (hi - lo) : 0;
      offset = -lo * scale;
      break;
    }
    case 'percentile': {
      const sorted = Float64Array.from(src).sort();
      const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))))]!;
      const lo = at(n.low);
      const hi = at(n.high);
      scale = hi > lo ? 1 / (hi - lo) : 0;
      offset = -lo * scale;
      clip = [0, 1];
      break;
    }
    case 'meanstd': {
      let mean = n.mean;
      let std = n.std;
      if (mean === undefined || std === undefined) {
        let s = 0;
        for (const v of src) s += v;
        mean = s / src.length;
        let q = 0;
        for (const v of src) q += (v - mean) ** 2;
        std = Math.sqrt(q / src.length);
      }
      scale = std > 0 ? 1 / std : 0;
      offset = -mean * scale;
      break;
    }
  }
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]! * scale + offset;
    if (!Number.isFinite(v)) throw new Error(`normalize: ${name} has a non-finite value at index ${i}`);
    out[i] = clip ? Math.min(clip[1], Math.max(clip[0], v)) : v;
  }
  return { data: out, height: r.height, width: r.width, channels: r.channels };
}

export function describeNormalization(n: Normalization): string {
  switch (n.kind) {
    case 'range': return `range:${n.min},${n.max}`;
    case 'percentile': return `percentile:${n.low},${n.high}`;
    case 'meanstd': return n.mean === undefined ? 'meanstd' : `meanstd:${n.mean},${n.std}`;
    default: return n.kind;
  }
}
