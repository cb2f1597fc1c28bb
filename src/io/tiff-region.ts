/**
 * Tiled and pyramidal (Big)TIFF / OME-TIFF read by region (Node only): only the tiles (or
 * strips) a region touches are read from disk and decoded, so a slide far bigger than
 * memory can be predicted band by band. Separate from the whole-image TIFF reader
 * (src/io/image.ts): this one reads the IFDs (parsed as tiff.ts does, src/io/tiff-ifd.ts) from
 * the file handle to get tile offsets.
 *
 * Supported: classic TIFF and BigTIFF, either byte order; tiles or strips; 8/16-bit
 * unsigned integers and 32-bit floats; chunky pixels (PlanarConfiguration 1), any number
 * of samples; compression none, LZW, Deflate (Adobe and old), with or without the
 * horizontal predictor (2). Pages are planes (z); pyramid levels are the SubIFDs of a page
 * (the OME-TIFF layout). Anything else is refused with a message naming the file and tag.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import type { PixelArray, Raster } from './raster.js';
import { lzwDecode } from './tiff.js';
import { fieldValues, ifdEntries, ifdLayout, readOffset } from './tiff-ifd.js';
import { checkRegion, type RegionSource } from '../infer/source.js';

interface Ifd {
  readonly tags: Map<number, number[]>;
  readonly next: number;
}

export interface TiffLevel {
  readonly width: number;
  readonly height: number;
  readonly samples: number;
  readonly bits: number;
  readonly float: boolean;
  readonly compression: number;
  readonly predictor: number;
  /** Tiles (true) or strips. */
  readonly tiled: boolean;
  /** Tile (or strip) size: strips are tiles as wide as the image. */
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly offsets: readonly number[];
  readonly byteCounts: readonly number[];
}

export interface TiffRegionImage {
  readonly path: string;
  /** BigTIFF (64-bit offsets) rather than classic TIFF. */
  readonly bigTiff: boolean;
  /** Levels of each page: [page][level]. */
  readonly pages: readonly (readonly TiffLevel[])[];
  /** A region source for page `page` at `level`. */
  source(page?: number, level?: number): RegionSource;
  close(): Promise<void>;
}


/** Opens a TIFF for region reads: parses every page's IFD and its SubIFDs (levels). */
export async function openTiffRegions(path: string): Promise<TiffRegionImage> {
  const fh = await open(path, 'r');
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new Error(`openTiffRegions: ${path} is truncated (wanted ${length} bytes at ${offset}, got ${bytesRead})`);
      return buf;
    };
    const head = await read(0, 16);
    const order = head.toString('latin1', 0, 2);
    if (order !== 'II' && order !== 'MM') throw new Error(`openTiffRegions: ${path} is not a TIFF (byte order mark ${JSON.stringify(order)})`);
    const le = order === 'II';
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const magic = u16(head, 2);
    if (magic !== 42 && magic !== 43) throw new Error(`openTiffRegions: ${path}: version ${magic} is neither TIFF (42) nor BigTIFF (43)`);
    const big = magic === 43;
    const file = { little: le, big, name: `openTiffRegions: ${path}` } as const;
    const offsetAt = (b: Buffer, o: number): number => readOffset(new DataView(b.buffer, b.byteOffset, b.byteLength), o, le, big, file.name);
    const first = offsetAt(head, big ? 8 : 4);

    const { countSize, entrySize, offsetSize } = ifdLayout(big);
    const readIfd = async (offset: number): Promise<Ifd> => {
      const countBytes = await read(offset, countSize);
      const n = big ? offsetAt(countBytes, 0) : u16(countBytes, 0);
      const body = await read(offset + countSize, n * entrySize + offsetSize);
      // ASCII and rationals are not needed here.
      const { entries, next } = ifdEntries(body, n, file, (_tag, type) => type !== 2 && type !== 5 && type !== 10);
      const tags = new Map<number, number[]>();
      for (const e of entries) tags.set(e.tag, fieldValues(e.type, e.count, e.inline ?? (await read(e.offset, e.bytes)), le, file.name));
      return { tags, next };
    };

    const level = (ifd: Ifd, where: string): TiffLevel => {
      const t = (tag: number, fallback?: number): number => {
        const v = ifd.tags.get(tag)?.[0] ?? fallback;
        if (v === undefined) throw new Error(`openTiffRegions: ${path} ${where}: required tag ${tag} is missing`);
        return v;
      };
      const width = t(256);
      const height = t(257);
      const samples = t(277, 1);
      const bits = t(258, 1);
      const format = t(339, 1);
      const planar = t(284, 1);
      const compression = t(259, 1);
      const predictor = t(317, 1);
      for (const b of ifd.tags.get(258) ?? [bits]) if (b !== bits) throw new Error(`openTiffRegions: ${path} ${where}: samples of different bit depths (${(ifd.tags.get(258) ?? []).join(',')})`);
      const float = format === 3;
      if (!((format === 1 && (bits === 8 || bits === 16)) || (float && bits === 32))) throw new Error(`openTiffRegions: ${path} ${where}: ${bits}-bit ${float ? 'float' : format === 2 ? 'signed' : 'unsigned'} samples are not supported (8/16-bit unsigned, 32-bit float)`);
      if (planar !== 1 && samples > 1) throw new Error(`openTiffRegions: ${path} ${where}: planar configuration ${planar} (separate planes) is not supported`);
      if (![1, 5, 8, 32946].includes(compression)) throw new Error(`openTiffRegions: ${path} ${where}: compression ${compression} is not supported (none, LZW, Deflate)`);
      if (predictor !== 1 && !(predictor === 2 && !float) && !(predictor === 3 && float)) throw new Error(`openTiffRegions: ${path} ${where}: predictor ${predictor} is not supported for ${bits}-bit ${float ? 'floats' : 'integers'}`);
      if (predictor === 3) throw new Error(`openTiffRegions: ${path} ${where}: the floating-point predictor (3) is not supported`);
      const tiled = ifd.tags.has(322);
      const tileWidth = tiled ? t(322) : width;
      const tileHeight = tiled ? t(323) : Math.min(t(278, height), height);
      const offsets = ifd.tags.get(tiled ? 324 : 273);
      const byteCounts = ifd.tags.get(tiled ? 325 : 279);
      const expected = Math.ceil(width / tileWidth) * Math.ceil(height / tileHeight);
      if (!offsets || !byteCounts || offsets.length !== expected || byteCounts.length !== expected) {
        throw new Error(`openTiffRegions: ${path} ${where}: expected ${expected} ${tiled ? 'tile' : 'strip'} offsets and byte counts, got ${offsets?.length ?? 0} and ${byteCounts?.length ?? 0}`);
      }
      return { width, height, samples, bits, float, compression, predictor, tiled, tileWidth, tileHeight, offsets, byteCounts };
    };

    const pages: TiffLevel[][] = [];
    const seen = new Set<number>();
    for (let off = first; off !== 0; ) {
      if (seen.has(off)) throw new Error(`openTiffRegions: ${path}: the IFD chain loops at offset ${off}`);
      seen.add(off);
      const ifd = await readIfd(off);
      const p = pages.length;
      const levels = [level(ifd, `page ${p}`)];
      for (const [k, sub] of (ifd.tags.get(330) ?? []).entries()) levels.push(level(await readIfd(sub), `page ${p} level ${k + 1}`));
      pages.push(levels);
      off = ifd.next;
    }

    return {
      path,
      bigTiff: big,
      pages,
      source(page = 0, lv = 0): RegionSource {
        const L = pages[page]?.[lv];
        if (!L) throw new Error(`openTiffRegions: ${path} has no page ${page} level ${lv} (${pages.length} page(s), ${pages[page]?.length ?? 0} level(s))`);
        return tiffSource(fh, le, L, `${path} (page ${page}, level ${lv})`);
      },
      close: () => fh.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

function tiffSource(fh: FileHandle, le: boolean, L: TiffLevel, name: string): RegionSource {
  const C = L.samples;
  const Ctor = (L.float ? Float32Array : L.bits === 16 ? Uint16Array : Uint8Array) as new (n: number) => PixelArray;
  const bytesPer = L.bits / 8;
  const tilesAcross = Math.ceil(L.width / L.tileWidth);
  const decodeTile = async (index: number): Promise<PixelArray> => {
    const raw = Buffer.alloc(L.byteCounts[index]!);
    await fh.read(raw, 0, raw.length, L.offsets[index]!);
    const expected = L.tileWidth * L.tileHeight * C * bytesPer;
    let bytes: Uint8Array;
    if (L.compression === 1) bytes = raw;
    else if (L.compression === 5) bytes = lzwDecode(raw, expected);
    else bytes = inflateSync(raw);
    // Strips at the image end may be shorter; tiles are always full size.
    const rows = Math.floor(bytes.length / (L.tileWidth * C * bytesPer));
    const n = L.tileWidth * L.tileHeight * C;
    const out = new Ctor(n);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const have = Math.min(n, rows * L.tileWidth * C);
    for (let i = 0; i < have; i++) out[i] = bytesPer === 1 ? bytes[i]! : bytesPer === 2 ? view.getUint16(i * 2, le) : view.getFloat32(i * 4, le);
    if (L.predictor === 2) {
      const mod = L.bits === 16 ? 65536 : 256;
      for (let y = 0; y < L.tileHeight; y++) {
        for (let x = 1; x < L.tileWidth; x++) {
          for (let c = 0; c < C; c++) {
            const i = (y * L.tileWidth + x) * C + c;
            out[i] = (out[i]! + out[i - C]!) % mod;
          }
        }
      }
    }
    return out;
  };
  const source: RegionSource = {
    height: L.height,
    width: L.width,
    channels: C,
    name,
    async readRegion(top, left, h, w) {
      checkRegion(source, top, left, h, w, 'tiffRegion.readRegion');
      const out = new Ctor(h * w * C);
      const ty0 = Math.floor(top / L.tileHeight);
      const ty1 = Math.floor((top + h - 1) / L.tileHeight);
      const tx0 = Math.floor(left / L.tileWidth);
      const tx1 = Math.floor((left + w - 1) / L.tileWidth);
      for (let ty = ty0; ty <= ty1; ty++) {
        for (let tx = tx0; tx <= tx1; tx++) {
          const tile = await decodeTile(ty * tilesAcross + tx);
          const y0 = Math.max(top, ty * L.tileHeight);
          const y1 = Math.min(top + h, (ty + 1) * L.tileHeight);
          const x0 = Math.max(left, tx * L.tileWidth);
          const x1 = Math.min(left + w, (tx + 1) * L.tileWidth);
          for (let y = y0; y < y1; y++) {
            const src = ((y - ty * L.tileHeight) * L.tileWidth + (x0 - tx * L.tileWidth)) * C;
            out.set(tile.subarray(src, src + (x1 - x0) * C), ((y - top) * w + (x0 - left)) * C);
          }
        }
      }
      return { data: out, height: h, width: w, channels: C } as Raster<PixelArray>;
    },
  };
  return source;
}
