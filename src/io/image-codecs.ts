/**
 * Decoding and encoding of raster files from and to bytes, browser-safe (the web app
 * reuses it).
 * - PNG: pngjs behind src/io/png-codec.ts (1/2/4/8/16 bit, palette, interlaced).
 * - JPEG: jpeg-js (pure JS, no native binary); EXIF orientation applied.
 * - TIFF and BigTIFF: src/io/tiff.ts (own reader and writer: stacks of any length).
 * Every decoder refuses pages over a pixel limit (DEFAULT_MAX_PIXELS, `maxPixels`) and data
 * shorter than its header declares, before allocating the image.
 * sharp is avoided: it needs a native binary and does not run in a browser.
 */
import jpeg from 'jpeg-js';
import { applyOrientation, exifOrientation } from './orientation.js';
import { decodePng } from './png.js';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, makeRaster, type Raster } from './raster.js';
import { decodeTiff } from './tiff.js';

export { decodeTiff, encodeTiff } from './tiff.js';

export type ImageFormat = 'png' | 'jpeg' | 'tiff';

export interface DecodeOptions {
  /** Largest width x height of one image or page; default DEFAULT_MAX_PIXELS (2^28). */
  readonly maxPixels?: number;
}

/** The format from the first bytes (magic numbers; TIFF includes BigTIFF), or null. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 4) {
    const le = bytes[0] === 0x49 && bytes[1] === 0x49 && (bytes[2] === 42 || bytes[2] === 43) && bytes[3] === 0;
    const be = bytes[0] === 0x4d && bytes[1] === 0x4d && bytes[2] === 0 && (bytes[3] === 42 || bytes[3] === 43);
    if (le || be) return 'tiff';
  }
  return null;
}

/**
 * Decodes PNG, JPEG or TIFF bytes (format from the magic bytes) into pages; single images
 * give one page. `name` (usually the path) appears in every error message.
 */
export function decodeImage(bytes: Uint8Array, name = 'image', options: DecodeOptions = {}): Raster[] {
  const format = sniffFormat(bytes);
  if (format === 'png') return [decodePng(bytes, name, options)];
  if (format === 'jpeg') return [decodeJpeg(bytes, name, options)];
  if (format === 'tiff') return decodeTiff(bytes, name, options);
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(`${name}: not a PNG, JPEG or TIFF file (first bytes: ${head || 'none, the file is empty'})`);
}

/** Size from the first start-of-frame segment and EXIF orientation (APP1), from the JPEG markers. */
function jpegHeader(bytes: Uint8Array): { width: number; height: number; orientation: number } | null {
  let orientation = 1;
  for (let o = 2; o + 4 <= bytes.length;) {
    if (bytes[o] !== 0xff) return null;
    const marker = bytes[o + 1]!;
    if (marker === 0xff) { o++; continue; }
    const len = (bytes[o + 2]! << 8) | bytes[o + 3]!;
    const body = bytes.subarray(o + 4, o + 2 + len);
    if (marker === 0xe1 && body.length > 6 && String.fromCharCode(...body.subarray(0, 4)) === 'Exif') orientation = exifOrientation(body.subarray(6));
    // SOF0-SOF15 except DHT (c4), JPG (c8) and DAC (cc).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc && body.length >= 5) {
      return { height: (body[1]! << 8) | body[2]!, width: (body[3]! << 8) | body[4]!, orientation };
    }
    if (marker === 0xda) return null;
    o += 2 + len;
  }
  return null;
}

/**
 * JPEG as 8-bit RGB; a JPEG whose three channels are identical everywhere (jpeg-js expands
 * gray JPEGs to RGB) is returned as one channel, losslessly. The EXIF orientation is applied,
 * so the pixels are as every viewer shows them.
 */
export function decodeJpeg(bytes: Uint8Array, name = 'JPEG', options: DecodeOptions = {}): Raster<Uint8Array> {
  const header = jpegHeader(bytes);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (header) checkPixelLimit(name, header.height, header.width, maxPixels);
  let img: { width: number; height: number; data: Uint8Array };
  try {
    // jpeg-js' own guards, set from the pixel limit (its defaults are 100 MP and 512 MB).
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: maxPixels / 1e6, maxMemoryUsageInMB: Math.ceil((maxPixels * 8) / 2 ** 20) + 64 });
  } catch (e) {
    throw new Error(`${name}: not a readable JPEG (${(e as Error).message})`, { cause: e });
  }
  const { width, height, data } = img;
  if (data.length !== width * height * 3) throw new Error(`${name}: JPEG decoded to ${data.length} values, expected ${width}x${height}x3 (truncated file?)`);
  let gray = true;
  for (let i = 0; i < data.length && gray; i += 3) gray = data[i] === data[i + 1] && data[i] === data[i + 2];
  let r: Raster<Uint8Array>;
  if (!gray) r = makeRaster(new Uint8Array(data), height, width, 3, name);
  else {
    const out = new Uint8Array(width * height);
    for (let p = 0; p < out.length; p++) out[p] = data[p * 3]!;
    r = makeRaster(out, height, width, 1, name);
  }
  return applyOrientation(r, header?.orientation ?? 1);
}
