/**
 * Overlap-tile prediction of images of any size (Sec. 2, Fig. 2): the image is cut
 * into mirrored input windows on the grid of {@link tileGrid}, tiles are predicted in
 * batches, and their output tiles are assembled row band by row band.
 *
 * Streaming: tiles are visited row by row, and once a tile row is done every image
 * row above the next row's origin is final. Those rows are handed to a sink and
 * dropped, so beyond the image and what the sink keeps, memory holds one band of
 * output-tile height (plus one batch of tiles), whatever the image size.
 *
 * Two ways to assemble overlapping tiles:
 * - 'crop' (default for 'valid' models, margin > 0): each pixel comes from the one
 *   tile that owns it. With tile origins on the pooling grid this equals predicting
 *   the whole mirrored image in one valid pass (the paper's seamless segmentation).
 * - 'gaussian' (default for 'same' models, margin 0): tiles overlap and are averaged
 *   with Gaussian weights that fall towards the tile edges, where zero padding hurts.
 */
import type { Raster } from '../io/raster.js';
import { extractWindow, extractWindowFromRegion, mirroredSpan } from '../util/mirror.js';
import type { TilePredictor } from './predictor.js';
import { isRegionSource, type RegionSource } from './source.js';
import { alignedStep, gaussianWeights, tileGrid, type TileGrid, type Window } from './tiling.js';

export type Blend = 'crop' | 'gaussian';

/**
 * Tiles per forward pass unless told otherwise, in `predict`, `unet predict --batch` and the
 * tile-size choice. 1, because the batch composition is the only input besides the tile that can
 * change a pixel's last bits (see PredictOptions.region), so whole-image, region and chunked runs
 * agree exactly; and because chooseTileSize then spends the memory budget on one large tile
 * (less mirrored margin recomputed per output pixel) rather than on several small ones.
 */
export const DEFAULT_PREDICT_BATCH = 1;

export interface PredictProgress {
  readonly tilesDone: number;
  readonly tiles: number;
  readonly elapsedMs: number;
  readonly etaMs: number;
}

export interface PredictOptions {
  /** How overlapping tiles are combined; default 'crop' when the model has a margin, else 'gaussian'. */
  readonly blend?: Blend;
  /** Minimum overlap of neighbouring output tiles in pixels; default 0 for 'crop', a quarter tile for 'gaussian'. */
  readonly overlap?: number;
  /** Tiles per predictBatch call (within one tile row). Default DEFAULT_PREDICT_BATCH (1). */
  readonly batchSize?: number;
  /** Called after every batch. */
  readonly onProgress?: (p: PredictProgress) => void;
  /** Stops between batches with an error "predict: aborted". */
  readonly signal?: AbortSignal;
  /**
   * Predict only this part of the image (default: all of it). The tile grid stays the
   * whole image's, and only the tiles that write into the region run, so every pixel of
   * the region gets exactly the value a whole-image prediction gives it (with batchSize 1,
   * the batch composition being the only other input). This is what makes chunk-parallel
   * prediction exact (src/infer/chunks.ts).
   */
  readonly region?: Window;
  /** Where the image comes from (a file name), named in error messages. */
  readonly source?: string;
}

/**
 * Final rows [top, top + height) of the probability map, columns [left, left + width):
 * height x width x classes values (left is 0 and width the image width without a region).
 */
export interface ProbabilityBand {
  readonly top: number;
  readonly height: number;
  readonly left: number;
  readonly width: number;
  readonly classes: number;
  readonly data: Float32Array;
}

/** The tile grid `predictBands` will use for an image of `imageSize` (pure; for planning and progress). */
export function planTiles(imageSize: readonly [number, number], predictor: TilePredictor, options: Pick<PredictOptions, 'blend' | 'overlap' | 'source'> = {}): { grid: TileGrid; blend: Blend } {
  const [inH, inW] = predictor.inputShape;
  const [outH, outW] = predictor.outputShape;
  const hasMargin = inH > outH || inW > outW;
  const blend = options.blend ?? (hasMargin ? 'crop' : 'gaussian');
  if (blend !== 'crop' && blend !== 'gaussian') throw new Error(`predict: blend must be 'crop' or 'gaussian', got ${String(blend)}`);
  const overlapFor = (out: number): number => Math.min(out - 1, options.overlap ?? (blend === 'gaussian' ? Math.floor(out / 4) : 0));
  // Tiles step on the pooling grid; an axis that one tile covers needs no step (its only origin is 0).
  const stepFor = (size: number, out: number, axis: string): number => {
    const s = alignedStep(out, predictor.alignment, overlapFor(out));
    if (s > out && size <= out) return out;
    if (s > out) {
      const from = options.source === undefined ? '' : ` for ${options.source}`;
      throw new Error(
        `predict${from}: the image ${axis} ${size} px needs several tiles, but output tiles of ${out} px are smaller than the model's alignment ${predictor.alignment}; choose a larger tile (output at least ${predictor.alignment} px)`,
      );
    }
    return s;
  };
  const step: [number, number] = [stepFor(imageSize[0], outH, 'height'), stepFor(imageSize[1], outW, 'width')];
  return { grid: tileGrid(imageSize, predictor.inputShape, predictor.outputShape, step, predictor.alignment), blend };
}

/**
 * Predicts `image` (normalised, H x W x C) tile by tile and hands the finished
 * probability rows to `onBand`, top to bottom; the bands partition the image rows
 * (of `options.region`, when given).
 *
 * `image` may be a {@link RegionSource}: then each tile row reads just the (mirrored)
 * input rows and columns its tiles need, so the whole image is never in memory.
 */
export async function predictBands(
  image: Raster<Float32Array> | RegionSource<Float32Array>,
  predictor: TilePredictor,
  onBand: (band: ProbabilityBand) => void | Promise<void>,
  options: PredictOptions = {},
): Promise<TileGrid> {
  const { height: H, width: W, channels: C } = image;
  if (C !== predictor.channels) throw new Error(`predict${options.source === undefined ? '' : ` for ${options.source}`}: the image has ${C} channel(s), the model takes ${predictor.channels}`);
  const batchSize = options.batchSize ?? DEFAULT_PREDICT_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`predict: batchSize must be a positive integer, got ${batchSize}`);
  const { grid, blend } = planTiles([H, W], predictor, options);
  const region = options.region ?? { top: 0, left: 0, height: H, width: W };
  const { top: y0, left: x0 } = region;
  const y1 = y0 + region.height;
  const x1 = x0 + region.width;
  if (![y0, x0, region.height, region.width].every(Number.isInteger) || y0 < 0 || x0 < 0 || region.height < 1 || region.width < 1 || y1 > H || x1 > W) {
    throw new Error(`predict: region rows ${y0}+${region.height}, columns ${x0}+${region.width} is not inside the ${H} x ${W} image`);
  }
  const [inH, inW] = predictor.inputShape;
  const [outH, outW] = predictor.outputShape;
  const K = predictor.classes;
  const inLen = inH * inW * C;
  const outLen = outH * outW * K;
  const weights = blend === 'gaussian' ? gaussianWeights(predictor.outputShape) : null;
  // The tiles that write into the region: by their owned window ('crop') or whole output ('gaussian').
  const writers = (origins: readonly number[], out: number, size: number, lo: number, hi: number): number[] => {
    const idx: number[] = [];
    origins.forEach((o, i) => {
      const end = weights ? Math.min(o + out, size) : i + 1 < origins.length ? origins[i + 1]! : size;
      if (o < hi && end > lo) idx.push(i);
    });
    return idx;
  };
  const rows = writers(grid.rowOrigins, outH, H, y0, y1);
  const cols = writers(grid.colOrigins, outW, W, x0, x1);
  const totalTiles = rows.length * cols.length;
  const RW = region.width;

  // The band: image rows [bandTop, bandTop + outH) of the region's columns, weighted sums and weight totals.
  const acc = new Float32Array(outH * RW * K);
  const wsum = new Float32Array(outH * RW);
  let bandTop = y0;
  const batch = new Float32Array(batchSize * inLen);
  const start = Date.now();
  let done = 0;
  const gridCols = grid.colOrigins.length;

  for (const [ri, row] of rows.entries()) {
    const rowTiles = cols.map((c) => grid.tiles[row * gridCols + c]!);
    // A source is read once per tile row: the mirrored span of all its tiles' input windows.
    let inputRegion: { data: Float32Array; top: number; left: number; height: number; width: number } | null = null;
    if (isRegionSource(image)) {
      const first = rowTiles[0]!;
      const last = rowTiles[rowTiles.length - 1]!;
      const [ry0, ry1] = mirroredSpan(first.input.top, inH, H);
      const [rx0, rx1] = mirroredSpan(first.input.left, last.input.left + inW - first.input.left, W);
      const r = await image.readRegion(ry0, rx0, ry1 - ry0, rx1 - rx0);
      if (r.height !== ry1 - ry0 || r.width !== rx1 - rx0 || r.channels !== C) {
        throw new Error(`predict: ${image.name} returned a ${r.height} x ${r.width} x ${r.channels} region for ${ry1 - ry0} x ${rx1 - rx0} x ${C}`);
      }
      inputRegion = { data: r.data, top: ry0, left: rx0, height: r.height, width: r.width };
    }
    for (let first = 0; first < rowTiles.length; first += batchSize) {
      if (options.signal?.aborted) throw new Error('predict: aborted');
      const n = Math.min(batchSize, rowTiles.length - first);
      const tiles = rowTiles.slice(first, first + n);
      tiles.forEach((t, b) => {
        const dst = batch.subarray(b * inLen, (b + 1) * inLen);
        if (inputRegion) {
          const g = inputRegion;
          extractWindowFromRegion(g.data, g.top, g.left, g.height, g.width, H, W, C, t.input.top, t.input.left, inH, inW, dst);
        } else {
          extractWindow((image as Raster<Float32Array>).data, H, W, C, t.input.top, t.input.left, inH, inW, dst);
        }
      });
      const probs = await predictor.predictBatch(n === batchSize ? batch : batch.subarray(0, n * inLen), n);
      if (probs.length !== n * outLen) throw new Error(`predict: the model returned ${probs.length} values for ${n} tiles, expected ${n * outLen}`);
      tiles.forEach((t, b) => {
        const p = probs.subarray(b * outLen, (b + 1) * outLen);
        // 'crop': only the owned window, weight 1; 'gaussian': the whole in-image part of the tile.
        const win = weights ? t.output : t.owned;
        const ya = Math.max(win.top, y0);
        const yb = Math.min(win.top + win.height, y1);
        const xa = Math.max(win.left, x0);
        const xb = Math.min(win.left + win.width, x1);
        for (let y = ya; y < yb; y++) {
          const ty = y - t.output.top;
          const by = y - bandTop;
          for (let x = xa; x < xb; x++) {
            const tIdx = ty * outW + (x - t.output.left);
            const w = weights ? weights[tIdx]! : 1;
            const bIdx = by * RW + (x - x0);
            wsum[bIdx] = wsum[bIdx]! + w;
            const src = tIdx * K;
            const dst = bIdx * K;
            for (let k = 0; k < K; k++) acc[dst + k] = acc[dst + k]! + w * p[src + k]!;
          }
        }
      });
      done += n;
      const elapsedMs = Date.now() - start;
      options.onProgress?.({ tilesDone: done, tiles: totalTiles, elapsedMs, etaMs: (elapsedMs / done) * (totalTiles - done) });
    }
    // Rows above the next tile row's origin receive no more tiles: emit them and shift the band up.
    // (With 'gaussian', two tile rows can both start above the region: then nothing is final yet.)
    const next = row + 1 < grid.rowOrigins.length ? grid.rowOrigins[row + 1]! : H;
    const end = ri + 1 < rows.length ? Math.min(y1, next) : y1;
    const count = end - bandTop;
    if (count <= 0) continue;
    const data = new Float32Array(count * RW * K);
    for (let i = 0; i < count * RW; i++) {
      const inv = 1 / wsum[i]!;
      for (let k = 0; k < K; k++) data[i * K + k] = acc[i * K + k]! * inv;
    }
    await onBand({ top: bandTop, height: count, left: x0, width: RW, classes: K, data });
    acc.copyWithin(0, count * RW * K);
    acc.fill(0, (outH - count) * RW * K);
    wsum.copyWithin(0, count * RW);
    wsum.fill(0, (outH - count) * RW);
    bandTop = end;
  }
  return grid;
}

export interface PredictOutputs {
  /** Keep the H x W x K probability map (default true). */
  readonly probabilities?: boolean;
  /** Keep the argmax class mask (default true). */
  readonly mask?: boolean;
  /** Keep the summed probability of these classes as an H x W map (e.g. [1] for foreground). */
  readonly foregroundClasses?: readonly number[];
  /** Keep a second such map, of these classes (the watershed's seeds when they differ from the foreground). */
  readonly seedClasses?: readonly number[];
}

export interface Prediction {
  readonly probabilities?: Raster<Float32Array>;
  /** Class index per pixel (argmax; ties go to the lower class). */
  readonly mask?: Raster<Uint8Array | Uint16Array>;
  /** Summed probability of `foregroundClasses`. */
  readonly foreground?: Raster<Float32Array>;
  /** Summed probability of `seedClasses`. */
  readonly seed?: Raster<Float32Array>;
  readonly grid: TileGrid;
}

/**
 * Predicts `image` and keeps only the requested outputs, each filled band by band,
 * so an 8000 x 8000 image with `{ probabilities: false }` never holds its full
 * probability volume.
 */
export async function predict(image: Raster<Float32Array>, predictor: TilePredictor, options: PredictOptions & { readonly outputs?: PredictOutputs } = {}): Promise<Prediction> {
  const { height: H, width: W } = image;
  const K = predictor.classes;
  const want = options.outputs ?? {};
  const fgClasses = want.foregroundClasses;
  const seedClasses = want.seedClasses;
  for (const [classes, what] of [[fgClasses, 'foreground'], [seedClasses, 'seed']] as const) {
    for (const c of classes ?? []) if (!Number.isInteger(c) || c < 0 || c >= K) throw new Error(`predict: ${what} class ${c} is not one of the model's classes 0..${K - 1}`);
  }
  const probs = want.probabilities === false ? null : new Float32Array(H * W * K);
  const mask = want.mask === false ? null : K <= 256 ? new Uint8Array(H * W) : new Uint16Array(H * W);
  const fg = fgClasses ? new Float32Array(H * W) : null;
  const seed = seedClasses ? new Float32Array(H * W) : null;
  const grid = await predictBands(
    image,
    predictor,
    (band) => {
      const o = band.top * W;
      probs?.set(band.data, o * K);
      const n = band.height * W;
      if (mask) classMask(band.data, K, mask.subarray(o, o + n));
      if (fg) summedProbability(band.data, K, fgClasses!, fg.subarray(o, o + n));
      if (seed) summedProbability(band.data, K, seedClasses!, seed.subarray(o, o + n));
    },
    options,
  );
  return {
    ...(probs ? { probabilities: { data: probs, height: H, width: W, channels: K } } : {}),
    ...(mask ? { mask: { data: mask, height: H, width: W, channels: 1 } } : {}),
    ...(fg ? { foreground: { data: fg, height: H, width: W, channels: 1 } } : {}),
    ...(seed ? { seed: { data: seed, height: H, width: W, channels: 1 } } : {}),
    grid,
  };
}

/**
 * The class index per pixel of an H x W x K map ({@link argmax}: ties go to the lower class), into
 * `out` (Uint8Array up to 256 classes).
 *
 * @example classMask([0.2, 0.8, 0.6, 0.4], 2) // Uint16Array [1, 0]
 */
export function classMask<T extends Uint8Array | Uint16Array = Uint16Array>(data: ArrayLike<number>, K: number, out: T = new Uint16Array(data.length / K) as T): T {
  for (let i = 0; i < out.length; i++) out[i] = argmax(data, i * K, K);
  return out;
}

/** The summed probability of `classes` per pixel of an H x W x K map, summed in the order given (the same floats everywhere). */
export function summedProbability(data: ArrayLike<number>, K: number, classes: readonly number[], out: Float32Array = new Float32Array(data.length / K)): Float32Array {
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (const c of classes) s += data[i * K + c]!;
    out[i] = s;
  }
  return out;
}

/** Index of the largest of `values[offset .. offset + n)`, the first on ties. */
export function argmax(values: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  let bestV = values[offset]!;
  for (let k = 1; k < n; k++) {
    const v = values[offset + k]!;
    if (v > bestV) {
      bestV = v;
      best = k;
    }
  }
  return best;
}
