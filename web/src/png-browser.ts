/**
 * Browser stand-in for src/io/png.ts (which reads files and uses Node's Buffer): the
 * same decodePng / encodePng on pngjs's browserified build. web/vite.config.ts routes
 * image-codecs.ts's `./png.js` import here, so the library's decodeImage reads PNGs in
 * the page exactly as `unet predict` does in Node (gray stays 1 channel, 16 bit stays 16 bit).
 * Delete once src/io has a browser-safe PNG codec module.
 */
import pngjs from 'pngjs/browser.js';
import { makeRaster, type Raster } from '../../src/io/raster.js';

const { PNG } = pngjs;
type PngImage = InstanceType<typeof PNG>;

/** Colour types from the PNG spec: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
const CHANNELS_BY_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

/** The bundle's own Buffer class (pngjs parses with Buffer methods such as readUInt32BE). */
function bundledBuffer(bytes: Uint8Array): Uint8Array {
  const B = (new PNG({ width: 1, height: 1 }).data as unknown as { constructor: { from(b: Uint8Array): Uint8Array } }).constructor;
  return B.from(bytes);
}

/** As src/io/png.ts decodePng: the file's own channels and bit depth; opaque alpha is dropped. */
export function decodePng(bytes: Uint8Array, name = 'PNG'): Raster<Uint8Array | Uint16Array> {
  let png: PngImage;
  try {
    png = PNG.sync.read(bundledBuffer(bytes) as never, { skipRescale: true } as never);
  } catch (e) {
    throw new Error(`${name}: not a readable PNG (${(e as Error).message})`, { cause: e });
  }
  const meta = png as unknown as { colorType: number; depth: number };
  const fileChannels = CHANNELS_BY_COLOR_TYPE[meta.colorType];
  if (fileChannels === undefined) throw new Error(`${name}: unsupported PNG colour type ${meta.colorType}`);
  const sixteen = meta.depth === 16;
  const { width, height } = png;
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

/** As src/io/png.ts encodePng: 1, 3 or 4 channels; Uint16Array data gives a 16-bit PNG. */
export function encodePng(r: Raster<Uint8Array | Uint16Array>, name = 'encodePng'): Uint8Array {
  const sixteen = r.data instanceof Uint16Array;
  if (![1, 3, 4].includes(r.channels)) throw new Error(`${name}: can write 1, 3 or 4 channels, got ${r.channels}`);
  const colorType = r.channels === 1 ? 0 : r.channels === 3 ? 2 : 6;
  const options = { width: r.width, height: r.height, bitDepth: sixteen ? 16 : 8, colorType, inputColorType: colorType, inputHasAlpha: r.channels === 4 } as const;
  const png = new PNG(options as never);
  (png as unknown as { data: Uint8Array | Uint16Array }).data = r.data;
  const out = PNG.sync.write(png, options as never) as unknown as Uint8Array;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
