/**
 * Decoding and encoding of raster files from and to bytes, browser-safe (the web app
 * reuses it). Libraries, not hand-written codecs:
 * - PNG: pngjs (src/io/png.ts), 8 and 16 bit.
 * - JPEG: jpeg-js (pure JS, no native binary).
 * - TIFF reading: `tiff` (image-js): typed arrays in the file's own sample type (8/16-bit
 *   integers, 32/64-bit floats), every page of a multi-page stack (ImageJ / ISBI
 *   train-volume.tif), strips or tiles, LZW / Deflate / PackBits, horizontal predictor.
 *   It cannot write.
 * - TIFF writing: utif2 (UTIF.js) `encode` serialises the image file directories; the
 *   uncompressed strips are appended after them. `tiff` cannot write, geotiff writes one
 *   page only and utif2's decoder returns raw bytes without sample types, hence the pair.
 * sharp is avoided: it needs a native binary and does not run in a browser.
 */
import { decode as decodeTiffPages } from 'tiff';
import UTIF, { type IFD } from 'utif2';
import jpeg from 'jpeg-js';
import { decodePng } from './png.js';
import { makeRaster, type PixelArray, type Raster } from './raster.js';

export type ImageFormat = 'png' | 'jpeg' | 'tiff';

/** The format from the first bytes (magic numbers), or null. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 4 && ((bytes[0] === 0x49 && bytes[1] === 0x49 && bytes[2] === 42 && bytes[3] === 0) || (bytes[0] === 0x4d && bytes[1] === 0x4d && bytes[2] === 0 && bytes[3] === 42))) return 'tiff';
  return null;
}

/**
 * Decodes PNG, JPEG or TIFF bytes (format from the magic bytes) into pages; single images
 * give one page. `name` (usually the path) appears in every error message.
 */
export function decodeImage(bytes: Uint8Array, name = 'image'): Raster[] {
  const format = sniffFormat(bytes);
  if (format === 'png') return [decodePng(bytes, name)];
  if (format === 'jpeg') return [decodeJpeg(bytes, name)];
  if (format === 'tiff') return decodeTiff(bytes, name);
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(`${name}: not a PNG, JPEG or TIFF file (first bytes: ${head || 'none, the file is empty'})`);
}

/**
 * JPEG as 8-bit RGB; a JPEG whose three channels are identical everywhere (jpeg-js expands
 * gray JPEGs to RGB) is returned as one channel, losslessly.
 */
export function decodeJpeg(bytes: Uint8Array, name = 'JPEG'): Raster<Uint8Array> {
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
  } catch (e) {
    throw new Error(`${name}: not a readable JPEG (${(e as Error).message})`, { cause: e });
  }
  const { width, height, data } = img;
  if (data.length !== width * height * 3) throw new Error(`${name}: JPEG decoded to ${data.length} values, expected ${width}x${height}x3 (truncated file?)`);
  let gray = true;
  for (let i = 0; i < data.length && gray; i += 3) gray = data[i] === data[i + 1] && data[i] === data[i + 2];
  if (!gray) return makeRaster(new Uint8Array(data), height, width, 3, name);
  const out = new Uint8Array(width * height);
  for (let p = 0; p < out.length; p++) out[p] = data[p * 3]!;
  return makeRaster(out, height, width, 1, name);
}

/** Every page of a TIFF; float64 samples become float32, palette images are refused. */
export function decodeTiff(bytes: Uint8Array, name = 'TIFF'): Raster[] {
  let ifds: ReturnType<typeof decodeTiffPages>;
  try {
    ifds = decodeTiffPages(bytes);
  } catch (e) {
    throw new Error(`${name}: not a readable TIFF (${(e as Error).message})`, { cause: e });
  }
  if (ifds.length === 0) throw new Error(`${name}: the TIFF holds no image`);
  return ifds.map((ifd, page) => {
    const where = ifds.length > 1 ? `${name} page ${page + 1}` : name;
    if (ifd.type === 3) throw new Error(`${where}: palette (indexed-colour) TIFFs are not supported; save as gray or RGB`);
    const channels = ifd.samplesPerPixel;
    const src = ifd.data as PixelArray | Float64Array;
    const data: PixelArray = src instanceof Float64Array ? Float32Array.from(src) : src;
    if (data.length !== ifd.width * ifd.height * channels) {
      throw new Error(`${where}: decoded ${data.length} samples, expected ${ifd.width}x${ifd.height}x${channels} (truncated or planar file?)`);
    }
    let pixels = data;
    // WhiteIsZero (photometric 0): flip so that larger values are brighter, as everywhere else.
    if (ifd.type === 0 && !(data instanceof Float32Array)) {
      const max = data instanceof Uint8Array ? 255 : 65535;
      pixels = data.map((v) => max - v) as PixelArray;
    }
    return makeRaster(pixels, ifd.height, ifd.width, channels, where);
  });
}

/** Sample layout of a raster's typed array in TIFF terms. */
function tiffSampleType(data: PixelArray, name: string): { bits: number; format: number } {
  if (data instanceof Uint8Array) return { bits: 8, format: 1 };
  if (data instanceof Uint16Array) return { bits: 16, format: 1 };
  if (data instanceof Float32Array) return { bits: 32, format: 3 };
  // Int32 is refused because the reader (`tiff`) cannot read 32-bit integer samples back.
  throw new Error(`${name}: cannot write ${(data as object).constructor.name} samples to TIFF; use Uint8Array, Uint16Array or Float32Array`);
}

/**
 * Encodes pages (1 = gray, 3 = RGB, 4 = RGBA channels; uint8, uint16 or float32) as
 * an uncompressed multi-page TIFF, big-endian (UTIF.encode writes "MM" headers). All pages
 * must share one sample type and channel count; sizes may differ.
 */
export function encodeTiff(pages: readonly Raster[], name = 'encodeTiff'): Uint8Array {
  if (pages.length === 0) throw new Error(`${name}: no pages to write`);
  const first = pages[0]!;
  const type = tiffSampleType(first.data, name);
  for (const [i, p] of pages.entries()) {
    if (![1, 3, 4].includes(p.channels)) throw new Error(`${name}: page ${i + 1} has ${p.channels} channels; TIFF pages must have 1, 3 or 4`);
    if (p.channels !== first.channels || p.data.constructor !== first.data.constructor) {
      throw new Error(`${name}: page ${i + 1} is ${p.data.constructor.name} x ${p.channels} but page 1 is ${first.data.constructor.name} x ${first.channels}; all pages must match`);
    }
    if (p.data.length !== p.height * p.width * p.channels) throw new Error(`${name}: page ${i + 1} has ${p.data.length} values for ${p.height}x${p.width}x${p.channels}`);
  }
  const bytesPer = type.bits / 8;
  const ifd = (p: Raster, offset: number): IFD => {
    const c = p.channels;
    const tags: Record<string, number[]> = {
      t256: [p.width],
      t257: [p.height],
      t258: new Array<number>(c).fill(type.bits),
      t259: [1], // no compression
      t262: [c === 1 ? 1 : 2], // BlackIsZero or RGB
      t273: [offset],
      t277: [c],
      t278: [p.height], // one strip per page
      t279: [p.width * p.height * c * bytesPer],
      t284: [1], // chunky
      t339: new Array<number>(c).fill(type.format),
    };
    if (c === 4) tags.t338 = [2]; // unassociated alpha
    return tags as unknown as IFD;
  };
  // First pass with placeholder offsets gives the header length (offsets are fixed-size LONGs).
  const headerLength = new Uint8Array(UTIF.encode(pages.map((p) => ifd(p, 0)))).length;
  const offsets: number[] = [];
  let end = headerLength;
  for (const p of pages) {
    offsets.push(end);
    end += p.data.length * bytesPer;
  }
  const header = new Uint8Array(UTIF.encode(pages.map((p, i) => ifd(p, offsets[i]!))));
  // UTIF.encode writes into a fixed 20,000-byte buffer and silently truncates beyond it.
  if (header.length !== headerLength || header.length >= 20000) {
    throw new Error(`${name}: ${pages.length} pages need more TIFF directory space than the encoder (utif2) provides; write fewer pages per file`);
  }
  const out = new Uint8Array(end);
  out.set(header);
  const view = new DataView(out.buffer);
  pages.forEach((p, i) => {
    let at = offsets[i]!;
    const d = p.data;
    if (type.bits === 8) out.set(d as Uint8Array, at);
    else if (d instanceof Uint16Array) for (let k = 0; k < d.length; k++, at += 2) view.setUint16(at, d[k]!, false);
    else for (let k = 0; k < d.length; k++, at += 4) view.setFloat32(at, d[k]!, false);
  });
  return out;
}
