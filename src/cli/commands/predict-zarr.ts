/**
 * The OME-Zarr part of `unet predict`: options, and the run for OME-Zarr inputs (or any
 * input with --ome-zarr). Kept apart from predict.ts so that file stays small.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, parse } from 'node:path';
import { parseChunkJob, type ChunkJob } from '../../infer/chunks.js';
import type { TilePredictor } from '../../infer/predictor.js';
import type { Size2 } from '../../infer/tiling.js';
import { DEFAULT_PREDICT_BATCH } from '../../infer/predict.js';
import { finalizeOmeZarr, predictOmeZarr, ZARR_OUTPUTS, type ProbabilityDtype, type ZarrInstanceOptions, type ZarrOutput } from '../../infer/zarr-predict.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { readImage } from '../../io/image.js';
import type { Normalization } from '../../io/normalize.js';
import { openTiffRegions } from '../../io/tiff-region.js';
import { writeOmeZarrFromSources, writeOmeZarrImage, type OmeZarrSelection, type WriteImageOptions } from '../../io/zarr.js';
import { intOption, UsageError } from '../args.js';

export const ZARR_OPTIONS = {
  chunks: { type: 'string' },
  'chunk-size': { type: 'string' },
  level: { type: 'string' },
  channel: { type: 'string' },
  z: { type: 'string' },
  t: { type: 'string' },
  'prob-dtype': { type: 'string' },
  'ome-zarr': { type: 'boolean' },
  'zarr-format': { type: 'string' },
  'max-halo': { type: 'string' },
} as const;

export const ZARR_HELP = `OME-Zarr (NGFF 0.4 / Zarr v2 and 0.5 / v3; a folder IMAGE.zarr is read by region, never whole):
  results go into the image: labels/unet_mask (and unet_instances), unet_prob; --outputs of mask,prob,instances   (mask)
  --chunks I/N         compute job I's share (0 <= I < N) of the output chunks; N jobs together write
                       the bytes one job writes; finished chunks are skipped on rerun
  --chunk-size N       output chunk side, rounded down to a multiple of 2^depth   (1024)
  --level L            multiscale level to predict   (0)
  --channel C, --z Z, --t T   select a channel / plane / time point (default: all channels, every plane)
  --prob-dtype D       float32 | uint8 | uint16 probabilities   (float32)
  --ome-zarr           for PNG/TIFF inputs: write OUT/<stem>.ome.zarr (image + results) instead of files
  --zarr-format 2|3    format of --ome-zarr stores   (2, NGFF 0.4)
  --max-halo N         watershed: the largest context a chunk grows to so that each foreground region it
                       meets lies whole in it (else an error)   (the chunk size)
  instances (connected components or the watershed, --min-size, as for whole images, the same ids) and the
  label pyramids' levels above 0 come from: unet merge-instances IMAGE.zarr (run after all jobs; without
  --chunks predict runs it itself)`;

/** A folder holding Zarr group metadata (v3 zarr.json or v2 .zattrs). */
export function isOmeZarr(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && (existsSync(join(path, 'zarr.json')) || existsSync(join(path, '.zattrs')));
}

type Values = Record<string, string | boolean | undefined>;

/**
 * True when an input is an OME-Zarr or any OME-Zarr option is given (so that, e.g.,
 * `--chunks` with a PNG and no --ome-zarr is an error rather than silently ignored).
 */
export function wantsZarr(values: Values, inputs: readonly string[]): boolean {
  return Object.keys(ZARR_OPTIONS).some((k) => values[k] !== undefined) || inputs.some(isOmeZarr);
}

export function selectionFromOptions(values: Values): OmeZarrSelection {
  const pick = (name: string): number | undefined => {
    const v = intOption(values[name] as string | undefined, name);
    if (v !== undefined && v < 0) throw new UsageError(`--${name} must be >= 0, got ${v}`);
    return v;
  };
  const level = pick('level');
  const channel = pick('channel');
  const z = pick('z');
  const t = pick('t');
  return { ...(level !== undefined ? { level } : {}), ...(channel !== undefined ? { channel } : {}), ...(z !== undefined ? { z } : {}), ...(t !== undefined ? { t } : {}) };
}

/** A short digest of the model folders' files (an ensemble: all): chunks of two runs are mixed only when it matches. */
function modelDigest(modelDirs: readonly string[]): string {
  const h = createHash('sha256');
  for (const dir of modelDirs) {
    for (const n of readdirSync(dir).sort()) {
      const p = join(dir, n);
      if (statSync(p).isFile()) h.update(n).update(readFileSync(p));
    }
  }
  return h.digest('hex').slice(0, 16);
}

export interface ZarrRun {
  readonly values: Values;
  readonly inputs: readonly string[];
  readonly outDir: string | undefined;
  readonly modelDirs: readonly string[];
  /** The instance post-processing (the model's stored one, or the options'). */
  readonly instances?: ZarrInstanceOptions;
  readonly normalization: Normalization;
  readonly classNames: readonly string[];
  readonly foregroundClasses?: readonly number[];
  readonly predictorFor: (size: Size2) => TilePredictor;
  readonly tta: boolean;
  readonly log: (line: string) => void;
}

/** Runs predict for OME-Zarr inputs (and --ome-zarr conversions); returns the exit code. */
export async function predictZarrCommand(run: ZarrRun): Promise<number> {
  const { values } = run;
  const outputs = ((values.outputs as string | undefined) ?? 'mask').split(',').map((s) => s.trim()) as ZarrOutput[];
  for (const o of outputs) if (!ZARR_OUTPUTS.includes(o)) throw new UsageError(`--outputs: "${o}" is not available for OME-Zarr; choose from ${ZARR_OUTPUTS.join(', ')}`);
  const probDtype = ((values['prob-dtype'] as string | undefined) ?? 'float32') as ProbabilityDtype;
  if (!['float32', 'uint8', 'uint16'].includes(probDtype)) throw new UsageError(`--prob-dtype must be float32, uint8 or uint16, got "${probDtype}"`);
  if (values.batch !== undefined && values.batch !== '1') run.log('unet predict: note: --batch > 1 may change the last bits between chunked and unchunked runs');
  let job: ChunkJob | undefined;
  try {
    job = values.chunks === undefined ? undefined : parseChunkJob(values.chunks as string);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const chunkSize = intOption(values['chunk-size'] as string | undefined, 'chunk-size', 1024)!;
  if (chunkSize < 1) throw new UsageError(`--chunk-size must be positive, got ${chunkSize}`);
  const format = intOption(values['zarr-format'] as string | undefined, 'zarr-format', 2)!;
  if (format !== 2 && format !== 3) throw new UsageError(`--zarr-format must be 2 or 3, got ${format}`);
  const select = selectionFromOptions(values);
  const provenance = { model: modelDigest(run.modelDirs), normalization: run.normalization, tta: run.tta };
  const maxHalo = intOption(values['max-halo'] as string | undefined, 'max-halo');
  if (maxHalo !== undefined && maxHalo < 1) throw new UsageError(`--max-halo must be positive, got ${maxHalo}`);
  const instances = { ...run.instances, ...(maxHalo !== undefined ? { maxHalo } : {}) };

  for (const input of run.inputs) {
    let path = input;
    if (!isOmeZarr(input)) {
      if (!values['ome-zarr']) throw new UsageError(`${input} is not an OME-Zarr folder; OME-Zarr options (and mixing with OME-Zarr inputs) need --ome-zarr for other images`);
      if (!run.outDir) throw new UsageError('--ome-zarr needs --out DIR');
      path = join(run.outDir, `${parse(input).name}.ome.zarr`);
      // Every job may convert; the marker makes reruns (and later jobs) skip it, and identical bytes make races harmless.
      const done = join(path, 'unet_work', 'imported');
      if (!existsSync(done)) {
        await importImage(input, path, { format, chunk: Math.min(1024, chunkSize) }, select.level ?? 0);
        await mkdir(join(path, 'unet_work'), { recursive: true });
        await writeFileAtomic(done, `${input}\n`);
      }
    }
    // A converted TIFF holds the chosen pyramid level as its level 0.
    const storeSelect = path === input ? select : { ...select, level: 0 };
    const result = await predictOmeZarr(path, storeSelect, run.predictorFor, {
      outputs,
      normalization: run.normalization,
      classNames: run.classNames,
      probDtype,
      chunkSize,
      batchSize: intOption(values.batch as string | undefined, 'batch', DEFAULT_PREDICT_BATCH)!,
      provenance,
      instances,
      ...(job ? { job } : {}),
      ...(run.foregroundClasses ? { foregroundClasses: run.foregroundClasses } : {}),
    });
    const share = job ? ` (job ${job.index}/${job.count})` : '';
    let line = `${path}: ${result.computed} chunk(s) computed, ${result.skipped} already done${share}; ${result.arrays.join(' ')}`;
    if (job && job.count > 1) line += `; after all ${job.count} jobs: unet merge-instances ${path}`;
    else {
      const done = await finalizeOmeZarr(path, storeSelect);
      line += done.objects ? `; ${done.objects.join(', ')} object(s) in labels/unet_instances` : '; label pyramid written';
    }
    process.stdout.write(`${line}\n`);
  }
  return 0;
}

/**
 * An ordinary image as a new OME-Zarr store. TIFFs are read by region (tile or strip rows,
 * pyramid level `level` of every page), so a slide bigger than memory converts in bounded
 * memory; other formats (and TIFFs the region reader refuses) are read whole.
 */
async function importImage(input: string, path: string, options: WriteImageOptions, level: number): Promise<void> {
  if (/\.tiff?$/i.test(input)) {
    let tiff: Awaited<ReturnType<typeof openTiffRegions>> | null = null;
    try {
      tiff = await openTiffRegions(input);
    } catch {
      tiff = null; // e.g. JPEG-compressed: the whole-image reader below says what it thinks
    }
    if (tiff) {
      try {
        await writeOmeZarrFromSources(path, tiff.pages.map((_, p) => tiff.source(p, level)), options);
      } finally {
        await tiff.close();
      }
      return;
    }
  }
  if (level !== 0) throw new UsageError(`--level ${level}: ${input} has no pyramid this reader understands`);
  await writeOmeZarrImage(path, await readImage(input), options);
}
