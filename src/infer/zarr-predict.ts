/**
 * Prediction of OME-Zarr images into the image's own store, chunk by chunk (Node only).
 *
 * Layout written into IMAGE.zarr (NGFF 0.4/Zarr v2 or 0.5/v3, as the image):
 *   labels/                      group; `labels` lists NAME_mask (and NAME_instances after merge)
 *   labels/NAME_mask/0           class index per pixel (uint8), image-label metadata, the image's axes with c = 1
 *   labels/NAME_instances/0      object ids (uint32), written by {@link mergeInstances}
 *   NAME_prob/0                  probabilities, c = classes (float32, or uint8/uint16 quantised)
 *   labels/NAME_mask/1, 2, ...   (and NAME_instances/1, ...) levels above 0 of the label pyramids (2x each, mode of 2 x 2), by {@link finalizeOmeZarr}
 *   unet_work/NAME/local/        per-chunk object ids (uint32), input of the merge
 *   unet_work/NAME/done/P.R.C.json   a chunk's completion marker: {"objects": n, "outputs": [...], "ring": ...}
 *
 * Exactness and resumability (see src/infer/chunks.ts): job I of N computes its block of
 * chunks of the output grid; a chunk is skipped when its marker exists; the marker is
 * written (atomically) after all the chunk's arrays, and each chunk key is written
 * atomically, so a killed job leaves every chunk either complete or to be recomputed, and
 * a recomputed chunk has the same bytes.
 *
 * Instances (src/infer/instances.ts' post-processing, made chunk-wise and exact):
 * - connected components: each chunk labels its own pixels; the merge unites ids that touch
 *   across chunk borders (4- or 8-connectivity), which is exact for objects of any size;
 * - watershed: the flood is not local (a pixel goes to the seed it is reached from first), but
 *   it runs inside each foreground component independently. So a chunk predicts itself plus a
 *   halo, and accepts the result only when every foreground component meeting the chunk (or
 *   the ring of pixels above and left of it) stays clear of the halo's inner edge: then those
 *   components lie whole in the window, and their objects are the whole image's. Otherwise the
 *   halo doubles (up to `maxHalo`, then an error). Touching objects cut by a border are matched
 *   not by adjacency (which would merge them) but by identity: the chunk records its labels of
 *   the ring (the row above and the column left of it, owned by earlier chunks), and the merge
 *   unites a ring label with the owner's label of the same pixel.
 * - min size and numbering: the merge sums each object's pixels over chunks, drops small ones
 *   and numbers the rest 1..n in raster order of their first pixel, as the whole-image path does,
 *   so the instance ids equal whole-image predict's.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { Normalization } from '../io/normalize.js';
import { MAX_SEED_EROSION } from '../io/model-format.js';
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
import { labelComponents, type Connectivity } from '../util/components.js';
import { alignedChunkSide, chunkGridShape, chunkWindows, jobChunks, numberSets, UnionFind, uniteAcross, type Chunk, type ChunkJob } from './chunks.js';
import { DEFAULT_INSTANCE_OPTIONS, instancesFromClassMask, objectPixels } from './instances.js';
import { classMask, DEFAULT_PREDICT_BATCH, predictBands, summedProbability } from './predict.js';
import type { TilePredictor } from './predictor.js';
import { quantizeProbability, labelColour } from './render.js';
import { normalizedSource, resolveNormalization } from './source.js';
import type { Size2, Window } from './tiling.js';

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
  /** How objects are formed (default: 4-connected components). */
  readonly instances?: ZarrInstanceOptions;
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

export interface ZarrInstanceOptions {
  /** Split touching objects by the seeded watershed of src/infer/instances.ts. Default false. */
  readonly watershed?: boolean;
  /** Classes whose summed probability seeds and guides the watershed; default the foreground classes. */
  readonly seedClasses?: readonly number[];
  /** Default 0.9. */
  readonly seedThreshold?: number;
  /** Seed erosion radius in pixels (InstanceOptions.seedErosion); default 0. */
  readonly seedErosion?: number;
  /** Object pixels: summed foreground probability above this (objectPixels in src/infer/instances.ts). Default: the argmax. */
  readonly foregroundThreshold?: number;
  /** Objects with fewer pixels (over the whole image) are dropped. Default 0. */
  readonly minSize?: number;
  /** Default 4. */
  readonly connectivity?: Connectivity;
  /** Watershed: context around each chunk to start with, in pixels. Default 64. */
  readonly halo?: number;
  /** Watershed: the largest halo tried before an object reaching its edge is an error. Default the chunk side. */
  readonly maxHalo?: number;
}

/** The post-processing as recorded in the work group (every job and the merge must agree on it). */
interface InstanceSettings {
  readonly foregroundClasses: readonly number[];
  readonly watershed: boolean;
  readonly seedClasses: readonly number[];
  readonly seedThreshold: number;
  /** Absent: 0 (work groups written before seed erosion existed read the same). */
  readonly seedErosion?: number;
  readonly minSize: number;
  readonly connectivity: Connectivity;
  readonly foregroundThreshold?: number;
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

/** The level's scale for a derived array, times `factor` in y and x (label pyramid levels); c gets 1. */
function levelTransforms(img: OmeZarrImage, axes: readonly string[], factor = 1): Record<string, unknown>[] {
  const ds = img.info.multiscale.datasets[img.level]!;
  const scaleT = ds.coordinateTransformations?.find((t) => t.type === 'scale') as { scale?: number[] } | undefined;
  const byAxis = new Map(img.axes.map((a, i) => [a, scaleT?.scale?.[i] ?? 1]));
  return [{ type: 'scale', scale: axes.map((a) => (a === 'c' ? 1 : (byAxis.get(a) ?? 1) * (a === 'y' || a === 'x' ? factor : 1))) }];
}

/**
 * Levels of a label pyramid over an H x W plane with chunks of `chunkSide`: halving (rounding
 * up) until the coarsest level fits one chunk.
 *
 * @example pyramidLevels(45, 70, 16) // 4: 45 x 70, 23 x 35, 12 x 18, 6 x 9
 * @example pyramidLevels(1000, 800, 1024) // 1
 */
export function pyramidLevels(H: number, W: number, chunkSide: number): number {
  let levels = 1;
  while (Math.max(Math.ceil(H / 2 ** (levels - 1)), Math.ceil(W / 2 ** (levels - 1))) > chunkSide) levels++;
  return levels;
}

function axisObjects(img: OmeZarrImage, axes: readonly string[]): NgffMultiscale['axes'] {
  const byName = new Map(img.info.multiscale.axes.map((a) => [a.name, a]));
  return axes.map((a) => byName.get(a) ?? { name: a, type: a === 'c' ? 'channel' : a === 't' ? 'time' : 'space' });
}

/**
 * A label image group (image-label metadata, every pyramid level listed from the start so that
 * the metadata never changes) and its arrays; returns level 0. Levels above 0 stay empty (0)
 * until {@link finalizeOmeZarr} fills them.
 */
async function ensureLabelPyramid(
  img: OmeZarrImage,
  store: AtomicFileStore,
  label: string,
  dtype: 'uint8' | 'uint32',
  chunkSide: number,
  colors: readonly Record<string, unknown>[] | undefined,
  attributes: Record<string, unknown>,
): Promise<Awaited<ReturnType<typeof ensureArray>>> {
  const format = img.info.zarrFormat;
  const axes = img.axes;
  const levels = pyramidLevels(img.height, img.width, chunkSide);
  const ms: NgffMultiscale = { name: label, axes: axisObjects(img, axes), datasets: Array.from({ length: levels }, (_, l) => ({ path: String(l), coordinateTransformations: levelTransforms(img, axes, 2 ** l) })) };
  const imageLabel = { ...(format === 2 ? { version: '0.4' } : {}), ...(colors ? { colors } : {}), source: { image: '../../' } };
  await ensureGroup(join(img.info.path, 'labels', label), format, { ...multiscaleAttributes(img.info, ms, { 'image-label': imageLabel }), ...attributes });
  let base: Awaited<ReturnType<typeof ensureArray>> | null = null;
  for (let l = 0; l < levels; l++) {
    const h = Math.ceil(img.height / 2 ** l);
    const w = Math.ceil(img.width / 2 ** l);
    const shape = axes.map((a, i) => (a === 'c' ? 1 : a === 'y' ? h : a === 'x' ? w : img.shape[i]!));
    const chunks = axes.map((a) => (a === 'y' ? Math.min(chunkSide, h) : a === 'x' ? Math.min(chunkSide, w) : 1));
    const arr = await ensureArray(store, format, `labels/${label}/${l}`, { shape, chunks, dtype, dimensionNames: axes });
    base ??= arr;
  }
  return base!;
}

/** Arrays and metadata of the outputs, created (or checked) identically by every job. */
async function prepareOutputs(img: OmeZarrImage, options: ZarrPredictOptions & { settings: InstanceSettings | null }, K: number, chunkSide: number) {
  const path = img.info.path;
  const format = img.info.zarrFormat;
  const store = new AtomicFileStore(path);
  const names = zarrLayout(options.name);
  const kinds = new Set(options.outputs);
  const H = img.height;
  const W = img.width;
  const chunksFor = (axes: readonly string[], cSize: number): number[] => axes.map((a) => (a === 'y' || a === 'x' ? Math.min(chunkSide, a === 'y' ? H : W) : a === 'c' ? cSize : 1));
  const provenance = { 'unet-ts': { ...(options.provenance ?? {}), chunk: chunkSide, classes: options.classNames } };
  const labelGroup = async (label: string, dtype: 'uint8' | 'uint32', colours: boolean) => {
    const colors = colours ? Array.from({ length: K }, (_, k) => ({ 'label-value': k, rgba: k === 0 ? [0, 0, 0, 0] : [...labelColour(k, 'classes'), 255] })) : undefined;
    return ensureLabelPyramid(img, store, label, dtype, chunkSide, colors, provenance);
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
    await ensureGroup(join(path, names.work), format, { ...provenance, instances: options.settings });
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
  const done = (await readMarker(marker))?.outputs ?? [];
  return outputs.every((o) => done.includes(o));
}

async function readMarker(marker: string): Promise<Marker | null> {
  const text = await readFile(marker, 'utf8').catch(() => null);
  return text === null ? null : (JSON.parse(text) as Marker);
}

/** `w` grown by `halo` pixels on every side, clipped to the H x W image. */
function expandWindow(w: Window, halo: number, H: number, W: number): Window {
  const top = Math.max(0, w.top - halo);
  const left = Math.max(0, w.left - halo);
  return { top, left, height: Math.min(H, w.top + w.height + halo) - top, width: Math.min(W, w.left + w.width + halo) - left };
}

function instanceSettings(o: ZarrInstanceOptions, fg: readonly number[], K: number): InstanceSettings {
  const seedClasses = o.seedClasses ?? fg;
  for (const c of seedClasses) if (!Number.isInteger(c) || c < 0 || c >= K) throw new Error(`predictOmeZarr: seed class ${c} is not one of 0..${K - 1}`);
  const seedThreshold = o.seedThreshold ?? DEFAULT_INSTANCE_OPTIONS.seedThreshold;
  if (!Number.isFinite(seedThreshold)) throw new Error(`predictOmeZarr: seedThreshold must be a number, got ${seedThreshold}`);
  const minSize = o.minSize ?? DEFAULT_INSTANCE_OPTIONS.minSize;
  if (!Number.isInteger(minSize) || minSize < 0) throw new Error(`predictOmeZarr: minSize must be a non-negative integer, got ${minSize}`);
  const connectivity = o.connectivity ?? DEFAULT_INSTANCE_OPTIONS.connectivity;
  if (connectivity !== 4 && connectivity !== 8) throw new Error(`predictOmeZarr: connectivity must be 4 or 8, got ${String(connectivity)}`);
  const t = o.foregroundThreshold;
  if (t !== undefined && !(t >= 0 && t < 1)) throw new Error(`predictOmeZarr: foregroundThreshold must be in [0, 1), got ${t}`);
  const erosion = o.seedErosion ?? 0;
  if (!(erosion >= 0 && erosion <= MAX_SEED_EROSION)) throw new Error(`predictOmeZarr: seedErosion must be in [0, ${MAX_SEED_EROSION}] pixels, got ${erosion}`);
  return {
    foregroundClasses: [...fg], watershed: o.watershed ?? false, seedClasses: [...seedClasses], seedThreshold, ...(erosion > 0 ? { seedErosion: erosion } : {}), minSize, connectivity,
    ...(t !== undefined ? { foregroundThreshold: t } : {}),
  };
}

/** A chunk's objects: ids of its own pixels (1..objects) and, for the watershed, its labels of the ring. */
interface ChunkObjects {
  readonly ids: Uint32Array;
  readonly objects: number;
  /** The row above the chunk (columns left - 1 .. left + width) and the column left of it (its rows); 0 outside the image. */
  readonly ring?: { readonly top: number[]; readonly left: number[] };
}

/**
 * Watershed objects of chunk `w` from the probabilities of the window `E` around it, or null
 * when a foreground component meeting the chunk or its ring reaches an edge of `E` inside the
 * image: that component may go on beyond the window, and its flood is not known here.
 */
function watershedChunk(probs: Float32Array, E: Window, w: Window, K: number, s: InstanceSettings, H: number, W: number): ChunkObjects | null {
  const n = E.height * E.width;
  const mask = classMask(probs, K, new Uint16Array(n));
  // The summation order of src/infer/predict.ts' maps, so the values are the same floats.
  const seed = summedProbability(probs, K, s.seedClasses);
  const fgProbability = s.foregroundThreshold !== undefined ? summedProbability(probs, K, s.foregroundClasses) : null;
  const fg = objectPixels(mask, fgProbability, s);
  const comps = labelComponents(fg, E.height, E.width, s.connectivity);
  const open = new Uint8Array(comps.count + 1);
  const mark = (i: number): void => {
    open[comps.labels[i]!] = 1;
  };
  if (E.top > 0) for (let x = 0; x < E.width; x++) mark(x);
  if (E.top + E.height < H) for (let x = 0; x < E.width; x++) mark((E.height - 1) * E.width + x);
  if (E.left > 0) for (let y = 0; y < E.height; y++) mark(y * E.width);
  if (E.left + E.width < W) for (let y = 0; y < E.height; y++) mark(y * E.width + E.width - 1);
  open[0] = 0;
  const at = (y: number, x: number): number => (y - E.top) * E.width + (x - E.left);
  for (let y = Math.max(0, w.top - 1); y < w.top + w.height; y++) {
    for (let x = Math.max(0, w.left - 1); x <= Math.min(W - 1, w.left + w.width); x++) if (open[comps.labels[at(y, x)]!]) return null;
  }
  const labels = instancesFromClassMask(mask, seed, E.height, E.width, { ...s, watershed: true, minSize: 0 }, s.connectivity, fgProbability).labels;
  let max = 0;
  for (const l of labels) if (l > max) max = l;
  const map = new Uint32Array(max + 1);
  let next = 0;
  const local = (y: number, x: number): number => {
    if (y < 0 || x < 0 || x >= W) return 0;
    const l = labels[at(y, x)]!;
    if (l === 0) return 0;
    if (map[l] === 0) map[l] = ++next;
    return map[l]!;
  };
  const ids = new Uint32Array(w.height * w.width);
  for (let y = 0; y < w.height; y++) for (let x = 0; x < w.width; x++) ids[y * w.width + x] = local(w.top + y, w.left + x);
  const top = Array.from({ length: w.width + 2 }, (_, j) => local(w.top - 1, w.left - 1 + j));
  const left = Array.from({ length: w.height }, (_, y) => local(w.top + y, w.left - 1));
  return { ids, objects: next, ring: { top, left } };
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
  for (const c of fgClasses) {
    if (!Number.isInteger(c) || c < 0 || c >= K) throw new Error(`predictOmeZarr: foreground class ${c} is not one of 0..${K - 1}`);
  }
  const chunkSide = alignedChunkSide(options.chunkSize ?? 1024, predictor.alignment);
  const settings = options.outputs.includes('instances') ? instanceSettings(options.instances ?? {}, fgClasses, K) : null;
  const maxHalo = options.instances?.maxHalo ?? chunkSide;
  const firstHalo = Math.min(maxHalo, options.instances?.halo ?? 64);
  if (settings?.watershed && !(Number.isInteger(firstHalo) && firstHalo >= 1)) throw new Error(`predictOmeZarr: the watershed halo must be a positive integer, got ${firstHalo} (halo ${options.instances?.halo}, maxHalo ${maxHalo})`);
  // The tile fixes the tile grid and so every value: chunks of runs with other tiles must not mix.
  const out = await prepareOutputs(img, { ...options, settings, provenance: { ...options.provenance, tile: predictor.inputShape } }, K, chunkSide);
  const H = img.height;
  const W = img.width;
  const all = img.planes.flatMap((p, i) => chunkWindows([H, W], [chunkSide, chunkSide], i));
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
    const watershed = settings?.watershed === true;
    // The watershed predicts a halo around the chunk too, grown until its objects are whole.
    let halo = watershed ? firstHalo : 0;
    let E: Window;
    let probsE: Float32Array;
    let objects: ChunkObjects | null = null;
    for (;;) {
      const win = expandWindow(w, halo, H, W);
      const buf = new Float32Array(win.height * win.width * K);
      await predictBands(source, predictor, (band) => {
        buf.set(band.data, (band.top - win.top) * win.width * K);
      }, { region: win, batchSize: options.batchSize ?? DEFAULT_PREDICT_BATCH, ...(options.signal ? { signal: options.signal } : {}) });
      E = win;
      probsE = buf;
      if (!watershed) break;
      objects = watershedChunk(probsE, E, w, K, settings, H, W);
      if (objects) break;
      if (halo >= maxHalo) {
        throw new Error(`predictOmeZarr: ${path}: chunk ${chunk.row},${chunk.col} of plane ${plane}: a foreground region reaches beyond a ${halo}-pixel halo, and the watershed needs each region whole; allow a larger halo (--max-halo) or use connected components (--no-watershed, exact at any size)`);
      }
      halo = Math.min(maxHalo, halo * 2);
    }
    const n2 = w.height * w.width;
    const probs = new Float32Array(n2 * K);
    for (let y = 0; y < w.height; y++) {
      const from = ((w.top - E.top + y) * E.width + (w.left - E.left)) * K;
      probs.set(probsE.subarray(from, from + w.width * K), y * w.width * K);
    }
    const mask = classMask(probs, K, new Uint8Array(n2));
    if (out.mask) await writeBlock(out.mask, selection(img.axes, t, z, w, null), mask, [w.height, w.width]);
    if (out.prob) {
      const planes = new Float32Array(K * n2);
      for (let k = 0; k < K; k++) for (let i = 0; i < n2; i++) planes[k * n2 + i] = probs[i * K + k]!;
      const dtype = options.probDtype ?? 'float32';
      const data = dtype === 'float32' ? planes : quantizeProbability(planes, dtype === 'uint8' ? 8 : 16);
      await writeBlock(out.prob, selection(out.probAxes!, t, z, w, K), data, [K, w.height, w.width]);
    }
    if (out.local && !objects) {
      const fg = objectPixels(mask, settings!.foregroundThreshold !== undefined ? summedProbability(probs, K, settings!.foregroundClasses) : null, settings!);
      const comp = labelComponents(fg, w.height, w.width, settings!.connectivity);
      objects = { ids: Uint32Array.from(comp.labels), objects: comp.count };
    }
    if (out.local) await writeBlock(out.local, [plane, zarr.slice(w.top, w.top + w.height), zarr.slice(w.left, w.left + w.width)], objects!.ids, [w.height, w.width]);
    // Outputs an earlier run wrote for this chunk and this one did not touch stay done (with their object data).
    const before = await readMarker(marker);
    const outputs = [...new Set([...(before?.outputs ?? []), ...options.outputs])].sort();
    const doc = objects ? { objects: objects.objects, outputs, ...(objects.ring ? { ring: objects.ring } : {}) } : { objects: before?.objects ?? 0, outputs, ...(before?.ring ? { ring: before.ring } : {}) };
    await writeFileAtomic(marker, `${JSON.stringify(doc)}\n`);
    computed++;
    options.onChunk?.({ done: n + 1, total: mine.length, skipped });
  }
  return { chunks: mine.length, computed, skipped, arrays: out.arrays };
}

/**
 * The mode of each 2 x 2 block of an h x w label map (the most frequent value; ties go to
 * the first in the block's raster order; blocks cut by the edge use the pixels they have):
 * the next level of a label pyramid. Unlike averaging it makes no labels that do not exist,
 * and unlike taking every second pixel it keeps a thin object that misses that pixel.
 *
 * @example downsampleLabels(Uint8Array.of(0, 5, 5,  0, 0, 7), 2, 3) // [0, 5]: blocks {0, 5, 0, 0} and {5, 7} (a tie: the first)
 */
export function downsampleLabels<T extends Uint8Array | Uint32Array>(labels: T, h: number, w: number): T {
  const oh = Math.ceil(h / 2);
  const ow = Math.ceil(w / 2);
  const out = new (labels.constructor as new (n: number) => T)(oh * ow);
  const v = [0, 0, 0, 0];
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let m = 0;
      for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) if (2 * y + dy < h && 2 * x + dx < w) v[m++] = labels[(2 * y + dy) * w + 2 * x + dx]!;
      let best = v[0]!;
      let bestCount = 0;
      for (let a = 0; a < m; a++) {
        let c = 0;
        for (let b = 0; b < m; b++) if (v[b] === v[a]) c++;
        if (c > bestCount) {
          best = v[a]!;
          bestCount = c;
        }
      }
      out[y * ow + x] = best;
    }
  }
  return out;
}

/** Fills levels 1.. of the label pyramid `labels/LABEL` from level 0, level by level and chunk by chunk, for the selected planes. */
async function fillLabelPyramid(img: OmeZarrImage, label: string): Promise<void> {
  const store = new AtomicFileStore(img.info.path);
  const open = img.info.zarrFormat === 2 ? zarr.open.v2 : zarr.open.v3;
  const level = (l: number): Promise<zarr.Array<zarr.DataType, AtomicFileStore>> => open(zarr.root(store).resolve(`labels/${label}/${l}`), { kind: 'array' }) as Promise<zarr.Array<zarr.DataType, AtomicFileStore>>;
  const yAxis = img.axes.indexOf('y');
  const base = await level(0);
  const chunkSide = base.chunks[yAxis]!;
  const levels = pyramidLevels(img.height, img.width, chunkSide);
  let prev = base;
  for (let l = 1; l < levels; l++) {
    const arr = await level(l);
    const ph = prev.shape[yAxis]!;
    const pw = prev.shape[yAxis + 1]!;
    for (const { t, z } of img.planes) {
      for (const c of chunkWindows([Math.ceil(ph / 2), Math.ceil(pw / 2)], [chunkSide, chunkSide])) {
        const w = c.window;
        const src: Window = { top: 2 * w.top, left: 2 * w.left, height: Math.min(2 * w.height, ph - 2 * w.top), width: Math.min(2 * w.width, pw - 2 * w.left) };
        const b = await readBlock(prev, selection(img.axes, t, z, src, null));
        const data = b.data instanceof Uint8Array ? b.data : Uint32Array.from(b.data);
        await writeBlock(arr, selection(img.axes, t, z, w, null), downsampleLabels(data, src.height, src.width), [w.height, w.width]);
      }
    }
    prev = arr;
  }
}

export interface MergeResult {
  /** Objects per merged plane. */
  readonly objects: readonly number[];
  readonly array: string;
}

interface Marker {
  readonly objects?: number;
  readonly outputs?: string[];
  readonly ring?: { readonly top: number[]; readonly left: number[] };
}

/**
 * Gives every object one id across chunk borders and writes labels/NAME_instances (all its
 * pyramid levels). Reads each chunk's ids once (in raster order, keeping the last chunk row's
 * bottom line and the previous chunk's right column) and unites provisional ids: for connected
 * components those that touch across a border (with the predict jobs' connectivity; 8 joins
 * diagonals, chunk corners included), for the watershed a chunk's ring label with the owner's
 * label of the same pixel (see the module comment). Then sizes are summed per object, objects
 * under the minimum size dropped, and the rest numbered 1..m per plane in raster order of
 * their first pixel: the ids whole-image instances get. Memory: one chunk plus two image rows
 * and the id tables, never the whole label image. Rerunning rewrites the same bytes.
 *
 * `connectivity`, when given, must be the one the chunks were labelled with.
 */
export async function mergeInstances(path: string, select: OmeZarrSelection = {}, name = 'unet', options: { readonly connectivity?: Connectivity } = {}): Promise<MergeResult> {
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
  const { instances, ...provenance } = format === 2 ? workAttrs : ((workAttrs.attributes ?? {}) as Record<string, unknown>);
  const settings = instances as InstanceSettings | undefined;
  const connectivity = settings?.connectivity ?? 4;
  if (options.connectivity !== undefined && options.connectivity !== connectivity) {
    throw new Error(`mergeInstances: ${path}: the chunks were labelled with ${connectivity}-connectivity (unet predict --connectivity ${connectivity}); merging with ${options.connectivity} would join pixels inside and across chunks differently`);
  }
  const target = await ensureLabelPyramid(img, store, names.instances, 'uint32', chunkSide, undefined, provenance);
  const grid = chunkWindows([H, W], [chunkSide, chunkSide]);
  const [, gridCols] = chunkGridShape([H, W], [chunkSide, chunkSide]);
  const objects: number[] = [];
  for (const { t, z } of img.planes) {
    const plane = planeIndex(img, t, z);
    // Offsets: chunk k's local id j becomes offsets[k] + j.
    const offsets = new Uint32Array(grid.length + 1);
    const markers: Marker[] = [];
    for (const [k, c] of grid.entries()) {
      const marker = markerPath(img, names, plane, c);
      const text = await readFile(marker, 'utf8').catch(() => {
        throw new Error(`mergeInstances: ${path}: chunk ${c.row},${c.col} of plane ${plane} is not predicted yet (no ${marker}); run all unet predict --chunks jobs first`);
      });
      const m = JSON.parse(text) as Marker;
      if (!Number.isInteger(m.objects) || m.objects! < 0) throw new Error(`mergeInstances: ${marker} has no object count`);
      if (settings?.watershed && !m.ring) throw new Error(`mergeInstances: ${marker} has no ring labels, but the chunks were split by the watershed`);
      markers.push(m);
      offsets[k + 1] = offsets[k]! + m.objects!;
    }
    const total = offsets[grid.length]!;
    const uf = new UnionFind(total);
    const size = new Float64Array(total + 1);
    const first = new Float64Array(total + 1).fill(Infinity);
    const read = async (c: Chunk, k: number): Promise<Uint32Array> => {
      const w = c.window;
      const b = await readBlock(local, [plane, zarr.slice(w.top, w.top + w.height), zarr.slice(w.left, w.left + w.width)]);
      const ids = Uint32Array.from(b.data);
      const off = offsets[k]!;
      for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) ids[i] = ids[i]! + off;
      return ids;
    };
    // The last row of the chunk row above (complete) and of the current one (being filled).
    let above = new Uint32Array(W);
    let below = new Uint32Array(W);
    let rightColumn = new Uint32Array(0);
    const byRing = (ringId: number, ownerId: number, off: number, where: string): void => {
      if ((ringId === 0) !== (ownerId === 0)) throw new Error(`mergeInstances: ${path}: plane ${plane}, ${where}: the chunk's ring and the pixel's owner disagree on foreground (chunks of different runs?); delete ${names.work} and the labels and predict again`);
      if (ringId !== 0) uf.union(ringId + off, ownerId);
    };
    for (const [k, c] of grid.entries()) {
      const { height: h, width: w, top, left } = c.window;
      if (c.col === 0 && c.row > 0) [above, below] = [below, above];
      const ids = await read(c, k);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const id = ids[y * w + x]!;
          if (id === 0) continue;
          size[id] = size[id]! + 1;
          if (first[id] === Infinity) first[id] = (top + y) * W + left + x;
        }
      }
      const leftColumn = Uint32Array.from({ length: h }, (_, y) => ids[y * w]!);
      const ring = markers[k]!.ring;
      if (settings?.watershed && ring) {
        const off = offsets[k]!;
        if (c.row > 0) for (let j = 0; j < w + 2; j++) {
          const x = left - 1 + j;
          if (x >= 0 && x < W) byRing(ring.top[j]!, above[x]!, off, `pixel (${top - 1}, ${x})`);
        }
        if (c.col > 0) for (let y = 0; y < h; y++) byRing(ring.left[y]!, rightColumn[y]!, off, `pixel (${top + y}, ${left - 1})`);
      } else {
        if (c.row > 0) uniteAcross(uf, above, ids.subarray(0, w), connectivity, left);
        if (c.col > 0) uniteAcross(uf, rightColumn, leftColumn, connectivity);
      }
      rightColumn = Uint32Array.from({ length: h }, (_, y) => ids[y * w + w - 1]!);
      below.set(ids.subarray((h - 1) * w, h * w), left);
      if (c.col === gridCols - 1) rightColumn = new Uint32Array(0);
    }
    const { ids: final, count } = numberSets(uf, size, first, settings?.minSize ?? 0);
    for (const [k, c] of grid.entries()) {
      const ids = await read(c, k);
      for (let i = 0; i < ids.length; i++) ids[i] = final[ids[i]!]!;
      await writeBlock(target, selection(img.axes, t, z, c.window, null), ids, [c.window.height, c.window.width]);
    }
    objects.push(count);
  }
  await fillLabelPyramid(img, names.instances);
  await addLabelNames(path, img.info, [names.instances]);
  return { objects, array: `labels/${names.instances}/0` };
}

export interface FinalizeResult {
  /** Objects per plane, when instances were predicted. */
  readonly objects?: readonly number[];
  /** Label arrays completed (every level). */
  readonly labels: readonly string[];
}

/**
 * The step after all `--chunks` jobs (one process runs it itself): fills the label mask's
 * pyramid levels above 0 and, when instances were predicted, merges them
 * ({@link mergeInstances}, with their pyramid). Everything is computed from level 0 and the
 * chunks' work files, so N jobs + finalize write the bytes one process writes.
 */
export async function finalizeOmeZarr(path: string, select: OmeZarrSelection = {}, name = 'unet', options: { readonly connectivity?: Connectivity } = {}): Promise<FinalizeResult> {
  const img = await openOmeZarrImage(path, select);
  const names = zarrLayout(name);
  const labels: string[] = [];
  const hasMask = await readFile(join(path, 'labels', names.mask, img.info.zarrFormat === 2 ? '.zattrs' : 'zarr.json')).then(() => true, () => false);
  if (hasMask) {
    const store = new AtomicFileStore(path);
    const open = img.info.zarrFormat === 2 ? zarr.open.v2 : zarr.open.v3;
    const base = await open(zarr.root(store).resolve(`labels/${names.mask}/0`), { kind: 'array' });
    const side = base.chunks[img.axes.indexOf('y')]!;
    for (const { t, z } of img.planes) {
      for (const c of chunkWindows([img.height, img.width], [side, side])) {
        const marker = markerPath(img, names, planeIndex(img, t, z), c);
        if (!(await markerCovers(marker, ['mask']))) throw new Error(`finalizeOmeZarr: ${path}: the mask of chunk ${c.row},${c.col} (t ${t}, z ${z}) is not predicted yet (${marker}); run all unet predict --chunks jobs first`);
      }
    }
    await fillLabelPyramid(img, names.mask);
    labels.push(`labels/${names.mask}`);
  }
  const hasInstances = await readFile(join(path, names.work, 'local', img.info.zarrFormat === 2 ? '.zarray' : 'zarr.json')).then(() => true, () => false);
  if (!hasInstances) return { labels };
  const merged = await mergeInstances(path, select, name, options);
  labels.push(`labels/${names.instances}`);
  return { objects: merged.objects, labels };
}
