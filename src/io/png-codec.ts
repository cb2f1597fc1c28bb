/**
 * PNG bytes <-> rasters on top of a pngjs PNG class, without Node built-ins, so the
 * same conversion runs in Node (src/io/png.ts, pngjs with Node's Buffer) and in the
 * browser (web/src/png-browser.ts, pngjs' browser build with its bundled Buffer).
 */
import type { PNG as PngClass } from 'pngjs';
import { makeRaster, type Raster } from './raster.js';

/** Colour types from the PNG spec: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
const CHANNELS_BY_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

export interface PngCodec {
  /**
   * Decodes PNG bytes to a raster in the file's own channels (gray stays 1 channel)
   * and bit depth (Uint8Array for <= 8 bit, Uint16Array for 16 bit). Alpha is dropped
   * when it is fully opaque.
   */
  decodePng(bytes: Uint8Array, name?: string): Raster<Uint8Array | Uint16Array>;
  /** Encodes a 1-, 3- or 4-channel raster; Uint16Array data writes a 16-bit PNG, Uint8Array an 8-bit one. */
  encodePng(r: Raster<Uint8Array | Uint16Array>, name?: string): Uint8Array;
}

/**
 * @param PNG       pngjs' PNG class (Node build or browser build)
 * @param toBuffer  wraps bytes in the Buffer class that build parses with (it calls readUInt32BE etc.)
 */
export function makePngCodec(PNG: typeof PngClass, toBuffer: (bytes: Uint8Array) => Uint8Array): PngCodec {
  function decodePng(bytes: Uint8Array, name = 'PNG'): Raster<Uint8Array | Uint16Array> {
    let png: PngClass;
    try {
      png = PNG.sync.read(toBuffer(bytes) as Buffer, { skipRescale: true });
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
    return makeRaster(out, height, width, channels, name);
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
