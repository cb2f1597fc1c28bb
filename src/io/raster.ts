/**
 * In-memory images: row-major, channels last (H x W x C), as typed arrays.
 * Browser-safe: no Node imports here.
 */
export type PixelArray = Uint8Array | Uint16Array | Int32Array | Float32Array;

export interface Raster<T extends PixelArray = PixelArray> {
  readonly data: T;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/**
 * Default largest image (one page) the decoders accept: 2^28 = 268,435,456 pixels, e.g.
 * 16384 x 16384. A guard against decompression bombs (a 138-byte PNG can declare 30000 x
 * 30000), as Pillow's MAX_IMAGE_PIXELS: such a page already takes 1 GiB per channel as
 * float32 once normalised, and prediction keeps per-class probabilities of the same size
 * besides. Raise it with `--max-pixels N` on the CLI or `maxPixels` in the library.
 */
export const DEFAULT_MAX_PIXELS = 2 ** 28;

/**
 * Refuses a declared size over the pixel limit before anything is allocated.
 * @throws "big.png: 30000x30000 = 900000000 pixels exceeds the limit of 268435456 (--max-pixels); ..."
 */
export function checkPixelLimit(name: string, height: number, width: number, maxPixels = DEFAULT_MAX_PIXELS): void {
  if (!(maxPixels > 0)) throw new Error(`checkPixelLimit: maxPixels must be positive, got ${maxPixels}`);
  if (height * width > maxPixels) {
    throw new Error(`${name}: ${width}x${height} = ${width * height} pixels exceeds the limit of ${maxPixels} (a guard against decompression bombs); raise it with --max-pixels N (library: maxPixels) if the image is genuine`);
  }
}

/** Label map: one class index (or instance id) per pixel, H x W. */
export type LabelMap = Raster<Uint8Array | Uint16Array | Int32Array>;

export function makeRaster<T extends PixelArray>(data: T, height: number, width: number, channels: number, caller = 'makeRaster'): Raster<T> {
  if (!Number.isInteger(height) || !Number.isInteger(width) || !Number.isInteger(channels) || height < 1 || width < 1 || channels < 1) {
    throw new Error(`${caller}: height, width and channels must be positive integers, got ${height}x${width}x${channels}`);
  }
  if (data.length !== height * width * channels) {
    throw new Error(`${caller}: data has ${data.length} values, expected ${height}*${width}*${channels} = ${height * width * channels}`);
  }
  return { data, height, width, channels };
}

/** Channel `c` of `r` as an H x W raster. */
export function channel<T extends PixelArray>(r: Raster<T>, c: number): Raster<T> {
  if (c < 0 || c >= r.channels) throw new Error(`channel: index ${c} out of range for ${r.channels} channels`);
  if (r.channels === 1) return r;
  const Ctor = r.data.constructor as new (n: number) => T;
  const out = new Ctor(r.height * r.width);
  for (let i = 0; i < out.length; i++) out[i] = r.data[i * r.channels + c]!;
  return { data: out, height: r.height, width: r.width, channels: 1 };
}

/**
 * Brings an image to a model's channel count: gray+alpha -> gray and RGBA -> RGB drop the
 * alpha; any other mismatch is an error naming the caller, the source and both counts.
 *
 * @example toModelChannels(rgba, 3, 'a.png') // RGB raster
 * @throws "predict: a.png has 3 channel(s), the model takes 1; colour images need a model trained with --channels 3"
 */
export function toModelChannels(img: Raster<PixelArray>, channels: number, source: string, caller = 'predict'): Raster<PixelArray> {
  if (img.channels === channels) return img;
  if (channels === 1 && img.channels === 2) return channel(img, 0);
  if (channels === 3 && img.channels === 4) {
    const n = img.height * img.width;
    const Ctor = img.data.constructor as new (n: number) => PixelArray;
    const out = new Ctor(n * 3);
    for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) out[i * 3 + k] = img.data[i * 4 + k]!;
    return { data: out, height: img.height, width: img.width, channels: 3 };
  }
  const hint = channels === 1 && img.channels >= 3 ? '; colour images need a model trained with --channels 3' : '';
  throw new Error(`${caller}: ${source} has ${img.channels} channel(s), the model takes ${channels}${hint}`);
}
