/**
 * OME-Zarr (NGFF) images read by region and written chunk by chunk, on zarrita.
 *
 * Formats: NGFF 0.4 on Zarr v2 (metadata in `.zattrs`, `multiscales`) and NGFF 0.5 on
 * Zarr v3 (`zarr.json`, `attributes.ome.multiscales`). Codecs come with zarrita: gzip and
 * zlib its own, blosc, zstd and lz4 through the `numcodecs` npm package (WebAssembly).
 *
 * Writes are atomic per key (temp file, then rename, src/io/atomic.ts): a chunk or a
 * metadata document is either absent or complete, never half-written, so several
 * processes can fill disjoint chunks of one store and a killed job leaves nothing torn.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import FileSystemStore from '@zarrita/storage/fs';
import * as zarr from 'zarrita';
import { writeFileAtomic } from './atomic.js';
import type { PixelArray, Raster } from './raster.js';
import { checkRegion, type RegionSource } from '../infer/source.js';

export type ZarrFormat = 2 | 3;
export type OutputDtype = 'uint8' | 'uint16' | 'uint32' | 'float32';

/** A directory store whose writes are atomic renames (see the module comment). */
export class AtomicFileStore extends FileSystemStore {
  readonly dir: string;
  constructor(dir: string) {
    super(dir);
    this.dir = dir;
  }
  override async set(key: string, value: Uint8Array): Promise<void> {
    const path = join(this.dir, key.replace(/^\/+/, ''));
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, value);
  }
}

export interface NgffAxis {
  readonly name: string;
  readonly type?: string;
  readonly unit?: string;
}

export interface NgffDataset {
  readonly path: string;
  readonly coordinateTransformations?: readonly Record<string, unknown>[];
}

export interface NgffMultiscale {
  readonly version?: string;
  readonly name?: string;
  readonly axes: readonly NgffAxis[];
  readonly datasets: readonly NgffDataset[];
}

/** Where a multiscale image lives and what it holds. */
export interface OmeZarrInfo {
  readonly path: string;
  readonly zarrFormat: ZarrFormat;
  /** '0.4' or '0.5'. */
  readonly ngffVersion: string;
  readonly multiscale: NgffMultiscale;
  /** The group's attributes (for 0.5, what is under `ome` sits in `attributes.ome`). */
  readonly attributes: Record<string, unknown>;
}

/** Which plane of which level to read. */
export interface OmeZarrSelection {
  /** Multiscale level (index into datasets); default 0, full resolution. */
  readonly level?: number;
  /** One channel; default all channels (the model must take that many). */
  readonly channel?: number;
  readonly z?: number;
  readonly t?: number;
}

/** Reads the NGFF group metadata at `path` (0.4/v2 or 0.5/v3). */
export async function readOmeZarrInfo(path: string): Promise<OmeZarrInfo> {
  const v3 = await readJson(join(path, 'zarr.json'));
  if (v3) {
    const attrs = (v3.attributes ?? {}) as Record<string, unknown>;
    const ome = (attrs.ome ?? {}) as { version?: string; multiscales?: NgffMultiscale[] };
    const ms = ome.multiscales?.[0];
    if (!ms) throw new Error(`readOmeZarrInfo: ${path}/zarr.json has no attributes.ome.multiscales (not an NGFF 0.5 image)`);
    return { path, zarrFormat: 3, ngffVersion: ome.version ?? '0.5', multiscale: checkMultiscale(ms, path), attributes: attrs };
  }
  const attrs = await readJson(join(path, '.zattrs'));
  if (!attrs) throw new Error(`readOmeZarrInfo: ${path} has neither zarr.json (Zarr v3) nor .zattrs (Zarr v2); not an OME-Zarr image`);
  const list = attrs.multiscales as NgffMultiscale[] | undefined;
  const ms = list?.[0];
  if (!ms) throw new Error(`readOmeZarrInfo: ${path}/.zattrs has no multiscales (not an NGFF image)`);
  return { path, zarrFormat: 2, ngffVersion: ms.version ?? '0.4', multiscale: checkMultiscale(ms, path), attributes: attrs };
}

function checkMultiscale(ms: NgffMultiscale, path: string): NgffMultiscale {
  if (!Array.isArray(ms.axes) || !Array.isArray(ms.datasets) || ms.datasets.length === 0) {
    throw new Error(`readOmeZarrInfo: ${path}: multiscales[0] needs axes and at least one dataset`);
  }
  const names = ms.axes.map((a) => (typeof a === 'string' ? a : a.name));
  const n = names.length;
  if (names[n - 2] !== 'y' || names[n - 1] !== 'x') throw new Error(`readOmeZarrInfo: ${path}: the last two axes must be y and x, got ${names.join(',')}`);
  for (const a of names.slice(0, -2)) if (!['t', 'c', 'z'].includes(a)) throw new Error(`readOmeZarrInfo: ${path}: axis "${a}" is not supported (t, c, z, y, x)`);
  return { ...ms, axes: names.map((name, i) => (typeof ms.axes[i] === 'string' ? { name } : ms.axes[i]!)) };
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`zarr: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** One level of an OME-Zarr image, opened for region reads of its planes. */
export interface OmeZarrImage {
  readonly info: OmeZarrInfo;
  readonly level: number;
  readonly array: zarr.Array<zarr.DataType, AtomicFileStore>;
  /** The level's shape, in axis order. */
  readonly shape: readonly number[];
  readonly axes: readonly string[];
  readonly height: number;
  readonly width: number;
  /** Channels a plane source delivers: 1 with a channel selected, else the c axis size (1 without one). */
  readonly channels: number;
  /** The (t, z) planes to predict: the selected one, or all of them. */
  readonly planes: readonly { readonly t: number; readonly z: number }[];
  /** A region source for one plane. */
  plane(t: number, z: number): RegionSource;
}

export async function openOmeZarrImage(path: string, selection: OmeZarrSelection = {}): Promise<OmeZarrImage> {
  const info = await readOmeZarrInfo(path);
  const level = selection.level ?? 0;
  const ds = info.multiscale.datasets;
  if (!Number.isInteger(level) || level < 0 || level >= ds.length) throw new Error(`openOmeZarrImage: ${path}: level ${level} does not exist (0..${ds.length - 1})`);
  const store = new AtomicFileStore(path);
  const root = zarr.root(store);
  const open = info.zarrFormat === 2 ? zarr.open.v2 : zarr.open.v3;
  const array = await open(root.resolve(ds[level]!.path), { kind: 'array' });
  const axes = info.multiscale.axes.map((a) => a.name);
  const shape = array.shape;
  if (shape.length !== axes.length) throw new Error(`openOmeZarrImage: ${path}/${ds[level]!.path} has ${shape.length} dimensions for ${axes.length} axes`);
  const size = (name: string): number => (axes.includes(name) ? shape[axes.indexOf(name)]! : 1);
  const pick = (name: 't' | 'z' | 'channel', axis: string): number | undefined => {
    const v = selection[name];
    if (v === undefined) return undefined;
    if (!axes.includes(axis) || !Number.isInteger(v) || v < 0 || v >= size(axis)) throw new Error(`openOmeZarrImage: ${path}: ${name} ${v} is out of range (axis ${axis} has ${axes.includes(axis) ? size(axis) : 0} entries)`);
    return v;
  };
  const channel = pick('channel', 'c');
  const t0 = pick('t', 't');
  const z0 = pick('z', 'z');
  const planes: { t: number; z: number }[] = [];
  for (let t = 0; t < size('t'); t++) for (let z = 0; z < size('z'); z++) if ((t0 === undefined || t === t0) && (z0 === undefined || z === z0)) planes.push({ t, z });
  const height = shape[axes.length - 2]!;
  const width = shape[axes.length - 1]!;
  const channels = channel === undefined ? size('c') : 1;
  const image: OmeZarrImage = {
    info,
    level,
    array: array as zarr.Array<zarr.DataType, AtomicFileStore>,
    shape,
    axes,
    height,
    width,
    channels,
    planes,
    plane(t: number, z: number): RegionSource {
      const name = `${path} (level ${level}${axes.includes('t') ? `, t ${t}` : ''}${axes.includes('z') ? `, z ${z}` : ''}${channel !== undefined ? `, channel ${channel}` : ''})`;
      return {
        height,
        width,
        channels,
        name,
        async readRegion(top, left, h, w) {
          checkRegion(this, top, left, h, w, 'omeZarr.readRegion');
          const sel = axes.map((a) => (a === 't' ? t : a === 'z' ? z : a === 'c' ? (channel ?? null) : a === 'y' ? zarr.slice(top, top + h) : zarr.slice(left, left + w)));
          const got = await zarr.get(array, sel);
          return toRaster(got.data as ArrayLike<number> & { constructor: unknown }, h, w, channels, `${name}`);
        },
      };
    },
  };
  return image;
}

/**
 * zarrita's C-order result (channels first when all channels are read) as an H x W x C
 * raster. 8/16-bit unsigned and int32/float32 keep their type; other integers become
 * Int32Array and float64 Float32Array (Raster's pixel types).
 */
function toRaster(data: ArrayLike<number> & { constructor: unknown }, h: number, w: number, c: number, name: string): Raster<PixelArray> {
  const n = h * w * c;
  if (data.length !== n) throw new Error(`omeZarr.readRegion: ${name}: got ${data.length} values for ${h} x ${w} x ${c}`);
  let Ctor: new (n: number) => PixelArray;
  if (data instanceof Uint8Array || data instanceof Uint16Array || data instanceof Int32Array || data instanceof Float32Array) Ctor = data.constructor as new (n: number) => PixelArray;
  else if (data instanceof Int8Array || data instanceof Int16Array) Ctor = Int32Array;
  else if (data instanceof Float64Array || data instanceof Uint32Array) Ctor = Float32Array;
  else throw new Error(`omeZarr.readRegion: ${name}: data type ${String((data.constructor as { name?: string }).name)} is not supported (integers or floats)`);
  if (c === 1 && data.constructor === Ctor) return { data: data as PixelArray, height: h, width: w, channels: 1 };
  const out = new Ctor(n);
  const plane = h * w;
  for (let k = 0; k < c; k++) for (let i = 0; i < plane; i++) out[i * c + k] = data[k * plane + i]!;
  return { data: out, height: h, width: w, channels: c };
}

/** zarr's name of a data type in v2 `.zarray` (little endian). */
const V2_DTYPE: Record<OutputDtype, string> = { uint8: '|u1', uint16: '<u2', uint32: '<u4', float32: '<f4' };

export interface ArraySpec {
  readonly shape: readonly number[];
  readonly chunks: readonly number[];
  readonly dtype: OutputDtype;
  readonly dimensionNames: readonly string[];
}

/**
 * The metadata document of an array: blosc-zstd (byte shuffle) compressed chunks in v2,
 * bytes + zstd in v3; fill value 0; chunk keys with '/' (NGFF 0.4 asks for it).
 */
export function arrayMetadata(format: ZarrFormat, spec: ArraySpec): { key: string; doc: Record<string, unknown> } {
  if (format === 2) {
    return {
      key: '.zarray',
      doc: { zarr_format: 2, shape: spec.shape, chunks: spec.chunks, dtype: V2_DTYPE[spec.dtype], compressor: { id: 'blosc', cname: 'zstd', clevel: 5, shuffle: 1, blocksize: 0 }, fill_value: 0, order: 'C', filters: null, dimension_separator: '/' },
    };
  }
  return {
    key: 'zarr.json',
    doc: {
      zarr_format: 3,
      node_type: 'array',
      shape: spec.shape,
      data_type: spec.dtype,
      chunk_grid: { name: 'regular', configuration: { chunk_shape: spec.chunks } },
      chunk_key_encoding: { name: 'default', configuration: { separator: '/' } },
      codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 5, checksum: false } }],
      fill_value: 0,
      dimension_names: spec.dimensionNames,
      attributes: {},
    },
  };
}

/**
 * Writes a metadata document at `dir/key` unless an identical one is there, so that N
 * processes starting together all "create" the same array. A different document is an
 * error: the store holds results of another run (other model, tile or chunking), and
 * mixing chunks of two runs would be silently wrong.
 */
export async function ensureDocument(dir: string, key: string, doc: Record<string, unknown>): Promise<void> {
  const path = join(dir, key);
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  const old = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (old === text) return;
  if (old !== null) throw new Error(`ensureDocument: ${path} exists with other contents (results of another run?); delete it to recompute`);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path, text);
}

/** Group metadata with attributes (v2: .zgroup + .zattrs; v3: zarr.json). */
export async function ensureGroup(dir: string, format: ZarrFormat, attributes: Record<string, unknown>): Promise<void> {
  if (format === 2) {
    await ensureDocument(dir, '.zgroup', { zarr_format: 2 });
    await ensureDocument(dir, '.zattrs', attributes);
  } else {
    await ensureDocument(dir, 'zarr.json', { zarr_format: 3, node_type: 'group', attributes });
  }
}

/** Creates (or checks, see {@link ensureDocument}) the array at `store.dir/path` and opens it. */
export async function ensureArray(store: AtomicFileStore, format: ZarrFormat, path: string, spec: ArraySpec): Promise<zarr.Array<zarr.DataType, AtomicFileStore>> {
  const { key, doc } = arrayMetadata(format, spec);
  await ensureDocument(join(store.dir, path), key, doc);
  const open = format === 2 ? zarr.open.v2 : zarr.open.v3;
  return open(zarr.root(store).resolve(path), { kind: 'array' }) as Promise<zarr.Array<zarr.DataType, AtomicFileStore>>;
}

/** Adds `names` to the `labels` list of the image's labels group (creating it), keeping what is there. */
export async function addLabelNames(imagePath: string, info: OmeZarrInfo, names: readonly string[]): Promise<void> {
  const dir = join(imagePath, 'labels');
  if (info.zarrFormat === 2) {
    const attrs = (await readJson(join(dir, '.zattrs'))) ?? {};
    const list = [...((attrs.labels as string[] | undefined) ?? [])];
    for (const n of names) if (!list.includes(n)) list.push(n);
    await ensureDocument(dir, '.zgroup', { zarr_format: 2 });
    if (JSON.stringify(list) !== JSON.stringify(attrs.labels)) await writeFileAtomic(join(dir, '.zattrs'), `${JSON.stringify({ ...attrs, labels: list }, null, 2)}\n`);
    return;
  }
  const meta = (await readJson(join(dir, 'zarr.json'))) ?? { zarr_format: 3, node_type: 'group', attributes: {} };
  const attrs = (meta.attributes ?? {}) as Record<string, unknown>;
  const ome = (attrs.ome ?? { version: info.ngffVersion }) as Record<string, unknown>;
  const list = [...((ome.labels as string[] | undefined) ?? [])];
  for (const n of names) if (!list.includes(n)) list.push(n);
  if (JSON.stringify(list) === JSON.stringify(ome.labels)) return;
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'zarr.json'), `${JSON.stringify({ ...meta, attributes: { ...attrs, ome: { ...ome, labels: list } } }, null, 2)}\n`);
}

/**
 * The attributes of a multiscale group (an image or a label image) in the image's NGFF
 * version: 0.4 puts `multiscales` (and `image-label`) at the top, 0.5 under `ome`.
 */
export function multiscaleAttributes(info: OmeZarrInfo, multiscale: NgffMultiscale, extra: Record<string, unknown> = {}): Record<string, unknown> {
  if (info.zarrFormat === 2) return { multiscales: [{ version: '0.4', ...multiscale }], ...extra };
  return { ome: { version: info.ngffVersion, multiscales: [multiscale], ...extra } };
}

/** Writes `data` (C order, shape `shape`) into `array` at the selection. */
export async function writeBlock(array: zarr.Array<zarr.DataType, AtomicFileStore>, selection: (number | zarr.Slice | null)[], data: PixelArray | Uint32Array, shape: number[]): Promise<void> {
  const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  await zarr.set(array, selection, { data, shape, stride } as never);
}

/** Reads a block (C order) from `array`. */
export async function readBlock(array: zarr.Array<zarr.DataType, AtomicFileStore>, selection: (number | zarr.Slice | null)[]): Promise<{ data: ArrayLike<number>; shape: number[] }> {
  const got = await zarr.get(array, selection);
  return { data: got.data as ArrayLike<number>, shape: got.shape };
}

export { zarr };

export interface WriteImageOptions {
  /** 2 (NGFF 0.4, default) or 3 (NGFF 0.5). */
  readonly format?: ZarrFormat;
  /** Chunk side in y and x; default 512. */
  readonly chunk?: number;
  /** Extra levels, each subsampled by 2 from the one before (pixel (2y, 2x)); default 0. */
  readonly downsampled?: number;
  readonly name?: string;
}

/**
 * Writes `planes` (one raster per z plane, all the same size and type) as a new OME-Zarr
 * image with axes [z,] [c,] y, x: the `.ome.zarr` form of an ordinary input, and the
 * generator of test and benchmark images. Writes it chunk row by chunk row.
 */
export async function writeOmeZarrImage(path: string, planes: readonly Raster<PixelArray>[], options: WriteImageOptions = {}): Promise<void> {
  const format = options.format ?? 2;
  const first = planes[0];
  if (!first) throw new Error(`writeOmeZarrImage: ${path}: no planes to write`);
  for (const p of planes) {
    if (p.height !== first.height || p.width !== first.width || p.channels !== first.channels || p.data.constructor !== first.data.constructor) {
      throw new Error(`writeOmeZarrImage: ${path}: planes differ in size or type (${p.height}x${p.width}x${p.channels} vs ${first.height}x${first.width}x${first.channels})`);
    }
  }
  const dtype: OutputDtype = first.data instanceof Uint8Array ? 'uint8' : first.data instanceof Uint16Array ? 'uint16' : first.data instanceof Float32Array ? 'float32' : 'uint32';
  const axes = [...(planes.length > 1 ? ['z'] : []), ...(first.channels > 1 ? ['c'] : []), 'y', 'x'];
  const chunk = options.chunk ?? 512;
  const levels = 1 + (options.downsampled ?? 0);
  const info: OmeZarrInfo = { path, zarrFormat: format, ngffVersion: format === 2 ? '0.4' : '0.5', multiscale: { axes: [], datasets: [] }, attributes: {} };
  const axisObjs = axes.map((a) => ({ name: a, type: a === 'c' ? 'channel' : 'space' }));
  const datasets = Array.from({ length: levels }, (_, l) => ({ path: String(l), coordinateTransformations: [{ type: 'scale', scale: axes.map((a) => (a === 'y' || a === 'x' ? 2 ** l : 1)) }] }));
  await ensureGroup(path, format, multiscaleAttributes(info, { name: options.name ?? 'image', axes: axisObjs, datasets }));
  const store = new AtomicFileStore(path);
  for (let l = 0; l < levels; l++) {
    const f = 2 ** l;
    const H = Math.ceil(first.height / f);
    const W = Math.ceil(first.width / f);
    const C = first.channels;
    const shape = axes.map((a) => (a === 'z' ? planes.length : a === 'c' ? C : a === 'y' ? H : W));
    const arr = await ensureArray(store, format, String(l), { shape, chunks: axes.map((a) => (a === 'y' ? Math.min(chunk, H) : a === 'x' ? Math.min(chunk, W) : a === 'c' ? C : 1)), dtype, dimensionNames: axes });
    for (const [z, p] of planes.entries()) {
      for (let top = 0; top < H; top += chunk) {
        const h = Math.min(chunk, H - top);
        const Ctor = p.data.constructor as new (n: number) => PixelArray;
        const block = new Ctor(C * h * W);
        for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) for (let x = 0; x < W; x++) block[(c * h + y) * W + x] = p.data[(((top + y) * f) * p.width + x * f) * C + c]!;
        const sel = axes.map((a) => (a === 'z' ? z : a === 'c' ? zarr.slice(0, C) : a === 'y' ? zarr.slice(top, top + h) : null));
        await writeBlock(arr, sel, block, [...(C > 1 ? [C] : []), h, W]);
      }
    }
  }
}

/**
 * Writes region sources (one per z plane, same size and channels) as a new single-level
 * OME-Zarr image, reading one chunk row of each at a time: how a TIFF bigger than memory
 * becomes a store (`unet predict --ome-zarr`). The pixel type is what the first band holds.
 */
export async function writeOmeZarrFromSources(path: string, planes: readonly RegionSource[], options: Omit<WriteImageOptions, 'downsampled'> = {}): Promise<void> {
  const format = options.format ?? 2;
  const first = planes[0];
  if (!first) throw new Error(`writeOmeZarrFromSources: ${path}: no planes to write`);
  for (const p of planes) if (p.height !== first.height || p.width !== first.width || p.channels !== first.channels) throw new Error(`writeOmeZarrFromSources: ${path}: ${p.name} is ${p.height}x${p.width}x${p.channels}, ${first.name} ${first.height}x${first.width}x${first.channels}`);
  const { height: H, width: W, channels: C } = first;
  const chunk = options.chunk ?? 512;
  const axes = [...(planes.length > 1 ? ['z'] : []), ...(C > 1 ? ['c'] : []), 'y', 'x'];
  const info: OmeZarrInfo = { path, zarrFormat: format, ngffVersion: format === 2 ? '0.4' : '0.5', multiscale: { axes: [], datasets: [] }, attributes: {} };
  const axisObjs = axes.map((a) => ({ name: a, type: a === 'c' ? 'channel' : 'space' }));
  await ensureGroup(path, format, multiscaleAttributes(info, { name: options.name ?? 'image', axes: axisObjs, datasets: [{ path: '0', coordinateTransformations: [{ type: 'scale', scale: axes.map(() => 1) }] }] }));
  const store = new AtomicFileStore(path);
  let arr: Awaited<ReturnType<typeof ensureArray>> | null = null;
  for (const [z, p] of planes.entries()) {
    for (let top = 0; top < H; top += chunk) {
      const h = Math.min(chunk, H - top);
      const band = await p.readRegion(top, 0, h, W);
      if (!arr) {
        const d = band.data;
        const dtype: OutputDtype = d instanceof Uint8Array ? 'uint8' : d instanceof Uint16Array ? 'uint16' : d instanceof Float32Array ? 'float32' : 'uint32';
        const shape = axes.map((a) => (a === 'z' ? planes.length : a === 'c' ? C : a === 'y' ? H : W));
        arr = await ensureArray(store, format, '0', { shape, chunks: axes.map((a) => (a === 'y' ? Math.min(chunk, H) : a === 'x' ? Math.min(chunk, W) : a === 'c' ? C : 1)), dtype, dimensionNames: axes });
      }
      const Ctor = band.data.constructor as new (n: number) => PixelArray;
      const block = C === 1 ? band.data : new Ctor(C * h * W);
      if (C > 1) for (let c = 0; c < C; c++) for (let i = 0; i < h * W; i++) block[c * h * W + i] = band.data[i * C + c]!;
      const sel = axes.map((a) => (a === 'z' ? z : a === 'c' ? zarr.slice(0, C) : a === 'y' ? zarr.slice(top, top + h) : null));
      await writeBlock(arr, sel, block, [...(C > 1 ? [C] : []), h, W]);
    }
  }
}
