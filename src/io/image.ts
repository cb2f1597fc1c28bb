/**
 * Reading and writing image files (Node): PNG, JPEG and TIFF in, PNG and TIFF out.
 * The byte-level codecs are in src/io/image-codecs.ts (browser-safe).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { decodeImage, encodeTiff, type DecodeOptions } from './image-codecs.js';
import { writePng } from './png.js';
import type { Raster } from './raster.js';

/**
 * Every page of a PNG, JPEG or TIFF file (format from its magic bytes, not its name).
 * Single images give one page; multi-page TIFF stacks give one raster per page.
 */
export async function readImage(path: string, options: DecodeOptions = {}): Promise<Raster[]> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`readImage: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  return decodeImage(bytes, path, options);
}

/** Writes pages as one (multi-page) uncompressed TIFF: uint8, uint16, int32 or float32 samples, any number of pages. */
export async function writeTiff(path: string, pages: readonly Raster[]): Promise<void> {
  await writeFileAtomic(path, encodeTiff(pages, `writeTiff ${path}`));
}

/** Writes one raster as PNG (.png: 8- or 16-bit) or TIFF (.tif, .tiff: 8/16-bit, int32 or float32). */
export async function writeImage(path: string, raster: Raster): Promise<void> {
  const ext = extname(path).toLowerCase();
  if (ext === '.tif' || ext === '.tiff') return writeTiff(path, [raster]);
  if (ext === '.png') {
    if (!(raster.data instanceof Uint8Array || raster.data instanceof Uint16Array)) {
      throw new Error(`writeImage: ${path}: PNG holds 8- or 16-bit integers, got ${raster.data.constructor.name}; write a .tif for float or 32-bit data`);
    }
    return writePng(path, raster as Raster<Uint8Array | Uint16Array>);
  }
  throw new Error(`writeImage: ${path}: unknown extension "${ext}"; use .png, .tif or .tiff`);
}
