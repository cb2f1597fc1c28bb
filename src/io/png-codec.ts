/**
 * PNG bytes <-> rasters on top of a pngjs PNG class, without Node built-ins, so the
 * same conversion runs in Node (src/io/png.ts, pngjs with Node's Buffer) and in the
 * browser (web/src/png-browser.ts, pngjs' browser build with its bundled Buffer).
 */
import { unzlibSync } from 'fflate';
import type { PNG as PngClass } from 'pngjs';
import { applyOrientation, exifOrientation } from './orientation.js';
import { checkPixelLimit, makeRaster, type Raster } from './raster.js';

/** Colour types from the PNG spec: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
const CHANNELS_BY_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

export interface PngDecodeOptions {
  /** Largest width x height accepted; see DEFAULT_MAX_PIXELS in raster.ts. */
  readonly maxPixels?: number;
}

/** What the chunk scan finds before pngjs decodes anything. */
interface PngLayout {
  readonly width: number;
  readonly height: number;
  readonly depth: number;
  readonly colorType: number;
  /** EXIF orientation from an eXIf chunk (1 when absent). */
  readonly orientation: number;
  /** The file without a gray/RGB tRNS chunk (see decodePng). */
  readonly bytes: Uint8Array;
}

/** Bytes of the filtered (pre-inflate) scanlines of a PNG, Adam7 passes included. */
function scanlineBytes(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const passes = interlaced ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] : [[0, 0, 1, 1]];
  let n = 0;
  for (const [x0, y0, dx, dy] of passes as [number, number, number, number][]) {
    const w = Math.ceil((width - x0) / dx);
    const h = Math.ceil((height - y0) / dy);
    if (w > 0 && h > 0) n += h * (1 + Math.ceil((w * bitsPerPixel) / 8));
  }
  return n;
}

/**
 * Reads the chunk list: checks the declared size against the pixel limit and against the
 * image data actually present (inflating it into a buffer of exactly the declared size, so a
 * bomb cannot allocate more), before pngjs, which pads missing rows with zeros.
 */
function inspectPng(bytes: Uint8Array, name: string, options: PngDecodeOptions): PngLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = (o: number): string => String.fromCharCode(bytes[o]!, bytes[o + 1]!, bytes[o + 2]!, bytes[o + 3]!);
  if (bytes.length < 33 || type(12) !== 'IHDR') throw new Error(`${name}: not a readable PNG (no IHDR header)`);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const depth = bytes[24]!;
  const colorType = bytes[25]!;
  const interlaced = bytes[28] === 1;
  if (width < 1 || height < 1) throw new Error(`${name}: not a readable PNG (declares ${width}x${height} pixels)`);
  checkPixelLimit(name, height, width, options.maxPixels);
  const samples = CHANNELS_BY_COLOR_TYPE[colorType];
  if (samples === undefined) throw new Error(`${name}: unsupported PNG colour type ${colorType}`);
  const idat: Uint8Array[] = [];
  let idatBytes = 0;
  let orientation = 1;
  let trns: [number, number] | null = null;
  for (let o = 8; o + 12 <= bytes.length;) {
    const len = view.getUint32(o);
    const t = type(o + 4);
    const end = o + 12 + len;
    if (end > bytes.length) break; // truncated: pngjs names it below
    if (t === 'IDAT') { idat.push(bytes.subarray(o + 8, o + 8 + len)); idatBytes += len; }
    if (t === 'eXIf') orientation = exifOrientation(bytes.subarray(o + 8, o + 8 + len));
    if (t === 'tRNS' && (colorType === 0 || colorType === 2)) trns = [o, end];
    if (t === 'IEND') break;
    o = end;
  }
  const needed = scanlineBytes(width, height, (colorType === 3 ? 1 : samples) * depth, interlaced);
  // Deflate expands at most 1032:1: refuse before allocating when the data cannot fill the image.
  if (idatBytes * 1032 < needed) {
    throw new Error(`${name}: not a readable PNG (declares ${width}x${height} pixels, ${needed} bytes of image data, but holds ${idatBytes} compressed bytes; truncated or corrupt)`);
  }
  const all = new Uint8Array(idatBytes);
  let at = 0;
  for (const part of idat) { all.set(part, at); at += part.length; }
  let inflated: number;
  try {
    inflated = unzlibSync(all, { out: new Uint8Array(needed) }).length;
  } catch (e) {
    throw new Error(`${name}: not a readable PNG (corrupt image data: ${(e as Error).message})`, { cause: e });
  }
  if (inflated < needed) throw new Error(`${name}: not a readable PNG (the image data ends after ${inflated} of ${needed} bytes; truncated)`);
  // A gray/RGB tRNS chunk names one colour as transparent; pngjs then zeroes those pixels'
  // values. Transparency is not intensity, so it is ignored for these colour types.
  const kept = trns ? new Uint8Array([...bytes.subarray(0, trns[0]), ...bytes.subarray(trns[1])]) : bytes;
  return { width, height, depth, colorType, orientation, bytes: kept };
}


export interface PngCodec {
  /**
   * Decodes PNG bytes to a raster in the file's own channels (gray stays 1 channel)
   * and bit depth (Uint8Array for <= 8 bit, Uint16Array for 16 bit). 1-, 2- and 4-bit gray
   * values are scaled to 0..255 (v * 255 / (2^bits - 1)), as viewers show them. Alpha is
   * dropped when it is fully opaque; a gray or RGB tRNS colour key is ignored (it would make
   * pngjs zero those pixels). An eXIf orientation is applied. Sizes over `maxPixels` and
   * image data shorter than the header declares are refused before decoding.
   */
  decodePng(bytes: Uint8Array, name?: string, options?: PngDecodeOptions): Raster<Uint8Array | Uint16Array>;
  /** Encodes a 1-, 3- or 4-channel raster; Uint16Array data writes a 16-bit PNG, Uint8Array an 8-bit one. */
  encodePng(r: Raster<Uint8Array | Uint16Array>, name?: string): Uint8Array;
}

/**
 * @param PNG       pngjs' PNG class (Node build or browser build)
 * @param toBuffer  wraps bytes in the Buffer class that build parses with (it calls readUInt32BE etc.)
 */
export function makePngCodec(PNG: typeof PngClass, toBuffer: (bytes: Uint8Array) => Uint8Array): PngCodec {
  function decodePng(bytes: Uint8Array, name = 'PNG', options: PngDecodeOptions = {}): Raster<Uint8Array | Uint16Array> {
    const layout = inspectPng(bytes, name, options);
    let png: PngClass;
    try {
      // Rescaling stays on below 16 bits: it maps 1/2/4-bit values to 0..255.
      png = PNG.sync.read(toBuffer(layout.bytes) as Buffer, { skipRescale: layout.depth === 16 });
    } catch (e) {
      throw new Error(`${name}: not a readable PNG (${(e as Error).message})`, { cause: e });
    }
    const meta = png as unknown as { colorType: number; depth: number };
    const fileChannels = CHANNELS_BY_COLOR_TYPE[meta.colorType];
    if (fileChannels === undefined) throw new Error(`${name}: unsupported PNG colour type ${meta.colorType}`);
    const sixteen = meta.depth === 16;
    const { width, height } = png;
    // pngjs always expands to RGBA (4 values per pixel); with skipRescale 16-bit data is a Uint16Array.
    const rgba = png.data as unknown as Uint8Array | Uint16Array;
    let channels = fileChannels;
    if (fileChannels === 2 || fileChannels === 4) {
      const maxVal = sixteen ? 65535 : 255;
      let opaque = true;
      for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== maxVal) { opaque = false; break; }
      if (opaque) channels = fileChannels - 1;
    }
    const out = sixteen ? new Uint16Array(width * height * channels) : new Uint8Array(width * height * channels);
    for (let p = 0; p < width * height; p++) {
      const s = p * 4;
      const d = p * channels;
      if (channels === 1) out[d] = rgba[s]!;
      else if (channels === 2) { out[d] = rgba[s]!; out[d + 1] = rgba[s + 3]!; }
      else { out[d] = rgba[s]!; out[d + 1] = rgba[s + 1]!; out[d + 2] = rgba[s + 2]!; if (channels === 4) out[d + 3] = rgba[s + 3]!; }
    }
    return applyOrientation(makeRaster(out, height, width, channels, name), layout.orientation);
  }

  function encodePng(r: Raster<Uint8Array | Uint16Array>, name = 'encodePng'): Uint8Array {
    const sixteen = r.data instanceof Uint16Array;
    if (![1, 3, 4].includes(r.channels)) throw new Error(`${name}: can write 1, 3 or 4 channels, got ${r.channels}`);
    const colorType = r.channels === 1 ? 0 : r.channels === 3 ? 2 : 6;
    const options = { bitDepth: sixteen ? 16 : 8, colorType, inputColorType: colorType, inputHasAlpha: r.channels === 4 } as const;
    const png = new PNG({ width: r.width, height: r.height, ...options });
    // pngjs reads 16-bit input from a Uint16Array and 8-bit input from a Buffer, in the input colour type.
    (png as unknown as { data: Uint8Array | Uint16Array }).data = sixteen ? r.data : toBuffer(r.data as Uint8Array);
    const out = PNG.sync.write(png, options) as Uint8Array;
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  return { decodePng, encodePng };
}
