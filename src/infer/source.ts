/**
 * Images read by region: prediction asks a source for the input window each band of
 * tiles needs, so an image bigger than memory (an OME-Zarr plane, a tiled TIFF) is never
 * loaded whole. Browser-safe: no Node imports here.
 */
import { normalize, type Normalization } from '../io/normalize.js';
import type { PixelArray, Raster } from '../io/raster.js';

export interface RegionSource<T extends PixelArray = PixelArray> {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** For messages: the file or store and the selection. */
  readonly name: string;
  /** Rows [top, top + height) x columns [left, left + width), inside the image, H x W x C. */
  readRegion(top: number, left: number, height: number, width: number): Promise<Raster<T>>;
}

export function isRegionSource(x: Raster | RegionSource): x is RegionSource {
  return typeof (x as RegionSource).readRegion === 'function';
}

/** Checks a requested region against the image (the boundary of every source). */
export function checkRegion(source: { height: number; width: number; name: string }, top: number, left: number, height: number, width: number, caller: string): void {
  const ok = [top, left, height, width].every(Number.isInteger) && top >= 0 && left >= 0 && height >= 1 && width >= 1 && top + height <= source.height && left + width <= source.width;
  if (!ok) throw new Error(`${caller}: region rows ${top}+${height}, columns ${left}+${width} is not inside ${source.name} (${source.height} x ${source.width})`);
}

/** An in-memory raster as a source (tests, and small images behind the same interface). */
export function rasterSource<T extends PixelArray>(r: Raster<T>, name = 'image'): RegionSource<T> {
  return {
    height: r.height,
    width: r.width,
    channels: r.channels,
    name,
    readRegion(top, left, height, width) {
      checkRegion(this, top, left, height, width, 'rasterSource');
      const C = r.channels;
      const Ctor = r.data.constructor as new (n: number) => T;
      const out = new Ctor(height * width * C);
      for (let y = 0; y < height; y++) out.set(r.data.subarray(((top + y) * r.width + left) * C, ((top + y) * r.width + left + width) * C), y * width * C);
      return Promise.resolve({ data: out, height, width, channels: C });
    },
  };
}

/**
 * Rows per pass when a per-image statistic is gathered: bounded memory whatever the image.
 * Statistics are visited in this fixed band order, so every process gets the same numbers.
 */
const STAT_ROWS = 256;

/**
 * The normalisation `n` as a fixed one for this whole image: 'minmax' and 'meanstd'
 * without statistics become 'range' / 'meanstd' with the image's own values, gathered
 * in one (two, for meanstd) streaming pass over bands of rows. Applying the result to any
 * region gives the values {@link normalize} gives that region of the whole image.
 * 'percentile' needs a sort of the whole image and is refused here.
 */
export async function resolveNormalization(source: RegionSource, n: Normalization): Promise<Normalization> {
  if (n.kind === 'dtype' || n.kind === 'range' || (n.kind === 'meanstd' && n.mean !== undefined && n.std !== undefined)) return n;
  if (n.kind === 'percentile') {
    throw new Error(`resolveNormalization: ${source.name}: 'percentile' normalisation needs the whole image sorted and is not available for images read by region; use range:MIN,MAX with fixed values`);
  }
  const bands = async (visit: (data: PixelArray) => void): Promise<void> => {
    for (let top = 0; top < source.height; top += STAT_ROWS) {
      const r = await source.readRegion(top, 0, Math.min(STAT_ROWS, source.height - top), source.width);
      visit(r.data);
    }
  };
  if (n.kind === 'minmax') {
    let lo = Infinity;
    let hi = -Infinity;
    await bands((d) => {
      for (const v of d) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    });
    // 'range' with min = max would divide by zero; normalize's minmax maps a flat image to 0.
    return hi > lo ? { kind: 'range', min: lo, max: hi } : { kind: 'meanstd', mean: lo, std: Infinity };
  }
  const count = source.height * source.width * source.channels;
  let s = 0;
  await bands((d) => {
    for (const v of d) s += v;
  });
  const mean = s / count;
  let q = 0;
  await bands((d) => {
    for (const v of d) q += (v - mean) ** 2;
  });
  const std = Math.sqrt(q / count);
  return { kind: 'meanstd', mean, std: std > 0 ? std : Infinity };
}

/** `source` with a fixed normalisation (see {@link resolveNormalization}) applied to every region it reads. */
export function normalizedSource(source: RegionSource, n: Normalization): RegionSource<Float32Array> {
  if (n.kind === 'minmax' || n.kind === 'percentile' || (n.kind === 'meanstd' && (n.mean === undefined || n.std === undefined))) {
    throw new Error(`normalizedSource: ${source.name}: normalisation '${n.kind}' depends on the whole image; resolve it first with resolveNormalization`);
  }
  return {
    height: source.height,
    width: source.width,
    channels: source.channels,
    name: source.name,
    async readRegion(top, left, height, width) {
      return normalize(await source.readRegion(top, left, height, width), n, source.name);
    },
  };
}
