/**
 * EXIF orientation (JPEG APP1 "Exif" segments and PNG eXIf chunks), browser-safe.
 * Decoders apply it, so that a mask lines up with the image as every viewer shows it
 * (EXIF 2.32, tag 0x0112 Orientation: 1 = as stored, 2-8 = mirrored and/or rotated).
 */
import type { PixelArray, Raster } from './raster.js';

/**
 * The Orientation (1-8) in a TIFF-structured EXIF block (the bytes after "Exif\0\0"), or 1
 * when absent or unreadable (a broken EXIF block does not make the pixels unreadable).
 * @example exifOrientation(exifWith(6)) === 6
 */
export function exifOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 1;
  const v = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 1;
  const ifd = v.getUint32(4, little);
  if (ifd + 2 > tiff.length) return 1;
  const count = v.getUint16(ifd, little);
  for (let k = 0; k < count; k++) {
    const e = ifd + 2 + k * 12;
    if (e + 12 > tiff.length) return 1;
    if (v.getUint16(e, little) === 0x0112) {
      const o = v.getUint16(e + 8, little);
      return o >= 1 && o <= 8 ? o : 1;
    }
  }
  return 1;
}

/**
 * The pixels as displayed under EXIF orientation `o` (2-8 transform, 5-8 swap height and width).
 * @example applyOrientation({ data: Uint8Array.of(1, 2), height: 1, width: 2, channels: 1 }, 6).data // [1, 2] as a 2x1 column
 */
export function applyOrientation<T extends PixelArray>(r: Raster<T>, o: number): Raster<T> {
  if (o === 1) return r;
  const { height: H, width: W, channels: C } = r;
  const swap = o >= 5;
  const outW = swap ? H : W;
  const outH = swap ? W : H;
  const out = new (r.data.constructor as new (n: number) => T)(r.data.length);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      // Source pixel (sx, sy) of the stored image for displayed pixel (x, y).
      let sx: number;
      let sy: number;
      switch (o) {
        case 2: sx = W - 1 - x; sy = y; break;
        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
        case 4: sx = x; sy = H - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = H - 1 - x; break;
        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
        default: sx = W - 1 - y; sy = x; break; // 8
      }
      const s = (sy * W + sx) * C;
      const d = (y * outW + x) * C;
      for (let c = 0; c < C; c++) out[d + c] = r.data[s + c]!;
    }
  }
  return { data: out, height: outH, width: outW, channels: C };
}
