/**
 * `predict` of a big TIFF without loading it (Node only): each band of tiles reads just its
 * mirrored input window from the file (src/io/tiff-region.ts), and the finished rows go
 * straight into strip-written TIFFs (src/io/tiff-stream.ts). Memory holds one band of tiles
 * and one strip per output page, whatever the image size; the mask equals whole-image
 * prediction's pixel for pixel, because overlap-tile prediction gives every pixel the value
 * of its one tile whichever way the input reaches the tiles (src/infer/predict.ts).
 *
 * Which TIFFs: see {@link readsByRegion}. Outputs, per page (stacks add _zNNN as usual):
 *   <stem>_mask.tif   class index per pixel (uint8; uint16 over 256 classes), Deflate strips
 *   <stem>_prob.tif   float32 probabilities, one page per class
 * Instances and the overlay need the whole plane (connected components, the display range);
 * for big images instances come from the OME-Zarr path (`--ome-zarr`, merged across chunks).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, parse } from 'node:path';
import type { Normalization } from '../io/normalize.js';
import { toModelChannels } from '../io/raster.js';
import { openTiffRegions, type TiffRegionImage } from '../io/tiff-region.js';
import { TiffStripWriter } from '../io/tiff-stream.js';
import { classMask, predictBands, type PredictProgress } from './predict.js';
import type { TilePredictor } from './predictor.js';
import { normalizedSource, resolveNormalization, type RegionSource } from './source.js';
import type { Size2 } from './tiling.js';

/** Pages above this many pixels are read by region even from a plain (stripped, classic) TIFF. */
export const REGION_PIXELS = 2 ** 25;
/** A tile or strip holding more samples than this would be decoded once per band: such a file is read whole. */
const MAX_BLOCK_SAMPLES = 2 ** 24;

/**
 * Whether `predict` reads this TIFF by region: when it is laid out for big images (tiled,
 * BigTIFF or pyramidal) or a page exceeds {@link REGION_PIXELS}, and its tiles or strips are
 * small enough to read a band at a time (one strip per page is not).
 */
export function readsByRegion(tiff: Pick<TiffRegionImage, 'bigTiff' | 'pages'>): boolean {
  const base = tiff.pages.map((levels) => levels[0]!);
  if (base.some((l) => l.tileWidth * l.tileHeight * l.samples > MAX_BLOCK_SAMPLES)) return false;
  return tiff.bigTiff || tiff.pages.some((levels) => levels.length > 1) || base.some((l) => l.tiled || l.width * l.height > REGION_PIXELS);
}

export type RegionOutput = 'mask' | 'prob';

export interface RegionPredictOptions {
  readonly outDir: string;
  readonly outputs: readonly RegionOutput[];
  readonly normalization: Normalization;
  /** Tiles per forward pass; default 1. */
  readonly batchSize?: number;
  readonly onProgress?: (p: PredictProgress & { readonly page: number; readonly pages: number }) => void;
  readonly signal?: AbortSignal;
}

/**
 * Predicts the pages `pages` (region sources of one file, named by `file`'s stem) into
 * strip-written TIFFs in `outDir`; returns the paths written. On failure nothing of this
 * file stays (finished pages' outputs are removed, unfinished ones never appear).
 */
export async function predictPagesByRegion(
  file: string,
  pages: readonly RegionSource[],
  predictorFor: (imageSize: Size2) => TilePredictor,
  options: RegionPredictOptions,
): Promise<string[]> {
  const kinds = new Set(options.outputs);
  if (kinds.size === 0) throw new Error('predictPagesByRegion: no outputs requested');
  for (const k of kinds) if (k !== 'mask' && k !== 'prob') throw new Error(`predictPagesByRegion: ${file}: output "${String(k)}" needs the whole image; by region: mask, prob`);
  const stem = parse(file).name;
  const written: string[] = [];
  const open: TiffStripWriter[] = [];
  try {
    for (const [z, raw] of pages.entries()) {
      const where = pages.length > 1 ? `${file} (page ${z + 1})` : file;
      const predictor = predictorFor([raw.height, raw.width]);
      const K = predictor.classes;
      const channels: RegionSource = {
        height: raw.height,
        width: raw.width,
        channels: predictor.channels,
        name: where,
        readRegion: async (top, left, h, w) => toModelChannels(await raw.readRegion(top, left, h, w), predictor.channels, where),
      };
      const source = normalizedSource(channels, await resolveNormalization(channels, options.normalization));
      const base = join(options.outDir, pages.length > 1 ? `${stem}_z${String(z).padStart(3, '0')}` : stem);
      await mkdir(options.outDir, { recursive: true });
      const { height: H, width: W } = raw;
      const mask = kinds.has('mask') ? await TiffStripWriter.create(`${base}_mask.tif`, [{ height: H, width: W, type: K <= 256 ? 'uint8' : 'uint16' }]) : null;
      if (mask) open.push(mask);
      const prob = kinds.has('prob') ? await TiffStripWriter.create(`${base}_prob.tif`, Array.from({ length: K }, () => ({ height: H, width: W, type: 'float32' as const }))) : null;
      if (prob) open.push(prob);
      await predictBands(
        source,
        predictor,
        async (band) => {
          const n = band.height * band.width;
          if (mask) {
            const m = classMask(band.data, K, K <= 256 ? new Uint8Array(n) : new Uint16Array(n));
            await mask.appendRows(0, m, band.height);
          }
          if (prob) {
            const plane = new Float32Array(n);
            for (let k = 0; k < K; k++) {
              for (let i = 0; i < n; i++) plane[i] = band.data[i * K + k]!;
              await prob.appendRows(k, plane, band.height);
            }
          }
        },
        {
          batchSize: options.batchSize ?? 1,
          source: where,
          onProgress: (p) => options.onProgress?.({ ...p, page: z, pages: pages.length }),
          ...(options.signal ? { signal: options.signal } : {}),
        },
      );
      for (const w of [mask, prob]) {
        if (!w) continue;
        await w.close();
        open.splice(open.indexOf(w), 1);
        written.push(w.path);
      }
    }
  } catch (e) {
    await Promise.all(open.map((w) => w.abort()));
    await Promise.all(written.map((p) => rm(p, { force: true })));
    throw e;
  }
  return written;
}

/** Opens `file` by region and predicts its pages (level 0) with {@link predictPagesByRegion}. */
export async function predictTiffByRegion(file: string, predictorFor: (imageSize: Size2) => TilePredictor, options: RegionPredictOptions, tiff?: TiffRegionImage): Promise<string[]> {
  const img = tiff ?? (await openTiffRegions(file));
  try {
    return await predictPagesByRegion(file, img.pages.map((_, p) => img.source(p, 0)), predictorFor, options);
  } finally {
    await img.close();
  }
}
