/**
 * Instance-aware training targets. The paper separates touching cells with a background line
 * between them and a large loss weight on it (Sec. 3, Fig. 3c-d, Eq. 2); the network then has
 * to predict a one-pixel gap exactly, and a single wrong pixel merges two cells. The
 * three-class target (background / interior / boundary, as in the DSB 2018 and Cellpose-era
 * tools) instead marks every object's outline as its own class: touching objects are parted by
 * two outline pixels, and the interiors, which are what the watershed seeds from
 * (src/infer/instances.ts), never touch each other.
 */

/** Class indices of the three-class target. */
export const BACKGROUND = 0;
export const INTERIOR = 1;
export const BOUNDARY = 2;

/**
 * Background (0), interior (1) and boundary (2) classes of an instance-id map (H x W, 0 =
 * background, other values = object ids). A pixel of object k is boundary when one of its 8
 * neighbours inside the image is not k (another object or background): every object gets its
 * inner outline, and two touching objects get a two-pixel boundary between them. The image
 * border is not an outline (the object continues beyond it).
 *
 * Interiors of different objects are never 8-adjacent: two diagonal interior pixels of objects
 * a and b would share a 4-neighbour, which would have to be both a and b.
 *
 * @example
 *   ids (1 x 5)  1 1 1 2 2   ->   1 1 2 2 1 (the image border is no outline; the contact is)
 *   ids (3 x 3)  all 1       ->   1 1 1 / 1 1 1 / 1 1 1 (no neighbour differs: all interior)
 *   ids (3 x 4)  0 0 0 0 / 0 5 5 0 / 0 0 0 0 -> the two object pixels are boundary (2)
 */
export function boundaryTargets(ids: ArrayLike<number>, height: number, width: number): Uint8Array {
  if (ids.length !== height * width) throw new Error(`boundaryTargets: ids has ${ids.length} values, expected ${height}x${width} = ${height * width}`);
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const id = ids[i]!;
      if (id === 0) continue;
      let edge = false;
      for (let dy = -1; dy <= 1 && !edge; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width || (dy === 0 && dx === 0)) continue;
          if (ids[yy * width + xx] !== id) {
            edge = true;
            break;
          }
        }
      }
      out[i] = edge ? BOUNDARY : INTERIOR;
    }
  }
  return out;
}

/**
 * The objects the weight map of Eq. (2) sees under the three-class target: the interiors only,
 * so that boundary pixels between two touching objects are "background between two cells" with
 * d1 + d2 small and get the large border weight, as the gap pixels of the paper's target do.
 */
export function interiorObjects(ids: ArrayLike<number>, targets: ArrayLike<number>): Int32Array {
  if (ids.length !== targets.length) throw new Error(`interiorObjects: ${ids.length} ids but ${targets.length} targets`);
  const out = new Int32Array(ids.length);
  for (let i = 0; i < out.length; i++) out[i] = targets[i] === INTERIOR ? ids[i]! : 0;
  return out;
}
