/**
 * A TIFF written strip by strip (Node only): rows are appended as prediction finishes them
 * and leave memory once a strip is full, so a mask or probability map of a whole slide is
 * written without ever holding its plane. Pages may be filled in any interleaving (strips of
 * all pages share the file); the directories go at the end, then the header is pointed at
 * them, and the file is renamed into place, so no reader ever sees a half-written TIFF.
 *
 * Layout: little-endian, one sample per pixel, Deflate (zlib) strips of `rowsPerStrip` rows.
 * Classic TIFF while the pixels fit comfortably in its 4 GiB offsets, else BigTIFF.
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { PixelArray } from './raster.js';

export type StripSampleType = 'uint8' | 'uint16' | 'int32' | 'float32';

export interface StripPage {
  readonly width: number;
  readonly height: number;
  readonly type: StripSampleType;
}

const SAMPLE: Record<StripSampleType, { bits: number; format: number; Ctor: new (n: number) => PixelArray }> = {
  uint8: { bits: 8, format: 1, Ctor: Uint8Array },
  uint16: { bits: 16, format: 1, Ctor: Uint16Array },
  int32: { bits: 32, format: 2, Ctor: Int32Array },
  float32: { bits: 32, format: 3, Ctor: Float32Array },
};

/** Raw pixel bytes above which a file is written as BigTIFF (deflate may grow incompressible data a little). */
const CLASSIC_LIMIT = 3.5 * 2 ** 30;

interface PageState {
  readonly spec: StripPage;
  readonly buffer: PixelArray;
  filled: number;
  rowsDone: number;
  readonly offsets: number[];
  readonly counts: number[];
}

export class TiffStripWriter {
  private pos: number;
  private closed = false;
  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly big: boolean,
    private readonly rowsPerStrip: number,
    private readonly pages: PageState[],
  ) {
    this.pos = big ? 16 : 8;
  }

  /**
   * Starts `path` (written under a temporary name until {@link close}) with these pages.
   * `bigTiff` defaults to true only when the pixels would strain classic TIFF's 4 GiB.
   */
  static async create(path: string, pages: readonly StripPage[], options: { readonly rowsPerStrip?: number; readonly bigTiff?: boolean } = {}): Promise<TiffStripWriter> {
    const rowsPerStrip = options.rowsPerStrip ?? 64;
    if (endianness() !== 'LE') throw new Error('TiffStripWriter: writes the typed arrays of a little-endian machine');
    if (pages.length === 0) throw new Error(`TiffStripWriter: ${path}: no pages`);
    if (!Number.isInteger(rowsPerStrip) || rowsPerStrip < 1) throw new Error(`TiffStripWriter: rowsPerStrip must be a positive integer, got ${rowsPerStrip}`);
    let raw = 0;
    for (const p of pages) {
      if (!(Number.isInteger(p.width) && Number.isInteger(p.height) && p.width >= 1 && p.height >= 1)) throw new Error(`TiffStripWriter: ${path}: page size ${p.height} x ${p.width}`);
      if (!SAMPLE[p.type]) throw new Error(`TiffStripWriter: ${path}: sample type "${String(p.type)}" (uint8, uint16, int32, float32)`);
      raw += p.width * p.height * (SAMPLE[p.type].bits / 8);
    }
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
    const fh = await open(tmp, 'w');
    const state = pages.map((spec) => ({ spec, buffer: new SAMPLE[spec.type].Ctor(Math.min(rowsPerStrip, spec.height) * spec.width), filled: 0, rowsDone: 0, offsets: [], counts: [] }));
    return new TiffStripWriter(path, tmp, fh, options.bigTiff ?? raw > CLASSIC_LIMIT, rowsPerStrip, state);
  }

  /** Appends `rows` full rows (`rows` x width samples, top to bottom) to page `page`. */
  async appendRows(page: number, data: ArrayLike<number>, rows: number): Promise<void> {
    const p = this.pages[page];
    if (!p) throw new Error(`TiffStripWriter: ${this.path} has no page ${page}`);
    const W = p.spec.width;
    if (data.length !== rows * W) throw new Error(`TiffStripWriter: ${this.path} page ${page}: ${data.length} values for ${rows} rows of ${W}`);
    if (p.rowsDone + rows > p.spec.height) throw new Error(`TiffStripWriter: ${this.path} page ${page}: ${p.rowsDone + rows} rows written, the page has ${p.spec.height}`);
    let at = 0;
    while (at < data.length) {
      const room = p.buffer.length - p.filled;
      const n = Math.min(room, data.length - at);
      for (let i = 0; i < n; i++) p.buffer[p.filled + i] = data[at + i]!;
      p.filled += n;
      at += n;
      const stripRows = Math.min(this.rowsPerStrip, p.spec.height - p.offsets.length * this.rowsPerStrip);
      if (p.filled === stripRows * W) await this.flush(p, stripRows);
    }
    p.rowsDone += rows;
  }

  private async flush(p: PageState, stripRows: number): Promise<void> {
    const b = p.buffer.subarray(0, stripRows * p.spec.width);
    const bytes = deflateSync(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    await this.fh.write(bytes, 0, bytes.length, this.pos);
    p.offsets.push(this.pos);
    p.counts.push(bytes.length);
    this.pos += bytes.length + (bytes.length & 1); // word-aligned strips
    p.filled = 0;
  }

  /** Writes the directories and renames the file into place; every page must be complete. */
  async close(): Promise<void> {
    for (const [i, p] of this.pages.entries()) {
      if (p.rowsDone !== p.spec.height) throw new Error(`TiffStripWriter: ${this.path} page ${i}: ${p.rowsDone} of ${p.spec.height} rows written`);
    }
    const ifdAt: number[] = [];
    const blocks: Uint8Array[] = [];
    let at = this.pos + (this.pos & 1);
    for (const p of this.pages) {
      ifdAt.push(at);
      at += ifdBytes(this.big, p.offsets.length);
    }
    for (const [i, p] of this.pages.entries()) {
      const { bits, format } = SAMPLE[p.spec.type];
      const rows = Math.min(this.rowsPerStrip, p.spec.height);
      blocks.push(encodeStripIfd(this.big, ifdAt[i]!, i + 1 < this.pages.length ? ifdAt[i + 1]! : 0, { width: p.spec.width, height: p.spec.height, bits, format, rowsPerStrip: rows, offsets: p.offsets, counts: p.counts }));
    }
    for (const [i, b] of blocks.entries()) await this.fh.write(b, 0, b.length, ifdAt[i]);
    const head = new Uint8Array(this.big ? 16 : 8);
    const view = new DataView(head.buffer);
    head.set([0x49, 0x49]);
    if (this.big) {
      view.setUint16(2, 43, true);
      view.setUint16(4, 8, true);
      view.setBigUint64(8, BigInt(ifdAt[0]!), true);
    } else {
      view.setUint16(2, 42, true);
      view.setUint32(4, ifdAt[0]!, true);
    }
    await this.fh.write(head, 0, head.length, 0);
    await this.fh.sync();
    await this.fh.close();
    this.closed = true;
    await rename(this.tmp, this.path);
  }

  /** Drops the unfinished file. */
  async abort(): Promise<void> {
    if (!this.closed) await this.fh.close().catch(() => undefined);
    this.closed = true;
    await unlink(this.tmp).catch(() => undefined);
  }
}

/** Bytes of one strip directory with its out-of-line values (offsets and byte counts). */
function ifdBytes(big: boolean, strips: number): number {
  const entries = 11;
  const head = big ? 8 + entries * 20 + 8 : 2 + entries * 12 + 4;
  const inline = big ? 8 : 4;
  const per = big ? 8 : 4;
  const arrays = strips * per > inline ? 2 * strips * per : 0;
  return head + arrays;
}

/**
 * One page's directory for a stripped, Deflate-compressed, one-sample image, its strip
 * offsets and byte counts right after it (when they do not fit the entry), at file offset `at`.
 */
export function encodeStripIfd(
  big: boolean,
  at: number,
  next: number,
  page: { width: number; height: number; bits: number; format: number; rowsPerStrip: number; offsets: readonly number[]; counts: readonly number[] },
): Uint8Array {
  const strips = page.offsets.length;
  const out = new Uint8Array(ifdBytes(big, strips));
  const view = new DataView(out.buffer);
  const entrySize = big ? 20 : 12;
  const inline = big ? 8 : 4;
  const headSize = big ? 8 : 2;
  const entries: [number, 3 | 4 | 16, readonly number[]][] = [
    [256, 4, [page.width]],
    [257, 4, [page.height]],
    [258, 3, [page.bits]],
    [259, 3, [8]], // Deflate (zlib)
    [262, 3, [1]], // BlackIsZero
    [273, big ? 16 : 4, page.offsets],
    [277, 3, [1]],
    [278, 4, [page.rowsPerStrip]],
    [279, big ? 16 : 4, page.counts],
    [284, 3, [1]],
    [339, 3, [page.format]],
  ];
  if (big) view.setBigUint64(0, BigInt(entries.length), true);
  else view.setUint16(0, entries.length, true);
  let extra = headSize + entries.length * entrySize + (big ? 8 : 4);
  const put = (o: number, type: number, v: number): void => {
    if (type === 3) view.setUint16(o, v, true);
    else if (type === 4) view.setUint32(o, v, true);
    else view.setBigUint64(o, BigInt(v), true);
  };
  entries.forEach(([tag, type, values], k) => {
    const e = headSize + k * entrySize;
    const size = type === 3 ? 2 : type === 4 ? 4 : 8;
    view.setUint16(e, tag, true);
    view.setUint16(e + 2, type, true);
    if (big) view.setBigUint64(e + 4, BigInt(values.length), true);
    else view.setUint32(e + 4, values.length, true);
    const valueAt = e + (big ? 12 : 8);
    let o: number;
    if (values.length * size <= inline) o = valueAt;
    else {
      o = extra;
      if (big) view.setBigUint64(valueAt, BigInt(at + extra), true);
      else view.setUint32(valueAt, at + extra, true);
      extra += values.length * size;
    }
    for (const v of values) {
      put(o, type, v);
      o += size;
    }
  });
  const nextAt = headSize + entries.length * entrySize;
  if (big) view.setBigUint64(nextAt, BigInt(next), true);
  else view.setUint32(nextAt, next, true);
  return out;
}
