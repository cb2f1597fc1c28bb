/**
 * Exact Euclidean distance transform (Felzenszwalb & Huttenlocher, "Distance Transforms
 * of Sampled Functions", Theory of Computing 8, 2012): one lower-envelope-of-parabolas
 * pass along every column, then one along every row. O(pixels), exact squared distances
 * between pixel centres (not a chamfer approximation). Used by the weight map of Sec. 3
 * (d1, d2 = distances to the nearest and second-nearest cell). Browser-safe.
 */

/**
 * 1-D squared distance transform of the sampled function f: out[q] = min_p (q - p)^2 + f[p].
 * Sites with f[p] = Infinity are skipped (rather than replaced by a large finite number),
 * so the result is exact and is Infinity only where every f[p] is Infinity.
 *
 * @example dt1d(Float64Array.of(Infinity, 0, Infinity, Infinity)) // [1, 0, 1, 4]
 * @example dt1d(Float64Array.of(0, Infinity, Infinity, 0))        // [0, 1, 1, 0]
 */
export function dt1d(f: Float64Array, out = new Float64Array(f.length)): Float64Array {
  const n = f.length;
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  fhEnvelope(f, 0, 1, n, out, 0, 1, v, z);
  return out;
}

/**
 * Core of FH: reads n values of f from fOff with stride fStride, writes n values of the
 * transform to dOff with stride dStride. v (sites) and z (envelope boundaries) are scratch.
 */
function fhEnvelope(
  f: Float64Array,
  fOff: number,
  fStride: number,
  n: number,
  d: Float64Array,
  dOff: number,
  dStride: number,
  v: Int32Array,
  z: Float64Array,
): void {
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[fOff + q * fStride]!;
    if (fq === Infinity) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    // Intersection of q's parabola with the rightmost one of the envelope; pop those it hides.
    // z[0] = -Infinity stops the loop at k = 0.
    let p = v[k]!;
    let s = (fq + q * q - (f[fOff + p * fStride]! + p * p)) / (2 * (q - p));
    while (s <= z[k]!) {
      k--;
      p = v[k]!;
      s = (fq + q * q - (f[fOff + p * fStride]! + p * p)) / (2 * (q - p));
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  if (k < 0) {
    for (let q = 0; q < n; q++) d[dOff + q * dStride] = Infinity;
    return;
  }
  let j = 0;
  for (let q = 0; q < n; q++) {
    while (z[j + 1]! < q) j++;
    const p = v[j]!;
    d[dOff + q * dStride] = (q - p) * (q - p) + f[fOff + p * fStride]!;
  }
}

/**
 * Squared Euclidean distance from every pixel of an H x W grid to the nearest pixel
 * where `isSource` holds (0 on sources, Infinity when there is no source). Squared
 * distances between integer pixel centres are integers, so the result is exact.
 *
 * @example
 *   // 1 0 0
 *   // 0 0 0   ->  0 1 4 / 1 2 5
 *   squaredEdt(Uint8Array.of(1,0,0, 0,0,0), 2, 3) // [0,1,4, 1,2,5]
 */
export function squaredEdt(
  mask: ArrayLike<number>,
  height: number,
  width: number,
  isSource: (v: number) => boolean = (v) => v !== 0,
): Float64Array {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`squaredEdt: height and width must be positive integers, got ${height}x${width}`);
  }
  if (mask.length !== height * width) throw new Error(`squaredEdt: mask has ${mask.length} values, expected ${height}x${width} = ${height * width}`);
  const f = new Float64Array(height * width);
  for (let i = 0; i < f.length; i++) f[i] = isSource(mask[i]!) ? 0 : Infinity;
  return squaredEdtOfSeeds(f, height, width);
}

/**
 * In-place two-pass FH on `f` (0 at sources, Infinity elsewhere, or any sampled
 * function), returning `f` holding the squared distances.
 */
export function squaredEdtOfSeeds(f: Float64Array, height: number, width: number): Float64Array {
  const n = Math.max(height, width);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  const tmp = new Float64Array(n);
  // Columns: read with stride `width`, copy through tmp so input and output do not alias.
  for (let x = 0; x < width; x++) {
    fhEnvelope(f, x, width, height, tmp, 0, 1, v, z);
    for (let y = 0; y < height; y++) f[y * width + x] = tmp[y]!;
  }
  for (let y = 0; y < height; y++) {
    fhEnvelope(f, y * width, 1, width, tmp, 0, 1, v, z);
    f.set(tmp.subarray(0, width), y * width);
  }
  return f;
}

/** Euclidean (not squared) distance to the nearest source pixel; see {@link squaredEdt}. */
export function edt(mask: ArrayLike<number>, height: number, width: number, isSource?: (v: number) => boolean): Float64Array {
  const d = squaredEdt(mask, height, width, isSource);
  for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]!);
  return d;
}
