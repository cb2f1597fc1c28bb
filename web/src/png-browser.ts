/**
 * Browser stand-in for src/io/png.ts (which reads files with node:fs): the library's own
 * PNG codec (src/io/png-codec.ts) on pngjs's browserified build. web/vite.config.ts routes
 * image-codecs.ts's `./png.js` import here, so the library's decodeImage reads PNGs in
 * the page exactly as `unet predict` does in Node (gray stays 1 channel, 16 bit stays 16 bit).
 */
import pngjs from 'pngjs/browser.js';
import { makePngCodec } from '../../src/io/png-codec.js';

const { PNG } = pngjs;

/** The bundle's own Buffer class (pngjs parses with Buffer methods such as readUInt32BE). */
function bundledBuffer(bytes: Uint8Array): Uint8Array {
  const B = (new PNG({ width: 1, height: 1 }).data as unknown as { constructor: { from(b: Uint8Array): Uint8Array } }).constructor;
  return B.from(bytes);
}

export const { decodePng, encodePng } = makePngCodec(PNG, bundledBuffer);
