/**
 * Mirror extrapolation at image borders (Sec. 2, Fig. 2: "the missing context is
 * extrapolated by mirroring the input image"). Reflection does not repeat the edge
 * pixel: for a row a b c d, index -1 is b and index 4 is c ("reflect", as numpy's
 * np.pad mode='reflect'). Indices far outside fold back repeatedly (period 2n - 2).
 */

/**
 * @example reflectIndex(-1, 4) === 1
 * @example reflectIndex(4, 4) === 2
 * @example reflectIndex(-7, 4) === 1   // period 6: -7 -> -1 -> 1
 * @example reflectIndex(5, 1) === 0    // a single pixel mirrors onto itself
 */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  let k = i % period;
  if (k < 0) k += period;
  return k < n ? k : period - k;
}

type Pixels = Float32Array | Uint8Array | Uint16Array | Int32Array;

/**
 * Copies the window [top, top + height) x [left, left + width) of an H x W x C
 * array, mirroring wherever the window leaves the image. The copy has the type of
 * `data`, or of `out` when given (e.g. Uint8 labels into an Int32 tile, converting
 * only the window's pixels).
 */
export function extractWindow<T extends Pixels, O extends Pixels = T>(
  data: T,
  imageH: number,
  imageW: number,
  channels: number,
  top: number,
  left: number,
  height: number,
  width: number,
  out?: O,
): O {
  const Ctor = data.constructor as new (n: number) => O;
  const dst = out ?? new Ctor(height * width * channels);
  const cols = new Int32Array(width);
  for (let x = 0; x < width; x++) cols[x] = reflectIndex(left + x, imageW);
  for (let y = 0; y < height; y++) {
    const srcRow = reflectIndex(top + y, imageH) * imageW;
    const dstRow = y * width;
    for (let x = 0; x < width; x++) {
      const s = (srcRow + cols[x]!) * channels;
      const d = (dstRow + x) * channels;
      for (let c = 0; c < channels; c++) dst[d + c] = data[s + c]!;
    }
  }
  return dst;
}
