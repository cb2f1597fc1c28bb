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
}

/**
 * Final ids 1..m of the sets of `u`, numbered in raster order of each set's first pixel and
 * dropping sets of fewer than `minSize` pixels (and sets without pixels): exactly the ids a
 * whole-image labelling followed by the same size filter gives (src/infer/instances.ts).
 * `size[i]` and `first[i]` are provisional id i's pixel count and first raster index
 * (Infinity when it has no pixel of its own).
 *
 * @example const u = new UnionFind(3); u.union(1, 3);
 *   numberSets(u, [0, 2, 5, 1], [0, 40, 7, 9]).ids // [0, 2, 1, 2]: set {1, 3} starts at 9 > 7
 *   numberSets(u, [0, 2, 5, 1], [0, 40, 7, 9], 4).ids // [0, 0, 1, 0]: {1, 3} has 3 pixels
 */
export function numberSets(u: UnionFind, size: ArrayLike<number>, first: ArrayLike<number>, minSize = 0): { ids: Uint32Array; count: number } {
  const n = u.parent.length - 1;
  const setSize = new Float64Array(n + 1);
  const setFirst = new Float64Array(n + 1).fill(Infinity);
  for (let i = 1; i <= n; i++) {
    const r = u.find(i);
    setSize[r] = setSize[r]! + size[i]!;
    if (first[i]! < setFirst[r]!) setFirst[r] = first[i]!;
  }
  const roots: number[] = [];
  for (let i = 1; i <= n; i++) if (u.find(i) === i && setSize[i]! >= Math.max(1, minSize)) roots.push(i);
  roots.sort((a, b) => setFirst[a]! - setFirst[b]!);
  const final = new Uint32Array(n + 1);
  roots.forEach((r, k) => (final[r] = k + 1));
  const ids = new Uint32Array(n + 1);
  for (let i = 1; i <= n; i++) ids[i] = final[u.find(i)]!;
  return { ids, count: roots.length };
}

/**
 * Unions the ids that touch across a chunk border: `a` and `b` are the two pixel lines on
 * either side (global provisional ids, 0 background); `b[i]` lies next to `a[i + shift]`,
 * and under 8-connectivity also next to `a[i + shift - 1]` and `a[i + shift + 1]` (the
 * diagonals across the border, corners of the chunk included).
 *
 * @example uniteAcross(u, [0, 3, 3], [5, 5, 0]) // unites 3 and 5
 * @example uniteAcross(u, [3, 0, 0], [0, 5, 0], 8) // unites 3 and 5 (diagonal); with 4 they stay apart
 */
export function uniteAcross(u: UnionFind, a: ArrayLike<number>, b: ArrayLike<number>, connectivity: 4 | 8 = 4, shift = 0): void {
  if (shift < 0 || shift + b.length > a.length) throw new Error(`uniteAcross: a line of ${b.length} at ${shift} does not fit the other side's ${a.length}`);
  const reach = connectivity === 8 ? 1 : 0;
  for (let i = 0; i < b.length; i++) {
    const q = b[i]!;
    if (q === 0) continue;
    for (let d = -reach; d <= reach; d++) {
      const j = i + shift + d;
      if (j < 0 || j >= a.length) continue;
      const p = a[j]!;
      if (p !== 0) u.union(p, q);
    }
  }
}
