/**
 * Tiny writers of PNG and TIFF bytes for test corpora: the variants no library writes
 * (loops, missing tags, 1/2/4 bits, FillOrder 2, tRNS, bombs).
 */
import { crc32, deflateSync } from 'node:zlib';

export type Entry = [tag: number, type: number, values: number[]];
export interface TiffPage { readonly entries: Entry[]; readonly strips: Uint8Array[] }

/**
 * Classic little-endian TIFF: per page, strips then the directory; StripOffsets (273) and
 * StripByteCounts (279) are added from `strips`. `next(k, ifdOffsets)` overrides page k's
 * next-directory pointer (for loops).
 */
export function tiff(pages: TiffPage[], next?: (k: number, ifds: number[]) => number | undefined): Uint8Array {
  const size: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 11: 4, 12: 8 };
  const parts: { at: number; bytes: Uint8Array }[] = [];
  let end = 8;
  const ifds: number[] = [];
  const fixups: (() => void)[] = [];
  const out = new Uint8Array(1 << 16);
  const v = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  pages.forEach((p, k) => {
    const offsets: number[] = [];
    for (const s of p.strips) { offsets.push(end); parts.push({ at: end, bytes: s }); end += s.length + (s.length & 1); }
    const entries = [...p.entries, [273, 4, offsets] as Entry, [279, 4, p.strips.map((s) => s.length)] as Entry].sort((a, b) => a[0] - b[0]);
    const ifd = end;
    ifds.push(ifd);
    v.setUint16(ifd, entries.length, true);
    let extra = ifd + 2 + entries.length * 12 + 4;
    entries.forEach(([tag, type, values], i) => {
      const e = ifd + 2 + i * 12;
      v.setUint16(e, tag, true); v.setUint16(e + 2, type, true); v.setUint32(e + 4, values.length, true);
      const n = size[type]! * values.length;
      let at = e + 8;
      if (n > 4) { v.setUint32(e + 8, extra, true); at = extra; extra += n + (n & 1); }
      for (const x of values) {
        if (size[type] === 1) v.setUint8(at, x); else if (type === 3) v.setUint16(at, x, true); else if (type === 8) v.setInt16(at, x, true);
        else if (type === 11) v.setFloat32(at, x, true); else if (type === 12) v.setFloat64(at, x, true); else v.setUint32(at, x, true);
        at += size[type]!;
      }
    });
    end = extra;
    fixups.push(() => v.setUint32(ifd + 2 + entries.length * 12, next?.(k, ifds) ?? (k + 1 < pages.length ? ifds[k + 1]! : 0), true));
  });
  v.setUint32(4, ifds[0]!, true);
  for (const f of fixups) f();
  for (const { at, bytes } of parts) out.set(bytes, at);
  return out.slice(0, end);
}
/** A PNG of `rows` (bytes per scanline, filter 0 added), extra chunks before IDAT, or a given IDAT. */
export function png(width: number, height: number, depth: number, colorType: number, rows: number[][], chunks: [string, Uint8Array][] = [], idat?: Uint8Array): Uint8Array {
  const chunk = (type: string, data: Uint8Array): Uint8Array => {
    const out = new Uint8Array(12 + data.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, data.length);
    const td = new Uint8Array([...type].map((c) => c.charCodeAt(0)).concat([...data]));
    out.set(td, 4);
    v.setUint32(8 + data.length, crc32(td) >>> 0);
    return out;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const raw = Uint8Array.from(rows.flatMap((r) => [0, ...r]));
  const parts = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), chunk('IHDR', ihdr), ...chunks.map(([t, d]) => chunk(t, d)), chunk('IDAT', idat ?? deflateSync(raw)), chunk('IEND', new Uint8Array(0))];
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}
