/**
 * Size arithmetic of the U-Net, on plain numbers (no tensors).
 *
 * With 'valid' padding every 3x3 conv loses 1 px per side, each level runs two of
 * them, and every 2x2 max-pool needs an even input (Sec. 2: "it is important to
 * select the input tile size such that all 2x2 max-pooling operations are applied
 * to a layer with an even x- and y-size"). For depth D the valid inputs are
 * 2^D * (t + 4) - 4 for integer bottom sizes t, so they step by 2^D, and the
 * output is 2^D * (t - 8) + 4: input - output = 12 * 2^D - 8 whatever the tile.
 *
 * Worked example (paper, depth 4): 572 -> 568 -> pool 284 -> 280 -> 140 -> 136
 * -> 68 -> 64 -> 32 -> 28 (bottleneck) -> up 56 -> 52 -> 104 -> 100 -> 200 -> 196
 * -> 392 -> 388. Margin = (572 - 388) / 2 = 92 px per side; skip crops per side
 * 4, 16, 40, 88 from the deepest level up.
 */
import type { Padding } from './config.js';

export interface SizeSpec {
  readonly depth: number;
  readonly padding: Padding;
}

/**
 * Output size for an input size, or null when the input is not valid.
 *
 * @example outputSizeOrNull(572, { depth: 4, padding: 'valid' }) === 388
 * @example outputSizeOrNull(570, { depth: 4, padding: 'valid' }) === null
 * @example outputSizeOrNull(256, { depth: 4, padding: 'same' }) === 256
 */
export function outputSizeOrNull(input: number, spec: SizeSpec): number | null {
  if (!Number.isInteger(input) || input < 1) return null;
  if (spec.padding === 'same') {
    const step = 2 ** spec.depth;
    return input % step === 0 ? input : null;
  }
  let s = input;
  for (let level = 0; level < spec.depth; level++) {
    s -= 4;
    if (s < 2 || s % 2 !== 0) return null;
    s /= 2;
  }
  s -= 4; // bottleneck
  if (s < 1) return null;
  for (let level = 0; level < spec.depth; level++) {
    s = 2 * s - 4;
    if (s < 1) return null;
  }
  return s;
}

/** True when every pooled map is even and no map vanishes. @example isValidInputSize(572, paper) === true */
export function isValidInputSize(input: number, spec: SizeSpec): boolean {
  return outputSizeOrNull(input, spec) !== null;
}

/**
 * The nearest valid sizes at or below and at or above `size` (null where none exists).
 *
 * @example nearestValidSizes(570, { depth: 4, padding: 'valid' }) // { below: 556, above: 572 }
 * @example nearestValidSizes(572, { depth: 4, padding: 'valid' }) // { below: 572, above: 572 }
 */
export function nearestValidSizes(size: number, spec: SizeSpec): { below: number | null; above: number | null } {
  const s = Math.round(size);
  let below: number | null = null;
  for (let v = s; v >= 1; v--) {
    if (isValidInputSize(v, spec)) {
      below = v;
      break;
    }
  }
  let above: number | null = null;
  const step = 2 ** spec.depth;
  // Valid sizes recur every 2^depth, so one full period past the smallest valid size suffices.
  const limit = Math.max(s, minValidInputSize(spec)) + step;
  for (let v = Math.max(s, 1); v <= limit; v++) {
    if (isValidInputSize(v, spec)) {
      above = v;
      break;
    }
  }
  return { below, above };
}

/** Smallest valid input. @example minValidInputSize({ depth: 4, padding: 'valid' }) === 188 */
export function minValidInputSize(spec: SizeSpec): number {
  for (let v = 1; ; v++) if (isValidInputSize(v, spec)) return v;
}

/**
 * Output size for a valid input; throws an error naming the nearest valid sizes otherwise.
 *
 * @example outputSize(572, { depth: 4, padding: 'valid' }) === 388
 * @throws "outputSize: input 570 is not a valid U-Net input (depth 4, valid padding); nearest valid sizes are 556 and 572"
 */
export function outputSize(input: number, spec: SizeSpec, caller = 'outputSize', what = 'input'): number {
  const out = outputSizeOrNull(input, spec);
  if (out !== null) return out;
  throw new Error(`${caller}: ${invalidSizeMessage(input, spec, what)}`);
}

/** "input 570 is not a valid U-Net input (depth 4, valid padding); nearest valid sizes are 556 and 572" */
export function invalidSizeMessage(input: number, spec: SizeSpec, what = 'input'): string {
  const { below, above } = nearestValidSizes(input, spec);
  const near = [below, above].filter((v): v is number => v !== null && v !== input);
  const uniq = [...new Set(near)];
  const tail = uniq.length === 2 ? `nearest valid sizes are ${uniq[0]} and ${uniq[1]}` : `nearest valid size is ${uniq[0]}`;
  return `${what} ${input} is not a valid U-Net input (depth ${spec.depth}, ${spec.padding} padding); ${tail}`;
}

/**
 * Pixels lost per side between input and output (the context the overlap-tile
 * strategy must supply by mirroring). Constant for a given depth and padding.
 *
 * @example marginPerSide({ depth: 4, padding: 'valid' }) === 92
 * @example marginPerSide({ depth: 4, padding: 'same' }) === 0
 */
export function marginPerSide(spec: SizeSpec): number {
  return spec.padding === 'same' ? 0 : (12 * 2 ** spec.depth - 8) / 2;
}

/**
 * Pixels to crop per side from the skip map of encoder level `level` (0 = top)
 * before concatenation with the up-sampled decoder map. Constant for any valid
 * input: 4, 16, 40, 88 for levels 3..0 of the paper's net.
 *
 * @example skipCropPerSide(3, { depth: 4, padding: 'valid' }) === 4
 * @example skipCropPerSide(0, { depth: 4, padding: 'valid' }) === 88
 */
export function skipCropPerSide(level: number, spec: SizeSpec): number {
  if (spec.padding === 'same') return 0;
  // With j = D-1-l levels below, the encoder map exceeds the up-sampled decoder map
  // by d_j where d_0 = 8 and d_{j+1} = 2 d_j + 16, i.e. d_j = 24 * 2^j - 16.
  return 12 * 2 ** (spec.depth - 1 - level) - 8;
}

/** Valid input sizes in [lo, hi]. @example validInputSizes({ depth: 4, padding: 'valid' }, 500, 600) // [508, 524, 540, 556, 572, 588] */
export function validInputSizes(spec: SizeSpec, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let v = Math.max(1, Math.ceil(lo)); v <= hi; v++) if (isValidInputSize(v, spec)) out.push(v);
  return out;
}

/** The paper's input tile side (Fig. 1: a 572 x 572 input, 388 x 388 output). */
export const PAPER_TILE = 572;

/**
 * The training tile unless one is chosen (`unet train`, `unet info`): the paper's 572 when it
 * is valid for `spec`, else the nearest valid size below it (the smallest valid size if none).
 * @example defaultTileSize({ depth: 4, padding: 'valid' }) === 572
 */
export function defaultTileSize(spec: SizeSpec): number {
  if (isValidInputSize(PAPER_TILE, spec)) return PAPER_TILE;
  return nearestValidSizes(PAPER_TILE, spec).below ?? minValidInputSize(spec);
}
