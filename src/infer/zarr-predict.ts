/**
 * Prediction of OME-Zarr images into the image's own store, chunk by chunk (Node only).
 *
 * Layout written into IMAGE.zarr (NGFF 0.4/Zarr v2 or 0.5/v3, as the image):
 *   labels/                      group; `labels` lists NAME_mask (and NAME_instances after merge)
 *   labels/NAME_mask/0           class index per pixel (uint8), image-label metadata, the image's axes with c = 1
 *   labels/NAME_instances/0      object ids (uint32), written by {@link mergeInstances}
 *   NAME_prob/0                  probabilities, c = classes (float32, or uint8/uint16 quantised)
 *   unet_work/NAME/local/        per-chunk connected components (uint32), input of the merge
 *   unet_work/NAME/done/P.R.C.json   a chunk's completion marker: {"objects": n}
 *
 * Exactness and resumability (see src/infer/chunks.ts): job I of N computes its block of
 * chunks of the output grid; a chunk is skipped when its marker exists; the marker is
 * written (atomically) after all the chunk's arrays, and each chunk key is written
 * atomically, so a killed job leaves every chunk either complete or to be recomputed, and
 * a recomputed chunk has the same bytes.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { Normalization } from '../io/normalize.js';
import {
  addLabelNames,
  AtomicFileStore,
  ensureArray,
  ensureGroup,
  multiscaleAttributes,
  openOmeZarrImage,
  readBlock,
  writeBlock,
  zarr,
  type NgffMultiscale,
  type OmeZarrImage,
  type OmeZarrSelection,
} from '../io/zarr.js';
import { labelComponents } from '../util/components.js';
import { alignedChunkSide, chunkGridShape, chunkWindows, jobChunks, UnionFind, uniteAcross, type Chunk, type ChunkJob } from './chunks.js';
import { argmax, DEFAULT_PREDICT_BATCH, predictBands } from './predict.js';
import type { TilePredictor } from './predictor.js';
import { quantizeProbability, labelColour } from './render.js';
import { normalizedSource, resolveNormalization } from './source.js';
import type { Size2 } from './tiling.js';

export type ZarrOutput = 'mask' | 'prob' | 'instances';
export const ZARR_OUTPUTS: readonly ZarrOutput[] = ['mask', 'prob', 'instances'];
export type ProbabilityDtype = 'float32' | 'uint8' | 'uint16';

export interface ZarrPredictOptions {
  readonly outputs: readonly ZarrOutput[];
  readonly normalization: Normalization;
  readonly classNames: readonly string[];
  /** This job's share; default the whole image (0/1). */
  readonly job?: ChunkJob;
  /** Output chunk side in pixels, rounded down to the model's alignment; default 1024. */
  readonly chunkSize?: number;
  /** Default 'float32'. */
  readonly probDtype?: ProbabilityDtype;
  /** Classes that form objects; default all but 0. */
  readonly foregroundClasses?: readonly number[];
  /** Tiles per forward pass (1 keeps chunked runs bit-identical to whole-image ones). Default DEFAULT_PREDICT_BATCH (1). */
  readonly batchSize?: number;
  /** Prefix of the label and probability names; default 'unet'. */
  readonly name?: string;
  /**
   * What produced the results (model, tile, ...): stored in the label metadata, so that
   * a rerun with other settings refuses to mix its chunks with the old ones.
   */
  readonly provenance?: Record<string, unknown>;
  readonly onChunk?: (p: { readonly done: number; readonly total: number; readonly skipped: number }) => void;
  readonly signal?: AbortSignal;
}

export interface ZarrPredictResult {
  readonly chunks: number;
  readonly computed: number;
  readonly skipped: number;
  /** Paths (relative to the image) of the arrays written. */
  readonly arrays: readonly string[];
}

/** Names of everything predictOmeZarr writes, for one name prefix. */
export function zarrLayout(name = 'unet'): { mask: string; instances: string; prob: string; work: string } {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`zarrLayout: name must be letters, digits, _ or -, got "${name}"`);
  return { mask: `${name}_mask`, instances: `${name}_instances`, prob: `${name}_prob`, work: `unet_work/${name}` };
}

/** The full image's plane number of (t, z): the index used in chunk markers. */
function planeIndex(img: OmeZarrImage, t: number, z: number): number {
  const Z = img.axes.includes('z') ? img.shape[img.axes.indexOf('z')]! : 1;
  return t * Z + z;
}

function planeCount(img: OmeZarrImage): number {
  const size = (a: string): number => (img.axes.includes(a) ? img.shape[img.axes.indexOf(a)]! : 1);
  return size('t') * size('z');
}

/** The level's scale (and translation) for a derived array; `cSize` replaces the c entry of scale 1. */
function levelTransforms(img: OmeZarrImage, axes: readonly string[]): Record<string, unknown>[] {
  const ds = img.info.multiscale.datasets[img.level]!;
  const scaleT = ds.coordinateTransformations?.find((t) => t.type === 'scale') as { scale?: number[] } | undefined;
  const byAxis = new Map(img.axes.map((a, i) => [a, scaleT?.scale?.[i] ?? 1]));
  return [{ type: 'scale', scale: axes.map((a) => (a === 'c' ? 1 : byAxis.get(a) ?? 1)) }];
}

function axisObjects(img: OmeZarrImage, axes: readonly string[]): NgffMultiscale['axes'] {
  const byName = new Map(img.info.multiscale.axes.map((a) => [a.name, a]));
  return axes.map((a) => byName.get(a) ?? { name: a, type: a === 'c' ? 'channel' : a === 't' ? 'time' : 'space' });
}

/** Arrays and metadata of the outputs, created (or checked) identically by every job. */
async function prepareOutputs(img: OmeZarrImage, options: ZarrPredictOptions, K: number, chunkSide: number) {
  const path = img.info.path;
  const format = img.info.zarrFormat;
  const store = new AtomicFileStore(path);
  const names = zarrLayout(options.name);
  const kinds = new Set(options.outputs);
  const H = img.height;
  const W = img.width;
  const labelAxes = img.axes;
  const labelShape = img.axes.map((a, i) => (a === 'c' ? 1 : img.shape[i]!));
  const chunksFor = (axes: readonly string[], cSize: number): number[] => axes.map((a) => (a === 'y' || a === 'x' ? Math.min(chunkSide, a === 'y' ? H : W) : a === 'c' ? cSize : 1));
  const provenance = { 'unet-ts': { ...(options.provenance ?? {}), chunk: chunkSide, classes: options.classNames } };
  const labelGroup = async (label: string, dtype: 'uint8' | 'uint32', colours: boolean) => {
    const ms: NgffMultiscale = { name: label, axes: axisObjects(img, labelAxes), datasets: [{ path: '0', coordinateTransformations: levelTransforms(img, labelAxes) }] };
    const colors = colours ? Array.from({ length: K }, (_, k) => ({ 'label-value': k, rgba: k === 0 ? [0, 0, 0, 0] : [...labelColour(k, 'classes'), 255] })) : undefined;
    const imageLabel = { ...(format === 2 ? { version: '0.4' } : {}), ...(colors ? { colors } : {}), source: { image: '../../' } };
    await ensureGroup(join(path, 'labels', label), format, { ...multiscaleAttributes(img.info, ms, { 'image-label': imageLabel }), ...provenance });
    return ensureArray(store, format, `labels/${label}/0`, { shape: labelShape, chunks: chunksFor(labelAxes, 1), dtype, dimensionNames: labelAxes });
  };
  const out: {
    mask?: Awaited<ReturnType<typeof ensureArray>>;
    prob?: Awaited<ReturnType<typeof ensureArray>>;
    probAxes?: string[];
    local?: Awaited<ReturnType<typeof ensureArray>>;
    store: AtomicFileStore;
    names: ReturnType<typeof zarrLayout>;
    arrays: string[];
  } = { store, names, arrays: [] };
  if (kinds.has('mask')) {
    out.mask = await labelGroup(names.mask, 'uint8', true);
    out.arrays.push(`labels/${names.mask}/0`);
    await addLabelNames(path, img.info, [names.mask]);
  }
  if (kinds.has('prob')) {
    // NGFF axis order: t, c, then space; insert c when the image has none.
    const axes = img.axes.includes('c') ? [...img.axes] : img.axes[0] === 't' ? ['t', 'c', ...img.axes.slice(1)] : ['c', ...img.axes];
    const shape = axes.map((a) => (a === 'c' ? K : img.shape[img.axes.indexOf(a)]!));
    const ms: NgffMultiscale = { name: names.prob, axes: axisObjects(img, axes), datasets: [{ path: '0', coordinateTransformations: levelTransforms(img, axes) }] };
    const dtype = options.probDtype ?? 'float32';
    const omero = { channels: options.classNames.map((label) => ({ label, window: { start: 0, end: dtype === 'float32' ? 1 : dtype === 'uint8' ? 255 : 65535, min: 0, max: dtype === 'float32' ? 1 : dtype === 'uint8' ? 255 : 65535 } })) };
    await ensureGroup(join(path, names.prob), format, { ...multiscaleAttributes(img.info, ms, { omero }), ...provenance });
    out.prob = await ensureArray(store, format, `${names.prob}/0`, { shape, chunks: chunksFor(axes, K), dtype, dimensionNames: axes });
    out.probAxes = axes;
    out.arrays.push(`${names.prob}/0`);
  }
  if (kinds.has('instances')) {
    await ensureGroup(join(path, names.work), format, provenance);
    const P = planeCount(img);
    out.local = await ensureArray(store, format, `${names.work}/local`, { shape: [P, H, W], chunks: [1, Math.min(chunkSide, H), Math.min(chunkSide, W)], dtype: 'uint32', dimensionNames: ['p', 'y', 'x'] });
  }
  return out;
}

/** The selection of a plane's window in an array with `axes` (c: all of cSize, or index 0). */
function selection(axes: readonly string[], t: number, z: number, w: Chunk['window'], cAll: number | null): (number | zarr.Slice | null)[] {
  return axes.map((a) => (a === 't' ? t : a === 'z' ? z : a === 'c' ? (cAll === null ? 0 : zarr.slice(0, cAll)) : a === 'y' ? zarr.slice(w.top, w.top + w.height) : zarr.slice(w.left, w.left + w.width)));
}

function markerPath(img: OmeZarrImage, names: ReturnType<typeof zarrLayout>, plane: number, c: Chunk): string {
  return join(img.info.path, names.work, 'done', `${plane}.${c.row}.${c.col}.json`);
}

/**
 * True when the chunk's marker exists and lists every requested output: a chunk finished by
 * a run with fewer outputs (say, mask only) is computed again for the new ones.
 */
async function markerCovers(marker: string, outputs: readonly ZarrOutput[]): Promise<boolean> {
  const text = await readFile(marker, 'utf8').catch(() => null);
  if (text === null) return false;
  const done = (JSON.parse(text) as { outputs?: string[] }).outputs ?? [];
  return outputs.every((o) => done.includes(o));
}

/**
 * Predicts this job's chunks of the OME-Zarr image at `path` into its store (layout in
 * the module comment). With `job` 0/1 (default) one process does all chunks.
 */
export async function predictOmeZarr(
  path: string,
  select: OmeZarrSelection,
  predictorFor: (imageSize: Size2) => TilePredictor,
  options: ZarrPredictOptions,
): Promise<ZarrPredictResult> {
  for (const o of options.outputs) if (!ZARR_OUTPUTS.includes(o)) throw new Error(`predictOmeZarr: unknown output "${String(o)}"; choose from ${ZARR_OUTPUTS.join(', ')}`);
  if (options.outputs.length === 0) throw new Error('predictOmeZarr: no outputs requested');
  const img = await openOmeZarrImage(path, select);
  const predictor = predictorFor([img.height, img.width]);
  const K = predictor.classes;
  if (img.channels !== predictor.channels) throw new Error(`predictOmeZarr: ${path} has ${img.channels} channel(s) per pixel, the model takes ${predictor.channels}; choose one with --channel`);
  if (options.classNames.length !== K) throw new Error(`predictOmeZarr: ${options.classNames.length} class names for ${K} classes`);
  if (K > 256) throw new Error(`predictOmeZarr: ${K} classes do not fit the uint8 label mask`);
  const fgClasses = options.foregroundClasses ?? Array.from({ length: K - 1 }, (_, i) => i + 1);
  const isFg = new Uint8Array(K);
  for (const c of fgClasses) {
    if (!Number.isInteger(c) || c < 0 || c >= K) throw new Error(`predictOmeZarr: foreground class ${c} is not one of 0..${K - 1}`);
    isFg[c] = 1;
  }
  const chunkSide = alignedChunkSide(options.chunkSize ?? 1024, predictor.alignment);
  // The tile fixes the tile grid and so every value: chunks of runs with other tiles must not mix.
  const out = await prepareOutputs(img, { ...options, provenance: { ...options.provenance, tile: predictor.inputShape } }, K, chunkSide);
  const all = img.planes.flatMap((p, i) => chunkWindows([img.height, img.width], [chunkSide, chunkSide], i));
  const mine = jobChunks(all.length, options.job ?? { index: 0, count: 1 });
  await mkdir(join(path, out.names.work, 'done'), { recursive: true });
  const sources = new Map<number, Awaited<ReturnType<typeof normalizedSource>>>();
  let computed = 0;
  let skipped = 0;
  for (const [n, ci] of mine.entries()) {
    if (options.signal?.aborted) throw new Error('predictOmeZarr: aborted');
    const chunk = all[ci]!;
    const { t, z } = img.planes[chunk.plane]!;
    const plane = planeIndex(img, t, z);
    const marker = markerPath(img, out.names, plane, chunk);
    if (await markerCovers(marker, options.outputs)) {
      skipped++;
      options.onChunk?.({ done: n + 1, total: mine.length, skipped });
      continue;
    }
    let source = sources.get(chunk.plane);
    if (!source) {
      const raw = img.plane(t, z);
      source = normalizedSource(raw, await resolveNormalization(raw, options.normalization));
      sources.set(chunk.plane, source);
    }
    const w = chunk.window;
    const probs = new Float32Array(w.height * w.width * K);
    await predictBands(source, predictor, (band) => {
      probs.set(band.data, (band.top - w.top) * w.width * K);
    }, { region: w, batchSize: options.batchSize ?? DEFAULT_PREDICT_BATCH, ...(options.signal ? { signal: options.signal } : {}) });
    const n2 = w.height * w.width;
    const mask = new Uint8Array(n2);
    for (let i = 0; i < n2; i++) mask[i] = argmax(probs, i * K, K);
    if (out.mask) await writeBlock(out.mask, selection(img.axes, t, z, w, null), mask, [w.height, w.width]);
    if (out.prob) {
      const planes = new Float32Array(K * n2);
      for (let k = 0; k < K; k++) for (let i = 0; i < n2; i++) planes[k * n2 + i] = probs[i * K + k]!;
      const dtype = options.probDtype ?? 'float32';
      const data = dtype === 'float32' ? planes : quantizeProbability(planes, dtype === 'uint8' ? 8 : 16);
      await writeBlock(out.prob, selection(out.probAxes!, t, z, w, K), data, [K, w.height, w.width]);
    }
    let objects = 0;
    if (out.local) {
      const fg = new Uint8Array(n2);
      for (let i = 0; i < n2; i++) fg[i] = isFg[mask[i]!]!;
      const comp = labelComponents(fg, w.height, w.width, 4);
      objects = comp.count;
      await writeBlock(out.local, [plane, zarr.slice(w.top, w.top + w.height), zarr.slice(w.left, w.left + w.width)], Uint32Array.from(comp.labels), [w.height, w.width]);
    }
    await writeFileAtomic(marker, `${JSON.stringify({ objects, outputs: [...new Set(options.outputs)].sort() })}\n`);
    computed++;
    options.onChunk?.({ done: n + 1, total: mine.length, skipped });
  }
  return { chunks: mine.length, computed, skipped, arrays: out.arrays };
}

export interface MergeResult {
  /** Objects per merged plane. */
  readonly objects: readonly number[];
  readonly array: string;
}

/**
 * Gives every object one id across chunk borders: reads each chunk's local components
 * once (in raster order, keeping only the last chunk row's bottom line and the previous
 * chunk's right column), unites ids that touch across a border (4-connectivity, so
 * objects across chunk corners are joined through their edges), numbers the sets
 * 1..m per plane in the order of their first chunk and local id, then writes
 * labels/NAME_instances/0 chunk by chunk. Memory: one chunk plus one image row and the
 * id tables, never the whole label image. Rerunning rewrites the same bytes.
 */
export async function mergeInstances(path: string, select: OmeZarrSelection = {}, name = 'unet'): Promise<MergeResult> {
  const img = await openOmeZarrImage(path, select);
  const names = zarrLayout(name);
  const format = img.info.zarrFormat;
  const store = new AtomicFileStore(path);
  const open = format === 2 ? zarr.open.v2 : zarr.open.v3;
  const local = await open(zarr.root(store).resolve(`${names.work}/local`), { kind: 'array' }).catch(() => {
    throw new Error(`mergeInstances: ${path} has no ${names.work}/local; run unet predict with --outputs including instances first`);
  });
  const chunkSide = local.chunks[1]!;
  const H = img.height;
  const W = img.width;
  if (local.shape[1] !== H || local.shape[2] !== W) throw new Error(`mergeInstances: ${names.work}/local is ${local.shape.join('x')}, the image level ${img.level} is ${H} x ${W}; merge the level that was predicted`);
  const workAttrs = JSON.parse(await readFile(join(path, names.work, format === 2 ? '.zattrs' : 'zarr.json'), 'utf8')) as Record<string, unknown>;
  const provenance = format === 2 ? workAttrs : ((workAttrs.attributes ?? {}) as Record<string, unknown>);
  const labelAxes = img.axes;
  const labelShape = img.axes.map((a, i) => (a === 'c' ? 1 : img.shape[i]!));
  const ms: NgffMultiscale = { name: names.instances, axes: axisObjects(img, labelAxes), datasets: [{ path: '0', coordinateTransformations: levelTransforms(img, labelAxes) }] };
  const imageLabel = { ...(format === 2 ? { version: '0.4' } : {}), source: { image: '../../' } };
  await ensureGroup(join(path, 'labels', names.instances), format, { ...multiscaleAttributes(img.info, ms, { 'image-label': imageLabel }), ...provenance });
  const target = await ensureArray(store, format, `labels/${names.instances}/0`, {
    shape: labelShape,
    chunks: labelAxes.map((a) => (a === 'y' ? Math.min(chunkSide, H) : a === 'x' ? Math.min(chunkSide, W) : 1)),
    dtype: 'uint32',
    dimensionNames: labelAxes,
  });
  const grid = chunkWindows([H, W], [chunkSide, chunkSide]);
  const [, gridCols] = chunkGridShape([H, W], [chunkSide, chunkSide]);
  const objects: number[] = [];
  for (const { t, z } of img.planes) {
    const plane = planeIndex(img, t, z);
    // Offsets: chunk k's local id j becomes offsets[k] + j.
    const offsets = new Uint32Array(grid.length + 1);
    for (const [k, c] of grid.entries()) {
      const marker = markerPath(img, names, plane, c);
      const text = await readFile(marker, 'utf8').catch(() => {
        throw new Error(`mergeInstances: ${path}: chunk ${c.row},${c.col} of plane ${plane} is not predicted yet (no ${marker}); run all unet predict --chunks jobs first`);
      });
      const m = JSON.parse(text) as { objects?: number };
      if (!Number.isInteger(m.objects) || m.objects! < 0) throw new Error(`mergeInstances: ${marker} has no object count`);
      offsets[k + 1] = offsets[k]! + m.objects!;
    }
    const total = offsets[grid.length]!;
    const uf = new UnionFind(total);
    const read = async (c: Chunk, k: number): Promise<Uint32Array> => {
      const w = c.window;
      const b = await readBlock(local, [plane, zarr.slice(w.top, w.top + w.height), zarr.slice(w.left, w.left + w.width)]);
      const ids = Uint32Array.from(b.data);
      const off = offsets[k]!;
      for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) ids[i] = ids[i]! + off;
      return ids;
    };
    const bottomLine = new Uint32Array(W);
    let rightColumn = new Uint32Array(0);
    for (const [k, c] of grid.entries()) {
      const { height: h, width: w, left } = c.window;
      const ids = await read(c, k);
      if (c.row > 0) uniteAcross(uf, bottomLine.subarray(left, left + w), ids.subarray(0, w));
      const leftColumn = Uint32Array.from({ length: h }, (_, y) => ids[y * w]!);
      if (c.col > 0) uniteAcross(uf, rightColumn, leftColumn);
      rightColumn = Uint32Array.from({ length: h }, (_, y) => ids[y * w + w - 1]!);
      bottomLine.set(ids.subarray((h - 1) * w, h * w), left);
      if (c.col === gridCols - 1) rightColumn = new Uint32Array(0);
    }
    const final = uf.relabel();
    let count = 0;
    for (const [k, c] of grid.entries()) {
      const ids = await read(c, k);
      for (let i = 0; i < ids.length; i++) {
        ids[i] = final[ids[i]!]!;
        if (ids[i]! > count) count = ids[i]!;
      }
      await writeBlock(target, selection(labelAxes, t, z, c.window, null), ids, [c.window.height, c.window.width]);
    }
    objects.push(count);
  }
  await addLabelNames(path, img.info, [names.instances]);
  return { objects, array: `labels/${names.instances}/0` };
}
