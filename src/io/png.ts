/**
 * PNG reading and writing (8 and 16 bit; gray, gray+alpha, RGB, RGBA) with pngjs.
 * Node-only (file access); the byte-level codec is src/io/png-codec.ts.
 */
import { readFile } from 'node:fs/promises';
import { PNG } from 'pngjs';
import type { Raster } from './raster.js';
import { writeFileAtomic } from './atomic.js';
import { makePngCodec } from './png-codec.js';

export const { decodePng, encodePng } = makePngCodec(PNG, (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

export async function readPng(path: string): Promise<Raster<Uint8Array | Uint16Array>> {
  return decodePng(await readFile(path), path);
}

export async function writePng(path: string, r: Raster<Uint8Array | Uint16Array>): Promise<void> {
  await writeFileAtomic(path, encodePng(r, path));
}
