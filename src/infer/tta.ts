/**
 * Test-time augmentation: predict flipped and rotated copies of every tile, undo the
 * transform on each prediction and average. Sec. 3.3 (ISBI 2012): "we averaged over
 * 7 rotated versions of the input data"; here the 8 symmetries of the square (4 of
 * them for non-square tiles, whose 90 degree rotations would change the tile shape).
 */
import type { TilePredictor } from './predictor.js';

/**
 * A symmetry of the pixel grid as three bits applied to destination coordinates
 * (row i, column j): bit 0 flips columns, bit 1 flips rows, bit 2 transposes.
 * 0 identity, 1 mirror left-right, 2 mirror up-down, 3 rotate 180,
 * 4 transpose, 5 and 6 the two 90 degree rotations, 7 anti-transpose.
 */
export type Dihedral = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

export const ALL_DIHEDRAL: readonly Dihedral[] = [0, 1, 2, 3, 4, 5, 6, 7];
export const SHAPE_PRESERVING: readonly Dihedral[] = [0, 1, 2, 3];

/**
 * dst = T(src) for one H x W x C image (`inverse`: src = T^-1(dst), where `h`, `w`
 * are the source shape of the forward transform). A transposing T swaps H and W.
 *
 * @example
 *   // 1 2 3                        1 4
 *   // 4 5 6  --transpose (4)-->    2 5
 *   //                              3 6
 *   dihedral(Float32Array.of(1,2,3,4,5,6), 2, 3, 1, 4) // [1,4,2,5,3,6]
 */
export function dihedral(src: Float32Array, h: number, w: number, c: number, t: Dihedral, inverse = false, out?: Float32Array): Float32Array {
  if (src.length !== h * w * c) throw new Error(`dihedral: ${src.length} values for ${h}x${w}x${c}`);
  const swap = (t & 4) !== 0;
  const dh = swap ? w : h;
  const dw = swap ? h : w;
  const dst = out ?? new Float32Array(src.length);
  for (let i = 0; i < dh; i++) {
    const a = t & 2 ? dh - 1 - i : i;
    for (let j = 0; j < dw; j++) {
      const b = t & 1 ? dw - 1 - j : j;
      const y = swap ? b : a;
      const x = swap ? a : b;
      const s = (y * w + x) * c;
      const d = (i * dw + j) * c;
      // Forward gathers from the source; the inverse scatters back along the same map.
      if (inverse) for (let k = 0; k < c; k++) dst[s + k] = src[d + k]!;
      else for (let k = 0; k < c; k++) dst[d + k] = src[s + k]!;
    }
  }
  return dst;
}

/**
 * A predictor that averages `inner` over `transforms` (default: all 8 for square
 * tiles and square outputs, else the 4 shape-preserving ones). Each transform is one
 * call of `inner.predictBatch` with the whole batch.
 */
export function withTestTimeAugmentation(inner: TilePredictor, transforms?: readonly Dihedral[]): TilePredictor {
  const [inH, inW] = inner.inputShape;
  const [outH, outW] = inner.outputShape;
  const square = inH === inW && outH === outW;
  const ts = transforms ?? (square ? ALL_DIHEDRAL : SHAPE_PRESERVING);
  if (ts.length === 0) throw new Error('withTestTimeAugmentation: no transforms given');
  if (!square && ts.some((t) => t >= 4)) throw new Error(`withTestTimeAugmentation: tiles of ${inH}x${inW} are not square, so only transforms 0-3 (flips) apply`);
  const inLen = inH * inW * inner.channels;
  const outLen = outH * outW * inner.classes;
  return {
    inputShape: inner.inputShape,
    outputShape: inner.outputShape,
    channels: inner.channels,
    classes: inner.classes,
    alignment: inner.alignment,
    async predictBatch(tilesNHWC: Float32Array, n: number): Promise<Float32Array> {
      const sum = new Float32Array(n * outLen);
      const moved = new Float32Array(n * inLen);
      const back = new Float32Array(outLen);
      for (const t of ts) {
        for (let b = 0; b < n; b++) {
          dihedral(tilesNHWC.subarray(b * inLen, (b + 1) * inLen), inH, inW, inner.channels, t, false, moved.subarray(b * inLen, (b + 1) * inLen));
        }
        const probs = await inner.predictBatch(moved, n);
        for (let b = 0; b < n; b++) {
          dihedral(probs.subarray(b * outLen, (b + 1) * outLen), outH, outW, inner.classes, t, true, back);
          const o = b * outLen;
          for (let k = 0; k < outLen; k++) sum[o + k] = sum[o + k]! + back[k]!;
        }
      }
      const scale = 1 / ts.length;
      for (let k = 0; k < sum.length; k++) sum[k] = sum[k]! * scale;
      return sum;
    },
  };
}
