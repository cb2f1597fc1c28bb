/**
 * The layout of a TIFF / BigTIFF image file directory (IFD), browser-safe and independent of
 * where the bytes come from: the whole-file reader (tiff.ts, bytes in memory) and the region
 * reader (tiff-region.ts, bytes read from a file handle as needed) both parse directories with
 * these functions, so the two agree on every field type, byte order and size check.
 *
 * A directory is a count (2 bytes, BigTIFF 8), that many entries (12 bytes, BigTIFF 20: tag,
 * type, value count, then the values themselves when they fit in 4 (8) bytes, else their offset),
 * and the offset of the next directory (4, BigTIFF 8; 0 ends the chain). TIFF 6.0 section 2.
 */

/** Byte size of each TIFF field type (BigTIFF adds 16-18). */
export const TYPE_SIZE: Readonly<Record<number, number>> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

/** The sizes that differ between classic TIFF and BigTIFF. */
export interface IfdLayout {
  /** Bytes of the entry count. */
  readonly countSize: number;
  /** Bytes of one entry. */
  readonly entrySize: number;
  /** Bytes of an offset (and of the values held in an entry). */
  readonly offsetSize: number;
}

/**
 * @example ifdLayout(false) // { countSize: 2, entrySize: 12, offsetSize: 4 }
 * @example ifdLayout(true) // { countSize: 8, entrySize: 20, offsetSize: 8 }
 */
export function ifdLayout(big: boolean): IfdLayout {
  return big ? { countSize: 8, entrySize: 20, offsetSize: 8 } : { countSize: 2, entrySize: 12, offsetSize: 4 };
}

/**
 * An unsigned offset or count (4 bytes, or 8 in BigTIFF) at byte `o` of `view`; BigTIFF values
 * above 2^53 (no real file has them) are refused rather than rounded.
 *
 * @example readOffset(new DataView(Uint8Array.of(1, 0, 0, 0).buffer), 0, true, false, 'a.tif') === 1
 */
export function readOffset(view: DataView, o: number, little: boolean, big: boolean, name: string): number {
  if (!big) return view.getUint32(o, little);
  const lo = view.getUint32(o + (little ? 0 : 4), little);
  const hi = view.getUint32(o + (little ? 4 : 0), little);
  if (hi >= 2 ** 21) throw new Error(`${name}: not a readable BigTIFF (a 64-bit value at byte ${o} exceeds 2^53)`);
  return hi * 2 ** 32 + lo;
}

/** One directory entry: its values are in `inline` when they fit in the entry, else at `offset`. */
export interface IfdEntry {
  readonly tag: number;
  readonly type: number;
  readonly count: number;
  /** Bytes of the values: count x TYPE_SIZE[type]. */
  readonly bytes: number;
  /** The values' bytes when held in the entry itself, else null. */
  readonly inline: Uint8Array | null;
  /** Where the values are in the file when not inline. */
  readonly offset: number;
}

/**
 * The entries of a directory of `count` entries, from `body`: the bytes after the count (the
 * entries and the next directory's offset). Entries of an unknown field type are left out (TIFF
 * 6.0: readers skip them), as are tags `keep` rejects.
 *
 * @example ifdEntries(body, 11, { little: true, big: false, name: 'a.tif' }).next // the next directory's offset
 */
export function ifdEntries(
  body: Uint8Array,
  count: number,
  file: { readonly little: boolean; readonly big: boolean; readonly name: string },
  keep: (tag: number, type: number) => boolean = () => true,
): { entries: IfdEntry[]; next: number } {
  const { entrySize, offsetSize } = ifdLayout(file.big);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const entries: IfdEntry[] = [];
  for (let k = 0; k < count; k++) {
    const e = k * entrySize;
    const tag = view.getUint16(e, file.little);
    const type = view.getUint16(e + 2, file.little);
    const size = TYPE_SIZE[type];
    if (size === undefined || !keep(tag, type)) continue;
    const n = readOffset(view, e + 4, file.little, file.big, file.name);
    const field = e + 4 + offsetSize;
    const bytes = n * size;
    const inline = bytes <= offsetSize ? body.subarray(field, field + bytes) : null;
    entries.push({ tag, type, count: n, bytes, inline, offset: inline ? -1 : readOffset(view, field, file.little, file.big, file.name) });
  }
  return { entries, next: readOffset(view, count * entrySize, file.little, file.big, file.name) };
}

/**
 * The values of a field of `type`, `count` of them, from their bytes; rationals become their
 * quotient, 64-bit integers numbers (refused above 2^53).
 *
 * @example fieldValues(3, 2, Uint8Array.of(1, 0, 2, 0), true, 'a.tif') // [1, 2] (two SHORTs)
 * @example fieldValues(5, 1, Uint8Array.of(3, 0, 0, 0, 2, 0, 0, 0), true, 'a.tif') // [1.5] (a RATIONAL)
 */
export function fieldValues(type: number, count: number, bytes: Uint8Array, little: boolean, name: string): number[] {
  const size = TYPE_SIZE[type];
  if (size === undefined) throw new Error(`fieldValues: unknown TIFF field type ${type}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const o = i * size;
    switch (type) {
      case 1: case 2: case 7: values[i] = v.getUint8(o); break;
      case 6: values[i] = v.getInt8(o); break;
      case 3: values[i] = v.getUint16(o, little); break;
      case 8: values[i] = v.getInt16(o, little); break;
      case 4: case 13: values[i] = v.getUint32(o, little); break;
      case 9: values[i] = v.getInt32(o, little); break;
      case 5: values[i] = v.getUint32(o, little) / v.getUint32(o + 4, little); break;
      case 10: values[i] = v.getInt32(o, little) / v.getInt32(o + 4, little); break;
      case 11: values[i] = v.getFloat32(o, little); break;
      case 12: values[i] = v.getFloat64(o, little); break;
      default: values[i] = readOffset(v, o, little, true, name); // 16, 17 (non-negative in practice), 18
    }
  }
  return values;
}
