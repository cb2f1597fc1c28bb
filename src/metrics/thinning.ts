/**
 * Thinning of binary H x W masks to 1-pixel-wide, 8-connected skeletons: Zhang & Suen (1984),
 * "A fast parallel algorithm for thinning digital patterns", CACM 27(3):236-239.
 *
 * Used to thin the proposal's boundaries before the ISBI 2012 scores ("V^Rand / V^Info after
 * border thinning", Arganda-Carreras et al. 2015): thick predicted membranes would otherwise turn
 * many truth-interior pixels into singletons. Zhang-Suen deletes only pixels whose removal keeps
 * the 8-connectivity of the mask and the 4-connectivity of its complement, so the 4-connected
 * regions that the boundaries separate keep their number and adjacency.
 * Fiji uses ImageJ's table-driven skeletonize (also Zhang-Suen based); results can differ from it
 * in a few pixels (e.g. ImageJ's extra pass on staircase corners).
 */

/**
 * Returns a thinned copy of `mask` (nonzero = set pixel). Pixels outside the image count as
 * `outside` (default 0, unset). For boundary maps pass 1: the image frame then acts as boundary,
 * so a membrane that reaches the edge stays attached to it instead of retracting from the edge
 * (which would join the regions it separates).
 *
 * @example a 3-pixel-thick horizontal bar thins to its middle row:
 *   thinZhangSuen(Uint8Array.of(0,0,0,0,0, 1,1,1,1,1, 1,1,1,1,1, 1,1,1,1,1, 0,0,0,0,0), 5, 5)
 *   // -> middle row set (ends may shorten by one pixel)
 */
export function thinZhangSuen(mask: ArrayLike<number>, height: number, width: number, outside: 0 | 1 = 0): Uint8Array {
  if (mask.length !== height * width) throw new Error(`thinZhangSuen: mask has ${mask.length} values, expected ${height}x${width}`);
  // Padded copy: a one-pixel frame of value `outside` removes bounds checks from the inner loop.
  const pw = width + 2;
  const img = new Uint8Array((height + 2) * pw);
  if (outside) img.fill(1);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) img[(y + 1) * pw + x + 1] = mask[y * width + x] ? 1 : 0;
  // Only border pixels (set, with an unset 8-neighbour) can satisfy 2 <= B <= 6; a pixel becomes
  // border only when a neighbour is deleted. So the work list is the frontier, not the whole set:
  // the cost is O(pixels) overall instead of O(pixels x iterations).
  const offsets = [-pw, -pw + 1, 1, pw + 1, pw, pw - 1, -1, -pw - 1]; // P2..P9 clockwise from north
  const inList = new Uint8Array(img.length);
  let frontier: number[] = [];
  const isBorder = (k: number): boolean => {
    for (const o of offsets) if (img[k + o] === 0) return true;
    return false;
  };
  for (let y = 1; y <= height; y++) for (let x = 1; x <= width; x++) {
    const k = y * pw + x;
    if (img[k] && isBorder(k)) { frontier.push(k); inList[k] = 1; }
  }
  const remove: number[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (let pass = 0; pass < 2; pass++) {
      remove.length = 0;
      for (const k of frontier) {
        const p2 = img[k - pw]!, p3 = img[k - pw + 1]!, p4 = img[k + 1]!, p5 = img[k + pw + 1]!;
        const p6 = img[k + pw]!, p7 = img[k + pw - 1]!, p8 = img[k - 1]!, p9 = img[k - pw - 1]!;
        const b = p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9;
        if (b < 2 || b > 6) continue;
        const a = (p2 < p3 ? 1 : 0) + (p3 < p4 ? 1 : 0) + (p4 < p5 ? 1 : 0) + (p5 < p6 ? 1 : 0)
          + (p6 < p7 ? 1 : 0) + (p7 < p8 ? 1 : 0) + (p8 < p9 ? 1 : 0) + (p9 < p2 ? 1 : 0);
        if (a !== 1) continue;
        if (pass === 0 ? p2 * p4 * p6 !== 0 || p4 * p6 * p8 !== 0 : p2 * p4 * p8 !== 0 || p2 * p6 * p8 !== 0) continue;
        remove.push(k);
      }
      if (remove.length === 0) continue;
      changed = true;
      // Deletions of one sub-iteration are simultaneous (decided on the state before it).
      for (const k of remove) img[k] = 0;
      const next: number[] = [];
      for (const k of frontier) {
        if (img[k]) next.push(k);
        else inList[k] = 0;
      }
      for (const k of remove) {
        for (const o of offsets) {
          const q = k + o;
          const y = (q / pw) | 0;
          const x = q - y * pw;
          if (img[q] && !inList[q] && y >= 1 && y <= height && x >= 1 && x <= width) { inList[q] = 1; next.push(q); }
        }
      }
      frontier = next;
    }
  }
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = img[(y + 1) * pw + x + 1]!;
  return out;
}
