/**
 * Elastic deformation as in Sec. 3.1: "We generate smooth deformations using random
 * displacement vectors on a coarse 3 by 3 grid. The displacements are sampled from a
 * Gaussian distribution with 10 pixels standard deviation. Per-pixel displacements are
 * then computed using bicubic interpolation." Browser-safe.
 *
 * Convention: grid node (i, j) of a g x g grid sits at y = i (H - 1) / (g - 1),
 * x = j (W - 1) / (g - 1), so the nodes span the tile corner to corner. The per-pixel
 * field is interpolated with Keys' cubic convolution kernel (a = -0.5, Catmull-Rom), which
 * passes through the node values, so the std at the nodes is exactly the requested one;
 * nodes beyond the grid edge repeat the edge node.
 */
import type { Rng } from '../util/rng.js';

export interface ElasticOptions {
  /** Nodes per side of the coarse grid. Default 3 (Sec. 3.1). */
  readonly gridSize?: number;
  /** Standard deviation of each displacement component in pixels. Default 10 (Sec. 3.1). */
  readonly std?: number;
}

export const DEFAULT_ELASTIC = { gridSize: 3, std: 10 } as const;

/** Displacements at the grid nodes: gridSize x gridSize x 2 (dy, dx), row-major. */
export interface GridDisplacements {
  readonly gridSize: number;
  readonly values: Float64Array;
}

/** Per-pixel displacement field, H x W each: the source of output pixel (y, x) is (y + dy, x + dx). */
export interface DisplacementField {
  readonly height: number;
  readonly width: number;
  readonly dy: Float32Array;
  readonly dx: Float32Array;
}

/** Draws the coarse-grid displacement vectors, every component from N(0, std^2). */
export function drawGridDisplacements(rng: Rng, options: ElasticOptions = {}): GridDisplacements {
  const gridSize = options.gridSize ?? DEFAULT_ELASTIC.gridSize;
  const std = options.std ?? DEFAULT_ELASTIC.std;
  if (!Number.isInteger(gridSize) || gridSize < 2) throw new Error(`drawGridDisplacements: gridSize must be an integer >= 2, got ${gridSize}`);
  if (!(std >= 0) || !Number.isFinite(std)) throw new Error(`drawGridDisplacements: std must be a finite number >= 0, got ${std}`);
  const values = new Float64Array(gridSize * gridSize * 2);
  for (let i = 0; i < values.length; i++) values[i] = rng.normal(0, std);
  return { gridSize, values };
}

/**
 * Keys' cubic convolution kernel with a = -0.5: 1 at 0, 0 at the other integers.
 *
 * @example cubicKernel(0) === 1; cubicKernel(1) === 0; cubicKernel(0.5) === 0.5625
 */
export function cubicKernel(t: number): number {
  const a = Math.abs(t);
  if (a <= 1) return (1.5 * a - 2.5) * a * a + 1;
  if (a < 2) return ((-0.5 * a + 2.5) * a - 4) * a + 2;
  return 0;
}

/**
 * Bicubic interpolation of the grid displacements to every pixel of an H x W tile.
 *
 * @example a constant grid gives a constant field:
 *   interpolateDisplacements({ gridSize: 3, values: new Float64Array(18).fill(2) }, 5, 5).dx // all 2
 */
export function interpolateDisplacements(grid: GridDisplacements, height: number, width: number): DisplacementField {
  const g = grid.gridSize;
  if (grid.values.length !== g * g * 2) throw new Error(`interpolateDisplacements: ${grid.values.length} values for a ${g}x${g} grid (expected ${g * g * 2})`);
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`interpolateDisplacements: height and width must be positive integers, got ${height}x${width}`);
  }
  // Separable: weights of the 4 grid nodes along each axis, per pixel row / column.
  const axis = (n: number): { idx: Int32Array; w: Float64Array } => {
    const idx = new Int32Array(n * 4);
    const w = new Float64Array(n * 4);
    for (let p = 0; p < n; p++) {
      const u = n === 1 ? 0 : (p * (g - 1)) / (n - 1); // position in grid units
      const base = Math.floor(u);
      for (let k = 0; k < 4; k++) {
        const node = base - 1 + k;
        idx[p * 4 + k] = Math.min(g - 1, Math.max(0, node));
        w[p * 4 + k] = cubicKernel(u - node);
      }
    }
    return { idx, w };
  };
  const ay = axis(height);
  const ax = axis(width);
  const dy = new Float32Array(height * width);
  const dx = new Float32Array(height * width);
  // First along x for every grid row, then along y.
  const rowsY = new Float64Array(g * width);
  const rowsX = new Float64Array(g * width);
  for (let r = 0; r < g; r++) {
    for (let x = 0; x < width; x++) {
      let sy = 0;
      let sx = 0;
      for (let k = 0; k < 4; k++) {
        const node = (r * g + ax.idx[x * 4 + k]!) * 2;
        const wk = ax.w[x * 4 + k]!;
        sy += wk * grid.values[node]!;
        sx += wk * grid.values[node + 1]!;
      }
      rowsY[r * width + x] = sy;
      rowsX[r * width + x] = sx;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sy = 0;
      let sx = 0;
      for (let k = 0; k < 4; k++) {
        const r = ay.idx[y * 4 + k]!;
        const wk = ay.w[y * 4 + k]!;
        sy += wk * rowsY[r * width + x]!;
        sx += wk * rowsX[r * width + x]!;
      }
      dy[y * width + x] = sy;
      dx[y * width + x] = sx;
    }
  }
  return { height, width, dy, dx };
}

/** Draws a grid and interpolates it: one random elastic deformation of an H x W tile. */
export function randomElasticField(rng: Rng, height: number, width: number, options: ElasticOptions = {}): DisplacementField {
  return interpolateDisplacements(drawGridDisplacements(rng, options), height, width);
}
