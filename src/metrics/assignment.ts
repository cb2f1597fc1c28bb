/**
 * Maximum-weight bipartite assignment (Hungarian method, Kuhn 1955 / Munkres 1957, in the
 * O(n^3) shortest-augmenting-path form with potentials). Used to match instances by IoU.
 */

/**
 * Given a rows x cols weight matrix (row-major, weights >= 0), returns for each row the column it
 * is assigned to (or -1) so that the total weight is maximal. Rows and columns may be unequal;
 * zero-weight assignments are reported as -1 (no match).
 *
 * @example maxWeightAssignment(Float64Array.of(1, 2, 3, 1), 2, 2) // [1, 0]: 2 + 3 beats 1 + 1
 */
export function maxWeightAssignment(weights: ArrayLike<number>, rows: number, cols: number): Int32Array {
  if (weights.length !== rows * cols) throw new Error(`maxWeightAssignment: ${weights.length} weights for a ${rows}x${cols} matrix`);
  const result = new Int32Array(rows).fill(-1);
  if (rows === 0 || cols === 0) return result;
  const n = Math.max(rows, cols);
  let maxW = 0;
  for (let k = 0; k < weights.length; k++) {
    const w = weights[k]!;
    if (!(w >= 0)) throw new Error(`maxWeightAssignment: weight ${w} at ${k} is not a non-negative number`);
    if (w > maxW) maxW = w;
  }
  // Minimise cost = maxW - w on the square n x n matrix padded with cost maxW (weight 0).
  const cost = (i: number, j: number): number => (i < rows && j < cols ? maxW - weights[i * cols + j]! : maxW);
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const p = new Int32Array(n + 1); // p[j] = row matched to column j (1-based), 0 = none
  const way = new Int32Array(n + 1);
  const minv = new Float64Array(n + 1);
  const used = new Uint8Array(n + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) { minv[j] = cur; way[j] = j0; }
        if (minv[j]! < delta) { delta = minv[j]!; j1 = j; }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else minv[j] = minv[j]! - delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  for (let j = 1; j <= n; j++) {
    const i = p[j]! - 1;
    if (i >= 0 && i < rows && j - 1 < cols && weights[i * cols + (j - 1)]! > 0) result[i] = j - 1;
  }
  return result;
}
