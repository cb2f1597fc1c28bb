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
  const rows = new Int32Array(height);
  for (let y = 0; y < height; y++) rows[y] = reflectIndex(top + y, imageH);
  const cols = new Int32Array(width);
  for (let x = 0; x < width; x++) cols[x] = reflectIndex(left + x, imageW);
  return copyPixels(data, imageW, channels, rows, cols, dst);
}

/** dst[y][x] = src[rows[y]][cols[x]] for every channel: the copy both window cutters share. */
function copyPixels<O extends Pixels>(src: Pixels, srcW: number, channels: number, rows: Int32Array, cols: Int32Array, dst: O): O {
  const width = cols.length;
  for (let y = 0; y < rows.length; y++) {
    const srcRow = rows[y]! * srcW;
    const dstRow = y * width;
    for (let x = 0; x < width; x++) {
      const s = (srcRow + cols[x]!) * channels;
      const d = (dstRow + x) * channels;
      for (let c = 0; c < channels; c++) dst[d + c] = src[s + c]!;
    }
  }
  return dst;
}

/**
 * {@link extractWindow} from a region of the image: `region` holds image rows
 * [regionTop, regionTop + regionH) and columns [regionLeft, regionLeft + regionW) of an
 * imageH x imageW image, and must contain every (mirrored) pixel the window needs.
 * Mirroring is by the full image's size, so the window equals what {@link extractWindow}
 * cuts from the whole image.
 *
 * @example
 *   // image row a b c d (W = 4), region = columns 1..3 (b c d): a window at left 2 of
 *   // width 3 is c d c (index 4 mirrors to 2); at left -1 it needs column 0 (a) -> error.
 */
export function extractWindowFromRegion(
  region: Float32Array,
  regionTop: number,
  regionLeft: number,
  regionH: number,
  regionW: number,
  imageH: number,
  imageW: number,
  channels: number,
  top: number,
  left: number,
  height: number,
  width: number,
  out: Float32Array,
): Float32Array {
  const cols = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    const c = reflectIndex(left + x, imageW) - regionLeft;
    if (c < 0 || c >= regionW) throw new Error(`extractWindowFromRegion: column ${left + x} mirrors to ${c + regionLeft}, outside the region's columns [${regionLeft}, ${regionLeft + regionW})`);
    cols[x] = c;
  }
  const rows = new Int32Array(height);
  for (let y = 0; y < height; y++) {
    const r = reflectIndex(top + y, imageH) - regionTop;
    if (r < 0 || r >= regionH) throw new Error(`extractWindowFromRegion: row ${top + y} mirrors to ${r + regionTop}, outside the region's rows [${regionTop}, ${regionTop + regionH})`);
    rows[y] = r;
  }
  return copyPixels(region, regionW, channels, rows, cols, out);
}

/**
 * The smallest interval [lo, hi) of image indices that the mirrored positions
 * [start, start + length) of an axis of size n fall on.
 *
 * @example mirroredSpan(-2, 5, 10) // [0, 3]: -2 -> 2, -1 -> 1, 0, 1, 2
 * @example mirroredSpan(8, 4, 10)  // [7, 10]: 8, 9, 10 -> 8, 11 -> 7
 */
export function mirroredSpan(start: number, length: number, n: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = start; i < start + length; i++) {
    const r = reflectIndex(i, n);
    if (r < lo) lo = r;
    if (r > hi) hi = r;
  }
  return [lo, hi + 1];
}
