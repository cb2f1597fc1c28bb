/**
 * TIFF reading and writing, browser-safe (no Node built-ins; Deflate through fflate).
 *
 * Written here rather than taken from a library because each of the two libraries used
 * before failed a class of real files: `tiff` (image-js) followed looping page chains
 * forever, scrambled tiled multi-sample images, refused planar files and files without
 * the optional SampleFormat/BitsPerSample tags; utif2 could not write more than ~130 pages.
 *
 * Reads (TIFF 6.0 and BigTIFF, either byte order, every page of a stack):
 * - strips or tiles, PlanarConfiguration 1 (chunky) or 2 (planar);
 * - compression none, LZW, Deflate (8 and 32946), PackBits; Predictor 2 (horizontal) and
 *   3 (floating point); FillOrder 2 (bits reversed within each byte);
 * - unsigned 1/2/4/8/16/32-bit, signed 8/16/32-bit, float 16/32/64-bit samples, with the
 *   TIFF defaults when tags are absent (BitsPerSample 1, SampleFormat unsigned, one sample
 *   per pixel, no compression; PhotometricInterpretation MinIsBlack, RGB for >= 3 samples).
 * Sample types in memory: Uint8Array for <= 8 bits (1-, 2- and 4-bit values are scaled to
 * 0..255 by 255 / (2^bits - 1), as PNG viewers do), Uint16Array for 16 bits, Int32Array
 * for signed integers and for unsigned 32-bit values up to 2^31 - 1, Float32Array for
 * floats (float64 is rounded to float32).
 * - MinIsWhite (PhotometricInterpretation 0) integer images are inverted, (2^bits - 1) - v,
 *   so that larger values are brighter, as everywhere else.
 * - Extra samples (ExtraSamples, e.g. alpha) are dropped: they are not image channels.
 * Refused by name: palette, CMYK, YCbCr and other colour spaces, JPEG/CCITT/other
 * compression, mixed bit depths, page chains that loop, data shorter than the header
 * declares, and pages over the pixel limit (see DEFAULT_MAX_PIXELS in raster.ts).
 *
 * Writes uncompressed little-endian classic TIFF, any number of pages (up to 4 GiB).
 */
import { unzlibSync } from 'fflate';
import { checkPixelLimit, makeRaster, type PixelArray, type Raster } from './raster.js';
import { fieldValues, ifdEntries, ifdLayout, readOffset } from './tiff-ifd.js';

export interface TiffDecodeOptions {
  /** Largest width x height of one page; see DEFAULT_MAX_PIXELS. */
  readonly maxPixels?: number;
}

const TAG = {
  width: 256, height: 257, bitsPerSample: 258, compression: 259, photometric: 262, fillOrder: 266,
  stripOffsets: 273, samplesPerPixel: 277, rowsPerStrip: 278, stripByteCounts: 279, planar: 284,
  predictor: 317, tileWidth: 322, tileLength: 323, tileOffsets: 324, tileByteCounts: 325,
  extraSamples: 338, sampleFormat: 339,
} as const;
const WANTED = new Set<number>(Object.values(TAG));

const COMPRESSION_NAMES: Record<number, string> = {
  2: 'CCITT RLE', 3: 'CCITT Group 3 fax', 4: 'CCITT Group 4 fax', 6: 'old-style JPEG', 7: 'JPEG', 34661: 'JBIG',
  34712: 'JPEG 2000', 34887: 'LERC', 34925: 'LZMA', 50000: 'Zstandard', 50001: 'WebP', 33003: 'JPEG 2000 (Aperio)', 33005: 'JPEG 2000 (Aperio)',
};
const PHOTOMETRIC_NAMES: Record<number, string> = { 3: 'palette (indexed colour)', 4: 'transparency mask', 5: 'CMYK', 6: 'YCbCr', 8: 'CIELab', 9: 'ICCLab', 10: 'ITULab', 32844: 'LogL', 32845: 'LogLuv' };

/**
 * Upper bounds of output bytes per input byte, used to refuse data too short for the
 * declared size before allocating: Deflate expands at most 1032:1 (RFC 1951: a 258-byte
 * match per ~2 bits), an LZW code (>= 9 bits) emits at most 4096 bytes, PackBits 128 per 2.
 */
const MAX_EXPANSION: Record<number, number> = { 1: 1, 5: 4096 * 8 / 9, 8: 1032, 32946: 1032, 32773: 64 };

class TiffReader {
  readonly view: DataView;
  readonly little: boolean;
  readonly big: boolean;
  constructor(readonly bytes: Uint8Array, readonly name: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8) throw new Error(`${name}: not a readable TIFF (only ${bytes.length} bytes, the header alone has 8)`);
    this.little = bytes[0] === 0x49;
    const version = this.view.getUint16(2, this.little);
    if (version !== 42 && version !== 43) throw new Error(`${name}: not a readable TIFF (version ${version}, expected 42 or 43 for BigTIFF)`);
    this.big = version === 43;
    if (this.big && (bytes.length < 16 || this.view.getUint16(4, this.little) !== 8)) throw new Error(`${name}: not a readable BigTIFF (bad header)`);
  }

  need(offset: number, length: number, what: string): void {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.bytes.length)) {
      throw new Error(`${this.name}: not a readable TIFF (${what} at byte ${offset}, ${length} bytes, lies outside the file of ${this.bytes.length} bytes; truncated or corrupt)`);
    }
  }

  u16(o: number): number { return this.view.getUint16(o, this.little); }
  offset(o: number): number { return readOffset(this.view, o, this.little, this.big, this.name); }

  firstIfd(): number { return this.offset(this.big ? 8 : 4); }

  /** The tags of the directory at `at` that the decoder uses, and the next directory's offset. */
  readIfd(at: number, page: number): { tags: Map<number, number[]>; next: number } {
    const { countSize, entrySize, offsetSize } = ifdLayout(this.big);
    this.need(at, countSize, `page ${page} directory`);
    const count = this.big ? this.offset(at) : this.u16(at);
    this.need(at + countSize, count * entrySize + offsetSize, `page ${page} directory of ${count} entries`);
    const body = this.bytes.subarray(at + countSize, at + countSize + count * entrySize + offsetSize);
    const { entries, next } = ifdEntries(body, count, this, (tag) => WANTED.has(tag));
    const tags = new Map<number, number[]>();
    for (const e of entries) {
      if (!e.inline) this.need(e.offset, e.bytes, `page ${page} tag ${e.tag} (${e.count} values)`);
      tags.set(e.tag, fieldValues(e.type, e.count, e.inline ?? this.bytes.subarray(e.offset, e.offset + e.bytes), this.little, this.name));
    }
    return { tags, next };
  }
}

/**
 * Every page of a TIFF or BigTIFF file. `name` (usually the path) starts every error message.
 * @example decodeTiff(encodeTiff([gray8]), 'a.tif') // [gray8]
 */
export function decodeTiff(bytes: Uint8Array, name = 'TIFF', options: TiffDecodeOptions = {}): Raster[] {
  const r = new TiffReader(bytes, name);
  const pages: Map<number, number[]>[] = [];
  const seen = new Set<number>();
  for (let at = r.firstIfd(); at !== 0;) {
    if (seen.has(at)) throw new Error(`${name}: not a readable TIFF (the page chain loops: page ${pages.length} points back to the directory at byte ${at}; the file is corrupt)`);
    seen.add(at);
    const { tags, next } = r.readIfd(at, pages.length + 1);
    pages.push(tags);
    at = next;
  }
  if (pages.length === 0) throw new Error(`${name}: the TIFF holds no image`);
  return pages.map((tags, k) => decodePage(r, tags, pages.length > 1 ? `${name} page ${k + 1}` : name, options));
}

type Sampled = { bits: number; format: 1 | 2 | 3 };

function decodePage(r: TiffReader, tags: Map<number, number[]>, where: string, options: TiffDecodeOptions): Raster {
  const one = (tag: number, fallback?: number): number => {
    const v = tags.get(tag)?.[0] ?? fallback;
    if (v === undefined) throw new Error(`${where}: the TIFF lacks the required tag ${tag} (${Object.entries(TAG).find(([, t]) => t === tag)?.[0]})`);
    return v;
  };
  const width = one(TAG.width);
  const height = one(TAG.height);
  if (!(width >= 1 && height >= 1)) throw new Error(`${where}: the TIFF declares ${width}x${height} pixels`);
  checkPixelLimit(where, height, width, options.maxPixels);
  const spp = one(TAG.samplesPerPixel, 1);
  const uniform = (tag: number, fallback: number, what: string): number => {
    const vs = tags.get(tag) ?? [fallback];
    if (vs.some((v) => v !== vs[0])) throw new Error(`${where}: mixed ${what} per sample (${vs.join(', ')}) are not supported`);
    return vs[0]!;
  };
  const bits = uniform(TAG.bitsPerSample, 1, 'BitsPerSample');
  const rawFormat = uniform(TAG.sampleFormat, 1, 'SampleFormat');
  const format = (rawFormat === 4 ? 1 : rawFormat) as Sampled['format']; // 4 = "undefined": raw unsigned data
  const compression = one(TAG.compression, 1);
  const planar = one(TAG.planar, 1);
  const predictor = one(TAG.predictor, 1);
  const fillOrder = one(TAG.fillOrder, 1);
  const declaredExtra = tags.get(TAG.extraSamples)?.length ?? 0;
  const photometric = one(TAG.photometric, spp - declaredExtra >= 3 ? 2 : 1);
  // RGB with more than 3 samples but no ExtraSamples tag (RGBA from some writers): the rest is extra.
  const extra = photometric === 2 && declaredExtra === 0 && spp > 3 ? spp - 3 : declaredExtra;
  const channels = spp - extra;

  if (PHOTOMETRIC_NAMES[photometric] || photometric > 2) {
    throw new Error(`${where}: ${PHOTOMETRIC_NAMES[photometric] ?? `PhotometricInterpretation ${photometric}`} TIFFs are not supported; save as gray or RGB`);
  }
  if (photometric === 2 && channels !== 3) throw new Error(`${where}: an RGB TIFF needs 3 colour samples per pixel, this one has ${channels} (and ${extra} extra)`);
  if (channels < 1) throw new Error(`${where}: SamplesPerPixel ${spp} with ${extra} extra samples leaves no image channel`);
  if (MAX_EXPANSION[compression] === undefined) {
    throw new Error(`${where}: ${COMPRESSION_NAMES[compression] ?? `compression ${compression}`} compressed TIFFs are not supported; save uncompressed, LZW, Deflate or PackBits`);
  }
  if (planar !== 1 && planar !== 2) throw new Error(`${where}: PlanarConfiguration ${planar} is not a TIFF value (1 or 2)`);
  if (fillOrder !== 1 && fillOrder !== 2) throw new Error(`${where}: FillOrder ${fillOrder} is not a TIFF value (1 or 2)`);
  const supported =
    (format === 1 && [1, 2, 4, 8, 16, 32].includes(bits)) || (format === 2 && [8, 16, 32].includes(bits)) || (format === 3 && [16, 32, 64].includes(bits));
  if (!supported) {
    const kind = { 1: 'unsigned', 2: 'signed', 3: 'float' }[format] ?? `SampleFormat ${rawFormat}`;
    throw new Error(`${where}: ${bits}-bit ${kind} samples are not supported (unsigned 1/2/4/8/16/32, signed 8/16/32 or float 16/32/64 bits)`);
  }
  if (predictor !== 1 && !(predictor === 2 && format !== 3 && bits >= 8) && !(predictor === 3 && format === 3)) {
    throw new Error(`${where}: Predictor ${predictor} with ${bits}-bit SampleFormat ${format} samples is not supported`);
  }
  if (photometric === 0 && format !== 1) throw new Error(`${where}: MinIsWhite with signed or float samples has no defined white; save as MinIsBlack`);

  // Chunks: tiles when the tile tags are there, else strips (a strip is a tile as wide as the image).
  const tiled = tags.has(TAG.tileOffsets);
  const chunkW = tiled ? one(TAG.tileWidth) : width;
  const chunkH = tiled ? one(TAG.tileLength) : Math.min(height, one(TAG.rowsPerStrip, height));
  if (!(chunkW >= 1 && chunkH >= 1)) throw new Error(`${where}: tile or strip size ${chunkW}x${chunkH} is invalid`);
  const across = Math.ceil(width / chunkW);
  const down = Math.ceil(height / chunkH);
  const planes = planar === 2 ? spp : 1;
  const perChunk = planar === 2 ? 1 : spp;
  const rowBytes = Math.ceil((chunkW * perChunk * bits) / 8);
  const offsets = tags.get(tiled ? TAG.tileOffsets : TAG.stripOffsets);
  if (!offsets) throw new Error(`${where}: the TIFF has no StripOffsets or TileOffsets tag (no image data)`);
  if (offsets.length < across * down * planes) {
    throw new Error(`${where}: ${offsets.length} ${tiled ? 'tiles' : 'strips'} for ${width}x${height} pixels in ${chunkW}x${chunkH} chunks${planes > 1 ? ` and ${planes} planes` : ''}, need ${across * down * planes}`);
  }
  // Strips are never taller than the image rows they hold; tiles are always whole.
  const chunkRows = (cy: number): number => (tiled ? chunkH : Math.min(chunkH, height - cy * chunkH));
  let counts = tags.get(tiled ? TAG.tileByteCounts : TAG.stripByteCounts);
  if (!counts) {
    if (compression !== 1) throw new Error(`${where}: the TIFF lacks ${tiled ? 'TileByteCounts' : 'StripByteCounts'} for compressed data`);
    counts = offsets.map((_, i) => rowBytes * chunkRows(Math.floor(i / across) % down));
  }
  let available = 0;
  let needed = 0;
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < across * down; i++) {
      const k = p * across * down + i;
      const count = Math.min(counts[k] ?? 0, Math.max(0, r.bytes.length - offsets[k]!));
      available += count;
      needed += rowBytes * chunkRows(Math.floor(i / across));
    }
  }
  if (available * MAX_EXPANSION[compression]! < needed) {
    throw new Error(`${where}: the TIFF declares ${width}x${height}x${spp} ${bits}-bit samples (${needed} bytes) but holds ${available} bytes of ${compression === 1 ? 'uncompressed' : 'compressed'} data; truncated or corrupt`);
  }

  const out = allocate(bits, format, width * height * channels);
  const maxValue = 2 ** bits - 1;
  const scale = format === 1 && bits < 8 ? 255 / maxValue : 1;
  const invert = photometric === 0;
  const direct = !invert && scale === 1 && planar === 1 && perChunk === channels && !(format === 1 && bits === 32);
  const unsigned32 = format === 1 && bits === 32;
  let tooLarge = false;
  for (let p = 0; p < planes; p++) {
    if (planar === 2 && p >= channels) continue; // extra-sample plane
    for (let cy = 0; cy < down; cy++) {
      for (let cx = 0; cx < across; cx++) {
        const k = (p * down + cy) * across + cx;
        const rows = chunkRows(cy);
        const chunkBytes = rowBytes * rows;
        const off = offsets[k]!;
        const count = counts[k] ?? 0;
        r.need(off, count, `${tiled ? 'tile' : 'strip'} ${k + 1}`);
        let raw = r.bytes.subarray(off, off + count);
        if (fillOrder === 2) raw = raw.map(reverseBits);
        const data = decompress(raw, compression, chunkBytes, `${where} ${tiled ? 'tile' : 'strip'} ${k + 1}`);
        const samples = readSamples(data, rowBytes, chunkW * perChunk, rows, bits, format, r.little);
        if (predictor === 2) undoHorizontal(samples, chunkW * perChunk, rows, perChunk);
        const values = predictor === 3 ? undoFloatPredictor(data, chunkW * perChunk, rows, bits, perChunk) : samples;
        const x0 = cx * chunkW;
        const y0 = cy * chunkH;
        const w = Math.min(chunkW, width - x0);
        const h = Math.min(rows, height - y0);
        if (direct) {
          // Same samples per pixel in file and raster, no value mapping: copy row by row.
          for (let y = 0; y < h; y++) out.set((values as Int32Array).subarray(y * chunkW * channels, (y * chunkW + w) * channels), ((y0 + y) * width + x0) * channels);
          continue;
        }
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const src = (y * chunkW + x) * perChunk;
            const dst = ((y0 + y) * width + x0 + x) * channels;
            for (let s = 0; s < (planar === 2 ? 1 : channels); s++) {
              let v = values[src + s]!;
              if (invert) v = maxValue - v;
              if (unsigned32 && v > 2147483647) tooLarge = true;
              out[dst + (planar === 2 ? p : s)] = v * scale;
            }
          }
        }
      }
    }
  }
  if (tooLarge) throw new Error(`${where}: unsigned 32-bit values above 2^31 - 1 are not supported (read as signed 32-bit integers)`);
  return makeRaster(out, height, width, channels, where);
}

function allocate(bits: number, format: number, n: number): PixelArray {
  if (format === 3) return new Float32Array(n);
  if (format === 2 || bits === 32) return new Int32Array(n);
  return bits === 16 ? new Uint16Array(n) : new Uint8Array(n);
}

function reverseBits(b: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((b >> i) & 1) << (7 - i);
  return r;
}

/** The chunk's bytes after decompression (at most `expected` of them); throws when fewer come out. */
function decompress(raw: Uint8Array, compression: number, expected: number, where: string): Uint8Array {
  let out: Uint8Array;
  try {
    if (compression === 1) out = raw;
    else if (compression === 5) out = lzwDecode(raw, expected);
    else if (compression === 32773) out = packBitsDecode(raw, expected);
    else out = unzlibSync(raw, { out: new Uint8Array(expected) });
  } catch (e) {
    throw new Error(`${where}: the compressed data is corrupt (${(e as Error).message})`, { cause: e });
  }
  if (out.length < expected) throw new Error(`${where}: decompresses to ${out.length} bytes, expected ${expected}; truncated or corrupt`);
  return out;
}

/** TIFF LZW (MSB-first codes, 9-12 bits, early change), stopping after `limit` bytes. */
export function lzwDecode(input: Uint8Array, limit: number): Uint8Array {
  const out = new Uint8Array(limit);
  let n = 0;
  const prefix = new Int32Array(4096);
  const suffix = new Uint8Array(4096);
  const length = new Int32Array(4096);
  for (let i = 0; i < 256; i++) { suffix[i] = i; length[i] = 1; prefix[i] = -1; }
  let next = 258;
  let width = 9;
  let old = -1;
  let bitPos = 0;
  const totalBits = input.length * 8;
  const emit = (code: number): void => {
    const len = length[code]!;
    let at = n + len - 1;
    for (let c = code; c >= 0 && at >= n; c = prefix[c]!, at--) if (at < limit) out[at] = suffix[c]!;
    n += len;
  };
  const first = (code: number): number => {
    let c = code;
    while (prefix[c]! >= 0) c = prefix[c]!;
    return suffix[c]!;
  };
  while (n < limit && bitPos + width <= totalBits) {
    let code = 0;
    for (let i = 0; i < width; i++, bitPos++) code = (code << 1) | ((input[bitPos >> 3]! >> (7 - (bitPos & 7))) & 1);
    if (code === 257) break;
    if (code === 256) {
      next = 258;
      width = 9;
      old = -1;
      continue;
    }
    if (old === -1) {
      if (code > 255) throw new Error(`LZW code ${code} after a clear code`);
      emit(code);
    } else if (code < next) {
      emit(code);
      if (next < 4096) { prefix[next] = old; suffix[next] = first(code); length[next] = length[old]! + 1; next++; }
    } else if (code === next && next < 4096) {
      prefix[next] = old; suffix[next] = first(old); length[next] = length[old]! + 1; next++;
      emit(code);
    } else {
      throw new Error(`LZW code ${code} beyond the table (${next})`);
    }
    old = code;
    if (next + 1 >= 1 << width && width < 12) width++;
  }
  return out.subarray(0, Math.min(n, limit));
}

/** PackBits run-length decoding, stopping after `limit` bytes. */
export function packBitsDecode(input: Uint8Array, limit: number): Uint8Array {
  const out = new Uint8Array(limit);
  let n = 0;
  for (let i = 0; i < input.length && n < limit;) {
    const h = (input[i++]! << 24) >> 24;
    if (h >= 0) {
      const len = Math.min(h + 1, limit - n, input.length - i);
      out.set(input.subarray(i, i + len), n);
      n += len;
      i += h + 1;
    } else if (h !== -128) {
      out.fill(input[i++] ?? 0, n, Math.min(limit, n + 1 - h));
      n = Math.min(limit, n + 1 - h);
    }
  }
  return out.subarray(0, n);
}

/** The samples of one decompressed chunk as numbers of their type (row padding removed for < 8 bits). */
function readSamples(data: Uint8Array, rowBytes: number, rowSamples: number, rows: number, bits: number, format: number, little: boolean): ArrayLike<number> & { [i: number]: number } {
  const n = rowSamples * rows;
  if (bits < 8) {
    const out = new Uint8Array(n);
    const mask = (1 << bits) - 1;
    for (let y = 0; y < rows; y++) {
      for (let i = 0; i < rowSamples; i++) {
        const bit = i * bits;
        out[y * rowSamples + i] = (data[y * rowBytes + (bit >> 3)]! >> (8 - bits - (bit & 7))) & mask;
      }
    }
    return out;
  }
  const bytes = bits / 8;
  const Type =
    format === 3 ? (bits === 64 ? Float64Array : bits === 32 ? Float32Array : Uint16Array)
      : format === 2 ? (bits === 8 ? Int8Array : bits === 16 ? Int16Array : Int32Array)
        : bits === 8 ? Uint8Array : bits === 16 ? Uint16Array : Uint32Array;
  // Typed to the file's sample width so that the horizontal predictor wraps as the writer's did.
  // A copy (slice) is aligned; the bytes are swapped first when the file's order is not the machine's.
  const copy = new Uint8Array(n * bytes); // not data.slice: on a Node Buffer that is a view
  copy.set(data.subarray(0, n * bytes));
  if (bytes > 1 && little !== LITTLE_ENDIAN_MACHINE) {
    for (let i = 0; i < copy.length; i += bytes) copy.subarray(i, i + bytes).reverse();
  }
  const typed = new Type(copy.buffer, 0, n);
  if (format === 3 && bits === 16) return Float64Array.from(typed as Uint16Array, halfToFloat);
  return typed;
}

const LITTLE_ENDIAN_MACHINE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Predictor 2: each sample was stored as the difference to the same sample of the pixel before. */
function undoHorizontal(s: { [i: number]: number }, rowSamples: number, rows: number, stride: number): void {
  for (let y = 0; y < rows; y++) {
    const o = y * rowSamples;
    for (let i = stride; i < rowSamples; i++) s[o + i] = s[o + i]! + s[o + i - stride]!;
  }
}

/**
 * Predictor 3 (Adobe floating point): per row, bytes were split into planes by significance
 * (most significant first) and then byte-differenced with a stride of the samples per pixel.
 */
function undoFloatPredictor(data: Uint8Array, rowSamples: number, rows: number, bits: number, stride: number): Float64Array {
  const bytes = bits / 8;
  const rowBytes = rowSamples * bytes;
  const out = new Float64Array(rowSamples * rows);
  const tmp = new Uint8Array(rowBytes);
  const value = new DataView(new ArrayBuffer(8));
  for (let y = 0; y < rows; y++) {
    tmp.set(data.subarray(y * rowBytes, (y + 1) * rowBytes));
    for (let i = stride; i < rowBytes; i++) tmp[i] = (tmp[i]! + tmp[i - stride]!) & 255;
    for (let i = 0; i < rowSamples; i++) {
      for (let b = 0; b < bytes; b++) value.setUint8(b, tmp[b * rowSamples + i]!);
      out[y * rowSamples + i] = bits === 16 ? halfToFloat(value.getUint16(0, false)) : bits === 32 ? value.getFloat32(0, false) : value.getFloat64(0, false);
    }
  }
  return out;
}

/** IEEE 754 half precision bits to a number. @example halfToFloat(0x3c00) === 1 */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Sample layout of a raster's typed array in TIFF terms. */
function tiffSampleType(data: PixelArray, name: string): { bits: number; format: number } {
  if (data instanceof Uint8Array) return { bits: 8, format: 1 };
  if (data instanceof Uint16Array) return { bits: 16, format: 1 };
  if (data instanceof Int32Array) return { bits: 32, format: 2 };
  if (data instanceof Float32Array) return { bits: 32, format: 3 };
  throw new Error(`${name}: cannot write ${(data as object).constructor.name} samples to TIFF; use Uint8Array, Uint16Array, Int32Array or Float32Array`);
}

/**
 * Encodes pages (1 = gray, 3 = RGB, 4 = RGBA channels; uint8, uint16, int32 or float32) as
 * an uncompressed little-endian multi-page TIFF, one strip per page, any number of pages up
 * to the 4 GiB of classic TIFF. All pages share one sample type and channel count; sizes may differ.
 * Layout per page: directory, its out-of-line values, then the pixels, each 4-byte aligned.
 */
export function encodeTiff(pages: readonly Raster[], name = 'encodeTiff'): Uint8Array {
  if (pages.length === 0) throw new Error(`${name}: no pages to write`);
  const first = pages[0]!;
  const type = tiffSampleType(first.data, name);
  for (const [i, p] of pages.entries()) {
    if (![1, 3, 4].includes(p.channels)) throw new Error(`${name}: page ${i + 1} has ${p.channels} channels; TIFF pages must have 1, 3 or 4`);
    if (p.channels !== first.channels || p.data.constructor !== first.data.constructor) {
      throw new Error(`${name}: page ${i + 1} is ${p.data.constructor.name} x ${p.channels} but page 1 is ${first.data.constructor.name} x ${first.channels}; all pages must match`);
    }
    if (p.data.length !== p.height * p.width * p.channels) throw new Error(`${name}: page ${i + 1} has ${p.data.length} values for ${p.height}x${p.width}x${p.channels}`);
  }
  const c = first.channels;
  const bytesPer = type.bits / 8;
  const align = (n: number): number => (n + 3) & ~3;
  const entries = c === 4 ? 12 : 11;
  const ifdBytes = 2 + entries * 12 + 4;
  // BitsPerSample and SampleFormat need 2 bytes per channel, inline (4 bytes) for one channel only.
  const extraBytes = c > 2 ? 2 * c * 2 : 0;
  const layout: { ifd: number; extra: number; data: number }[] = [];
  let end = 8;
  for (const p of pages) {
    const ifd = align(end);
    const extra = ifd + ifdBytes;
    const data = align(extra + extraBytes);
    layout.push({ ifd, extra, data });
    end = data + p.data.length * bytesPer;
  }
  if (end > 2 ** 32 - 1) throw new Error(`${name}: ${pages.length} pages need ${end} bytes, over the 4 GiB of a classic TIFF; write fewer pages per file`);
  const out = new Uint8Array(end);
  const view = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  view.setUint32(4, layout[0]!.ifd, true);
  pages.forEach((p, i) => {
    const { ifd, extra, data } = layout[i]!;
    let e = ifd + 2;
    view.setUint16(ifd, entries, true);
    // Entries in ascending tag order (TIFF 6.0); SHORT values left-justified in the 4-byte field.
    const entry = (tag: number, type: 3 | 4, values: number[]): void => {
      view.setUint16(e, tag, true);
      view.setUint16(e + 2, type, true);
      view.setUint32(e + 4, values.length, true);
      const size = type === 3 ? 2 : 4;
      let at = values.length * size <= 4 ? e + 8 : extraAt;
      if (values.length * size > 4) { view.setUint32(e + 8, extraAt, true); extraAt += values.length * size; }
      for (const v of values) { if (type === 3) view.setUint16(at, v, true); else view.setUint32(at, v, true); at += size; }
      e += 12;
    };
    let extraAt = extra;
    const perChannel = (v: number): number[] => new Array<number>(c).fill(v);
    entry(256, 4, [p.width]);
    entry(257, 4, [p.height]);
    entry(258, 3, perChannel(type.bits));
    entry(259, 3, [1]); // no compression
    entry(262, 3, [c === 1 ? 1 : 2]); // BlackIsZero or RGB
    entry(273, 4, [data]);
    entry(277, 3, [c]);
    entry(278, 4, [p.height]); // one strip per page
    entry(279, 4, [p.data.length * bytesPer]);
    entry(284, 3, [1]); // chunky
    if (c === 4) entry(338, 3, [2]); // unassociated alpha
    entry(339, 3, perChannel(type.format));
    view.setUint32(e, i + 1 < pages.length ? layout[i + 1]!.ifd : 0, true);
    const d = p.data;
    if (d instanceof Uint8Array) out.set(d, data);
    else if (d instanceof Uint16Array) for (let k = 0, at = data; k < d.length; k++, at += 2) view.setUint16(at, d[k]!, true);
    else if (d instanceof Int32Array) for (let k = 0, at = data; k < d.length; k++, at += 4) view.setInt32(at, d[k]!, true);
    else for (let k = 0, at = data; k < d.length; k++, at += 4) view.setFloat32(at, d[k]!, true);
  });
  return out;
}
