/**
 * Predicting image files and writing the results (Node only: file access).
 * Each output is written atomically (src/io/atomic.ts), so a failure never leaves a
 * partial file; a bad input fails before anything is written for it, and a stack whose
 * page N fails keeps none of the outputs of its earlier pages. The output folder is created
 * with the first file written (a refused input leaves no empty folder behind). Inputs whose
 * outputs would share names (same stem) are refused up front by checkOutputStems.
 *
 * Names, for IMAGE = <stem>.<ext> (stacks add _zNNN after the stem, NNN = page from 000):
 *   <stem>_mask.png          argmax class index per pixel (8-bit; 16-bit over 256 classes)
 *   <stem>_prob.tif          float32 probabilities, one TIFF page per class
 *   <stem>_prob_<class>.png  the same as 8- or 16-bit PNGs, one file per class (probFormat png8/png16)
 *   <stem>_instances.png     16-bit instance ids (a signed 32-bit .tif beyond 65535 objects)
 *   <stem>_overlay.png       the image with coloured mask and contours
 */
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { join, parse } from 'node:path';
import { checkStems } from '../io/dataset.js';
import { readImage, writeImage, writeTiff } from '../io/image.js';
import { normalize, type Normalization } from '../io/normalize.js';
import { toModelChannels, type Raster } from '../io/raster.js';
import { openTiffRegions } from '../io/tiff-region.js';
import { DEFAULT_INSTANCE_OPTIONS, instanceImage, instancesFromClassMask, type InstanceOptions } from './instances.js';
import { predictTiffByRegion, readsByRegion, type RegionOutput } from './region-predict.js';
import { predict, type PredictOptions, type PredictProgress } from './predict.js';
import type { TilePredictor } from './predictor.js';
import type { Size2 } from './tiling.js';
import { overlay, probabilityPlane, quantizeProbability } from './render.js';

export type OutputKind = 'prob' | 'mask' | 'instances' | 'overlay';
export const OUTPUT_KINDS: readonly OutputKind[] = ['prob', 'mask', 'instances', 'overlay'];
export type ProbabilityFormat = 'tif' | 'png8' | 'png16';
export const PROBABILITY_FORMATS: readonly ProbabilityFormat[] = ['tif', 'png8', 'png16'];
/** One float32 TIFF page per class: exact values, one file per image. */
export const DEFAULT_PROBABILITY_FORMAT: ProbabilityFormat = 'tif';

export interface PredictFileOptions extends Omit<PredictOptions, 'onProgress'> {
  readonly outDir: string;
  readonly outputs: readonly OutputKind[];
  /** Applied to each page before prediction (the model's training normalisation). */
  readonly normalization: Normalization;
  /** One name per class (file names of per-class PNGs). */
  readonly classNames: readonly string[];
  /** Default DEFAULT_PROBABILITY_FORMAT ('tif'). */
  readonly probFormat?: ProbabilityFormat;
  /** Classes whose pixels form objects for instances and the overlay's instance mode. Default: every class but 0. */
  readonly foregroundClasses?: readonly number[];
  /** Split touching objects by a watershed on the summed probability of `seedClasses`. Default false. */
  readonly watershed?: boolean;
  /** Classes whose summed probability seeds and guides the watershed. Default: `foregroundClasses`. */
  readonly seedClasses?: readonly number[];
  /** Object pixels: summed foreground probability above this (objectPixels in src/infer/instances.ts). Default: the argmax. */
  readonly foregroundThreshold?: number;
  readonly instanceOptions?: Omit<InstanceOptions, 'probability'>;
  /** Largest image (pixels per page) accepted when reading; default DEFAULT_MAX_PIXELS (src/io/raster.ts). */
  readonly maxPixels?: number;
  /** Progress of each page: `page` counts from 0 of `pages`. */
  readonly onProgress?: (p: PredictProgress & { readonly file: string; readonly page: number; readonly pages: number }) => void;
}

export interface FileResult {
  readonly file: string;
  readonly pages: number;
  /** Paths written, in order. */
  readonly written: readonly string[];
  /** Instances per page, when instances were requested. */
  readonly instanceCounts?: readonly number[];
  /** True when the file was read by region (a big TIFF, see src/infer/region-predict.ts). */
  readonly byRegion?: boolean;
  /** Requested outputs not written, with why (the overlay of an image read by region). */
  readonly notWritten?: readonly string[];
}

/**
 * Reads every page of `file`, predicts it and writes the requested outputs into `outDir`.
 * `predictor` may be a function of the page size (to choose the tile per image).
 */
export async function predictFile(file: string, predictor: TilePredictor | ((imageSize: Size2) => TilePredictor), options: PredictFileOptions): Promise<FileResult> {
  const kinds = new Set(options.outputs);
  for (const k of kinds) if (!OUTPUT_KINDS.includes(k)) throw new Error(`predictFile: unknown output "${String(k)}"; choose from ${OUTPUT_KINDS.join(', ')}`);
  if (kinds.size === 0) throw new Error('predictFile: no outputs requested');
  const predictorFor = typeof predictor === 'function' ? predictor : (): TilePredictor => predictor;
  if (/\.tiff?$/i.test(file)) {
    // Big (tiled, BigTIFF, pyramidal or huge) TIFFs are read band by band and written strip by strip.
    const tiff = await openTiffRegions(file).catch(() => null);
    if (tiff && readsByRegion(tiff)) return predictFileByRegion(file, tiff, predictorFor, kinds, options);
    await tiff?.close();
  }
  const pages = await readImage(file, options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels });
  const first = predictorFor([pages[0]!.height, pages[0]!.width]);
  const K = first.classes;
  if (options.classNames.length !== K) throw new Error(`predictFile: ${options.classNames.length} class names for ${K} classes`);
  const fgClasses = options.foregroundClasses ?? Array.from({ length: K - 1 }, (_, i) => i + 1);
  // Check every page before writing anything, so a bad stack leaves no outputs.
  const inputs = pages.map((p, z) => toModelChannels(p, first.channels, pages.length > 1 ? `${file} (page ${z + 1})` : file));
  if (options.normalization.kind === 'dtype') {
    const odd = pages.find((p) => !(p.data instanceof Uint8Array || p.data instanceof Uint16Array));
    // predict takes the normalisation from the model: the advice is about the image or the training.
    if (odd) {
      throw new Error(`predict: ${file} holds ${odd.data.constructor.name} values; 'dtype' normalisation needs 8- or 16-bit integers, and this model was trained with it: convert the image to 8 or 16 bit, or use a model trained with unet train --normalize range:MIN,MAX (or minmax, percentile:LOW,HIGH, meanstd)`);
    }
  }
  const stem = parse(file).name;
  const written: string[] = [];
  const counts: number[] = [];
  let createdDir: string | undefined;
  let dirReady = false;
  try {
    await predictPages();
  } catch (e) {
    // A stack is one input: when page N fails, the outputs of pages before it go too.
    await Promise.all(written.map((path) => rm(path, { force: true })));
    // rmdir removes only an empty folder: one this call created and nothing else wrote into.
    if (createdDir !== undefined) await rmdir(createdDir).catch(() => undefined);
    throw e;
  }
  return { file, pages: pages.length, written, ...(kinds.has('instances') ? { instanceCounts: counts } : {}) };

  async function predictPages(): Promise<void> {
    for (const [z, raw] of inputs.entries()) {
      const base = join(options.outDir, pages.length > 1 ? `${stem}_z${String(z).padStart(3, '0')}` : stem);
      const image = normalize(raw, options.normalization, file);
      const needInstances = kinds.has('instances');
      const result = await predict(image, predictorFor([image.height, image.width]), {
        ...options,
        source: pages.length > 1 ? `${file} (page ${z + 1})` : file,
        onProgress: (p) => options.onProgress?.({ ...p, file, page: z, pages: pages.length }),
        outputs: {
          probabilities: kinds.has('prob'),
          mask: true,
          ...(needInstances && options.foregroundThreshold !== undefined ? { foregroundClasses: fgClasses } : {}),
          ...(needInstances && options.watershed ? { seedClasses: options.seedClasses ?? fgClasses } : {}),
        },
      });
      const mask = result.mask!;
      const ensureDir = async (): Promise<void> => {
        if (dirReady) return;
        createdDir = await mkdir(options.outDir, { recursive: true });
        dirReady = true;
      };
      const write = async (path: string, r: Raster): Promise<void> => {
        await ensureDir();
        await writeImage(path, r);
        written.push(path);
      };
      if (kinds.has('mask')) await write(`${base}_mask.png`, mask);
      if (kinds.has('prob')) {
        const probs = result.probabilities!;
        const format = options.probFormat ?? DEFAULT_PROBABILITY_FORMAT;
        if (format === 'tif') {
          const planes = Array.from({ length: K }, (_, c) => probabilityPlane(probs, c));
          await ensureDir();
          await writeTiff(`${base}_prob.tif`, planes);
          written.push(`${base}_prob.tif`);
        } else {
          for (let c = 0; c < K; c++) {
            const q = quantizeProbability(probabilityPlane(probs, c).data, format === 'png8' ? 8 : 16);
            await write(`${base}_prob_${safeName(options.classNames[c]!)}.png`, { data: q, height: probs.height, width: probs.width, channels: 1 });
          }
        }
      }
      let instanceMap: Raster<Int32Array> | null = null;
      if (needInstances) {
        const io = options.instanceOptions ?? {};
        const pp = {
          foregroundClasses: fgClasses,
          watershed: options.watershed ?? false,
          seedThreshold: io.seedThreshold ?? DEFAULT_INSTANCE_OPTIONS.seedThreshold,
          seedErosion: io.seedErosion ?? 0,
          minSize: io.minSize ?? DEFAULT_INSTANCE_OPTIONS.minSize,
          ...(options.foregroundThreshold !== undefined ? { foregroundThreshold: options.foregroundThreshold } : {}),
        };
        const inst = instancesFromClassMask(mask.data, result.seed?.data ?? null, mask.height, mask.width, pp, io.connectivity, result.foreground?.data ?? null);
        counts.push(inst.count);
        instanceMap = { data: inst.labels, height: mask.height, width: mask.width, channels: 1 };
        const stored = instanceImage(inst, mask.height, mask.width);
        await write(`${base}${stored.file}`, stored.raster);
      }
      // With instances the overlay shows each object in its own colour, else each class.
      if (kinds.has('overlay')) await write(`${base}_overlay.png`, instanceMap ? overlay(raw, instanceMap, { mode: 'instances' }) : overlay(raw, mask, { mode: 'classes' }));
    }
  }
}

/** predictFile for a TIFF read by region: mask and prob as strip-written TIFFs; instances are refused, the overlay left out. */
async function predictFileByRegion(
  file: string,
  tiff: Awaited<ReturnType<typeof openTiffRegions>>,
  predictorFor: (imageSize: Size2) => TilePredictor,
  kinds: ReadonlySet<OutputKind>,
  options: PredictFileOptions,
): Promise<FileResult> {
  const why = `${file} is read by region (tiled, BigTIFF, pyramidal or over 32 MP)`;
  try {
    if (kinds.has('instances')) throw new Error(`predict: ${why}; its instances need the whole plane here: predict it with --ome-zarr (objects merged across chunks, watershed and --min-size included)`);
    if (kinds.has('prob') && (options.probFormat ?? DEFAULT_PROBABILITY_FORMAT) !== 'tif') throw new Error(`predict: ${why}; its probabilities are written as one float32 TIFF (--prob-format tif), not per-class PNGs`);
  } catch (e) {
    await tiff.close();
    throw e;
  }
  const outputs = (['mask', 'prob'] as const).filter((k) => kinds.has(k)) as RegionOutput[];
  const notWritten = kinds.has('overlay') ? [`overlay not written: ${why}, and the overlay needs the whole plane`] : [];
  const written = outputs.length
    ? await predictTiffByRegion(
        file,
        predictorFor,
        {
          outDir: options.outDir,
          outputs,
          normalization: options.normalization,
          batchSize: options.batchSize ?? 1,
          ...(options.signal ? { signal: options.signal } : {}),
          onProgress: (p) => options.onProgress?.({ ...p, file }),
        },
        tiff,
      )
    : (await tiff.close(), []);
  return { file, pages: tiff.pages.length, written, byRegion: true, notWritten };
}

/**
 * Refuses inputs whose outputs would overwrite each other: outputs are named by file stem, so
 * `same.png` and `same.jpg`, or `a/x.png` and `b/x.png`, cannot go to one folder. Lists every
 * clash, naming both files.
 * @throws "predict: a/x.png and b/x.png have the same stem "x", so their outputs (named by stem) would overwrite each other; ..."
 */
export function checkOutputStems(
  files: readonly string[],
  caller = 'predict',
  consequence = 'so their outputs (named by stem) would overwrite each other; rename one or write them into separate --out folders',
): void {
  checkStems(files, caller, consequence);
}

/** A class name usable in a file name. @example safeName('cell interior') === 'cell-interior' */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]+/g, '-');
}
