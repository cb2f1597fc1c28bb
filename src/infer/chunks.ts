/**
 * Chunk-parallel prediction, on plain numbers: the output chunk grid, which chunks job
 * I of N computes, and the union-find that gives objects cut by chunk borders one id.
 *
 * Why this is exact: overlap-tile prediction of a 'valid' U-Net computes every output
 * pixel from one tile of the whole image's tile grid (Sec. 2, Fig. 2). A job predicting
 * one chunk runs those same tiles on the same (mirrored) input windows, so its pixels
 * equal the whole-image prediction's; N jobs writing disjoint chunks together write
 * what one process writes. Chunk sides are multiples of the net's 2^depth alignment so
 * chunk borders fall on the pooling grid the tile origins lie on (src/model/size.ts).
 */
import type { Window } from './tiling.js';

export interface ChunkJob {
  /** 0-based job index. */
  readonly index: number;
  readonly count: number;
}

/**
 * Parses `--chunks I/N` (0 <= I < N), the job index first: the contract of Kubernetes
 * Indexed Jobs (JOB_COMPLETION_INDEX), Snakemake wildcards and Nextflow's `each`.
 *
 * @example parseChunkJob('2/8') // { index: 2, count: 8 }
 * @throws "--chunks: expected I/N with 0 <= I < N, got 8/8"
 */
export function parseChunkJob(text: string): ChunkJob {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!(count >= 1 && index >= 0 && index < count)) throw new Error(`--chunks: expected I/N with 0 <= I < N, got ${text}`);
  return { index, count };
}

/** A chunk of the output: its position in the chunk grid of one plane and its pixels. */
export interface Chunk {
  /** Plane number (index into the image's list of (t, z) planes). */
  readonly plane: number;
  readonly row: number;
  readonly col: number;
  readonly window: Window;
}

/**
 * The chunk grid of an H x W plane with chunks of `chunk` (edge chunks are cropped),
 * in raster order.
 *
 * @example chunkWindows([5, 7], [4, 4]).map((c) => c.window)
 *   // [{top 0, left 0, 4 x 4}, {top 0, left 4, 4 x 3}, {top 4, left 0, 1 x 4}, {top 4, left 4, 1 x 3}]
 */
export function chunkWindows(size: readonly [number, number], chunk: readonly [number, number], plane = 0): Chunk[] {
  const [H, W] = size;
  const [ch, cw] = chunk;
  for (const [v, what] of [[H, 'height'], [W, 'width'], [ch, 'chunk height'], [cw, 'chunk width']] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`chunkWindows: ${what} must be a positive integer, got ${v}`);
  }
  const out: Chunk[] = [];
  for (let row = 0; row * ch < H; row++) {
    for (let col = 0; col * cw < W; col++) {
      out.push({ plane, row, col, window: { top: row * ch, left: col * cw, height: Math.min(ch, H - row * ch), width: Math.min(cw, W - col * cw) } });
    }
  }
  return out;
}

/** Chunks per row and column of the grid. @example chunkGridShape([5, 7], [4, 4]) // [2, 2] */
export function chunkGridShape(size: readonly [number, number], chunk: readonly [number, number]): [number, number] {
  return [Math.ceil(size[0] / chunk[0]), Math.ceil(size[1] / chunk[1])];
}

/**
 * The chunks job `job` computes out of `total`: a contiguous block (neighbouring chunks
 * share input rows), sizes differing by at most one; the blocks partition 0..total-1.
 *
 * @example jobChunks(10, { index: 0, count: 4 }) // [0, 1]
 * @example jobChunks(10, { index: 3, count: 4 }) // [7, 8, 9]
 * @example jobChunks(2, { index: 3, count: 4 })  // [] (more jobs than chunks)
 */
export function jobChunks(total: number, job: ChunkJob): number[] {
  const start = Math.floor((job.index * total) / job.count);
  const end = Math.floor(((job.index + 1) * total) / job.count);
  return Array.from({ length: end - start }, (_, i) => start + i);
}

/**
 * The chunk side: `requested` rounded down to a multiple of `alignment` (at least one).
 *
 * @example alignedChunkSide(1000, 16) === 992
 * @example alignedChunkSide(8, 16) === 16
 */
export function alignedChunkSide(requested: number, alignment: number): number {
  if (!Number.isInteger(requested) || requested < 1) throw new Error(`alignedChunkSide: chunk size must be a positive integer, got ${requested}`);
  return Math.max(alignment, Math.floor(requested / alignment) * alignment);
}

/** Union-find over ids 1..n (0 unused), path halving, the smaller id as root. */
export class UnionFind {
  readonly parent: Uint32Array;
  constructor(n: number) {
    this.parent = new Uint32Array(n + 1);
    for (let i = 0; i <= n; i++) this.parent[i] = i;
  }
  find(a: number): number {
    const p = this.parent;
    while (p[a] !== a) {
      p[a] = p[p[a]!]!;
      a = p[a]!;
    }
    return a;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra < rb) this.parent[rb] = ra;
    else if (rb < ra) this.parent[ra] = rb;
  }
  /**
   * Final ids 1..m: each set gets the next id in the order of its smallest member, so the
   * numbering depends only on the sets, not on the order unions happened in.
   *
   * @example const u = new UnionFind(4); u.union(2, 4); u.relabel() // [0, 1, 2, 3, 2]
   */
  relabel(): Uint32Array {
    const n = this.parent.length - 1;
    const out = new Uint32Array(n + 1);
    let next = 0;
    for (let i = 1; i <= n; i++) {
      const r = this.find(i);
      out[i] = r === i ? ++next : out[r]!;
    }
    return out;
  }
}

/**
 * Unions the ids that touch across a chunk border: `a` and `b` are the two pixel lines on
 * either side (same length, global provisional ids, 0 background); pixels at the same
 * position are 4-neighbours.
 *
 * @example uniteAcross(u, [0, 3, 3], [5, 5, 0]) // unites 3 and 5
 */
export function uniteAcross(u: UnionFind, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new Error(`uniteAcross: border lines differ in length (${a.length} vs ${b.length})`);
  for (let i = 0; i < a.length; i++) {
    const p = a[i]!;
    const q = b[i]!;
    if (p !== 0 && q !== 0) u.union(p, q);
  }
}
