/**
 * Overlap-tile arithmetic (Sec. 2, Fig. 2), on plain numbers: which output tiles
 * cover an image and which (partly mirrored) input windows they need.
 *
 * "To predict the pixels in the border region of the image, the missing context is
 * extrapolated by mirroring the input image" (Fig. 2). An output tile at `origin`
 * needs the input window starting `margin` pixels earlier on each axis; where that
 * window leaves the image, {@link extractWindow} mirrors it.
 *
 * Why tile origins are multiples of the network's down-sampling factor (2^depth):
 * a 'valid' U-Net is translation-equivariant only for shifts by whole pooling cells.
 * A tile whose origin is off that grid sees its 2x2 max-pools in another phase and
 * predicts (slightly) different values than one big input would. So the grid steps by
 * the largest multiple of the alignment that fits in the output tile, and the last
 * tile is pulled back to the nearest aligned origin that still reaches the image end
 * (it may overshoot by less than the alignment; the overshoot is cropped): a last tile
 * flush with the border could be off-grid.
 */

/** Height and width, in pixels. */
export type Size2 = readonly [height: number, width: number];

/** An axis-aligned rectangle in image coordinates (may extend past the image). */
export interface Window {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

export interface TilePlacement {
  readonly row: number;
  readonly col: number;
  /** Window fed to the model, in image coordinates; mirrored where it leaves the image. */
  readonly input: Window;
  /** Window the model predicts, in image coordinates; the part outside the image is dropped. */
  readonly output: Window;
  /**
   * The part of `output` this tile is the sole writer of when tiles are not blended:
   * [origin, next origin) on each axis, the last tile up to the image end. The owned
   * windows partition the image exactly.
   */
  readonly owned: Window;
}

export interface TileGrid {
  readonly image: Size2;
  readonly input: Size2;
  readonly output: Size2;
  /** Context per side: (input - output) / 2 on each axis. */
  readonly margin: Size2;
  /** Distance between neighbouring tile origins on each axis. */
  readonly step: Size2;
  /** Output tile origins along y and x. */
  readonly rowOrigins: readonly number[];
  readonly colOrigins: readonly number[];
  /** All tiles in raster order (row by row). */
  readonly tiles: readonly TilePlacement[];
}

/**
 * The largest multiple of `alignment` that is at most `out - overlap` (and at least `alignment`).
 *
 * @example alignedStep(388, 16) === 384        // paper's net: tiles overlap by 4 px
 * @example alignedStep(256, 16, 64) === 192    // 'same' net with 64 px of blending overlap
 * @example alignedStep(12, 1) === 12
 */
export function alignedStep(out: number, alignment = 1, overlap = 0): number {
  checkPositiveInt(out, 'alignedStep', 'output size');
  checkPositiveInt(alignment, 'alignedStep', 'alignment');
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= out) throw new Error(`alignedStep: overlap must be an integer in [0, ${out - 1}], got ${overlap}`);
  return Math.max(alignment, Math.floor((out - overlap) / alignment) * alignment);
}

/**
 * Output tile origins along one axis of length `size`: 0, step, 2 step, ..., the last
 * one pulled back to the smallest multiple of `alignment` that still reaches `size`.
 * `step` must be a multiple of `alignment` and at most `out`, except where one tile
 * covers the axis (`size <= out`): a single tile at 0 needs no step, so even an output
 * smaller than the alignment (4 px for a depth-4 'valid' net, alignment 16) does.
 *
 * @example axisOrigins(512, 388, 384, 16) // [0, 128]   (second tile covers 128..516, 4 px cropped)
 * @example axisOrigins(100, 388, 384, 16) // [0]        (image smaller than a tile: one tile, cropped)
 * @example axisOrigins(800, 388, 384, 16) // [0, 384, 416]
 * @example axisOrigins(37, 12, 12, 4)     // [0, 12, 24, 28]
 * @example axisOrigins(10, 4, 4, 1)       // [0, 4, 6]
 * @example axisOrigins(3, 4, 16, 16)      // [0]        (one tile: the step is not used)
 */
export function axisOrigins(size: number, out: number, step: number, alignment = 1): number[] {
  checkPositiveInt(size, 'axisOrigins', 'size');
  checkPositiveInt(out, 'axisOrigins', 'output size');
  checkPositiveInt(alignment, 'axisOrigins', 'alignment');
  if (size <= out) return [0];
  if (!Number.isInteger(step) || step < 1 || step > out || step % alignment !== 0) {
    throw new Error(`axisOrigins: step must be a multiple of ${alignment} in [1, ${out}], got ${step}`);
  }
  const origins: number[] = [];
  for (let o = 0; o + out < size; o += step) origins.push(o);
  const last = Math.ceil((size - out) / alignment) * alignment;
  // `last` lies in (origins.at(-1), origins.at(-1) + step], so the grid stays gap-free.
  origins.push(last);
  return origins;
}

/**
 * The grid of output tiles covering an image of size `image` for a model mapping
 * `input` to `output` tiles, with origins on multiples of `alignment` spaced by `step`.
 *
 * @example
 *   // Paper's net (572 -> 388, margin 92, alignment 16) on a 512 x 512 ISBI slice:
 *   const g = tileGrid([512, 512], [572, 572], [388, 388], [384, 384], 16);
 *   g.rowOrigins   // [0, 128]
 *   g.tiles[3]     // { row: 1, col: 1,
 *                  //   input:  { top: 36, left: 36, height: 572, width: 572 },   // 128 - 92
 *                  //   output: { top: 128, left: 128, height: 388, width: 388 },
 *                  //   owned:  { top: 128, left: 128, height: 384, width: 384 } }
 *   g.tiles[0].input // { top: -92, left: -92, ... }: 92 px mirrored above and left
 */
export function tileGrid(image: Size2, input: Size2, output: Size2, step: Size2 = output, alignment = 1): TileGrid {
  const [H, W] = image;
  checkPositiveInt(H, 'tileGrid', 'image height');
  checkPositiveInt(W, 'tileGrid', 'image width');
  const margin: [number, number] = [0, 0];
  for (const a of [0, 1] as const) {
    const axis = a === 0 ? 'height' : 'width';
    checkPositiveInt(input[a], 'tileGrid', `input ${axis}`);
    checkPositiveInt(output[a], 'tileGrid', `output ${axis}`);
    const d = input[a] - output[a];
    if (d < 0 || d % 2 !== 0) throw new Error(`tileGrid: input ${axis} ${input[a]} and output ${axis} ${output[a]} must differ by an even, non-negative number of pixels`);
    margin[a] = d / 2;
  }
  const rowOrigins = axisOrigins(H, output[0], step[0], alignment);
  const colOrigins = axisOrigins(W, output[1], step[1], alignment);
  const ownedEnd = (origins: number[], i: number, size: number): number => (i + 1 < origins.length ? origins[i + 1]! : size);
  const tiles: TilePlacement[] = [];
  rowOrigins.forEach((oy, row) => {
    colOrigins.forEach((ox, col) => {
      tiles.push({
        row,
        col,
        input: { top: oy - margin[0], left: ox - margin[1], height: input[0], width: input[1] },
        output: { top: oy, left: ox, height: output[0], width: output[1] },
        owned: { top: oy, left: ox, height: ownedEnd(rowOrigins, row, H) - oy, width: ownedEnd(colOrigins, col, W) - ox },
      });
    });
  });
  return { image: [H, W], input, output, margin, step, rowOrigins, colOrigins, tiles };
}

/**
 * Separable Gaussian blending weights for an out-H x out-W tile (row-major), peak 1
 * at the centre, sigma = size / 8 per axis (as nnU-Net), floored at 1e-3 so that
 * pixels seen only by tile edges still get a defined average.
 *
 * Why blend at all: a 'same'-padded net sees zero padding at every tile border,
 * so its predictions degrade towards the tile edges; weighting each tile by its
 * distance from the edge hides the seams where tiles overlap.
 */
export function gaussianWeights(output: Size2): Float32Array {
  const axis = (n: number): Float64Array => {
    const sigma = n / 8;
    const c = (n - 1) / 2;
    return Float64Array.from({ length: n }, (_, i) => Math.exp(-((i - c) ** 2) / (2 * sigma * sigma)));
  };
  const wy = axis(output[0]);
  const wx = axis(output[1]);
  const w = new Float32Array(output[0] * output[1]);
  for (let y = 0; y < output[0]; y++) for (let x = 0; x < output[1]; x++) w[y * output[1] + x] = Math.max(1e-3, wy[y]! * wx[x]!);
  return w;
}

function checkPositiveInt(v: number, caller: string, what: string): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${caller}: ${what} must be a positive integer, got ${v}`);
}
