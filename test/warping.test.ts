/** Hand-made cases for the warping error (src/metrics/warping.ts); expected counts worked out in the comments. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyWarping, isSimpleCode, topologicalNumbers, warpingError, warpingErrorSweep, warpingStackScores } from '../src/metrics/warping.js';

/** Parses rows of '#' (foreground / cell) and '.' (background / membrane). */
function grid(...rows: string[]): { data: Uint8Array; height: number; width: number } {
  const width = rows[0]!.length;
  const data = new Uint8Array(rows.length * width);
  rows.forEach((r, y) => [...r].forEach((c, x) => { data[y * width + x] = c === '#' ? 1 : 0; }));
  return { data, height: rows.length, width };
}

test('topologicalNumbers / isSimpleCode: isolated pixel, line end, bridge, interior', () => {
  assert.deepEqual(topologicalNumbers(0), { t4: 0, t8: 1 }, 'isolated: no foreground neighbour');
  assert.deepEqual(topologicalNumbers(0b100), { t4: 1, t8: 1 }, 'line end: only E');
  assert.deepEqual(topologicalNumbers(0b10001), { t4: 2, t8: 2 }, 'bridge: N and S');
  assert.deepEqual(topologicalNumbers(255), { t4: 1, t8: 0 }, 'interior: no background neighbour');
  // NE alone is not 4-adjacent to the centre: T4 = 0 (flipping the centre on would add an object under 4-connectivity)
  assert.deepEqual(topologicalNumbers(0b10), { t4: 0, t8: 1 });
  assert.equal(isSimpleCode(0b100), true);
  assert.equal(isSimpleCode(0b10001), false);
  assert.equal(isSimpleCode(255), false);
  // N, E and NE (a corner): one 4-component, one background component -> simple
  assert.equal(isSimpleCode(0b111), true);
  assert.throws(() => topologicalNumbers(256), /topologicalNumbers: code must be an integer 0\.\.255, got 256/);
});

test('warpingError: a proposal that cuts one cell in two leaves one split pixel', () => {
  const truth = grid('#####', '#####', '#####', '#####', '#####');
  const prop = grid('#####', '#####', '.....', '#####', '#####');
  const r = warpingError(truth.data, prop.data, 5, 5);
  // Row 2 flips from the left frame inward; the last pixel would complete the cut: not simple.
  assert.equal(r.initialPixels, 5);
  assert.equal(r.errorPixels, 1);
  assert.equal(r.warpingError, 1 / 25);
  assert.deepEqual([...r.errorIndices], [2 * 5 + 4]);
  assert.equal(r.classes!.splits, 1);
  assert.equal(r.classes!.mergers, 0);
  assert.deepEqual(r.classes!.kinds, ['split']);
});

test('warpingError: a gap in the proposal\'s membrane merges two cells: its pixels are one merger', () => {
  // Truth: two cells separated by a 1-pixel membrane column at x = 3; the proposal lacks rows 2-4
  // of it. Any of the three gap pixels turned to cell would join the cells, so none is simple:
  // 3 pixels remain, one clustered merger (any separating membrane through the gap costs 3 pixels).
  const truth = grid('###.###', '###.###', '###.###', '###.###', '###.###', '###.###', '###.###');
  const prop = grid('###.###', '###.###', '#######', '#######', '#######', '###.###', '###.###');
  const r = warpingError(truth.data, prop.data, 7, 7);
  assert.equal(r.initialPixels, 3);
  assert.equal(r.errorPixels, 3);
  assert.equal(r.warpingError, 3 / 49);
  assert.equal(r.classes!.pixelsByKind.merge, 3);
  assert.equal(r.classes!.mergers, 1);
  assert.equal(r.classes!.splits, 0);
  assert.equal(r.classes!.clusters, 1, 'the 3-pixel gap is one clustered error');
});

test('warpingError: a shifted boundary warps away to zero', () => {
  // 1-pixel membrane moved by one column: column 4 thickens the membrane, then column 3 thins it.
  const truth = grid('###.#####', '###.#####', '###.#####', '###.#####', '###.#####', '###.#####');
  const prop1 = grid('####.####', '####.####', '####.####', '####.####', '####.####', '####.####');
  const r = warpingError(truth.data, prop1.data, 6, 9);
  assert.equal(r.initialPixels, 12, 'two columns of 6 disagree before warping');
  assert.equal(r.errorPixels, 0);
  assert.equal(r.warpingError, 0);
  assert.deepEqual([...r.warped], [...prop1.data], 'the warped truth equals the proposal');
  // 3-pixel membrane moved by two columns: 24 disagreements, all warped away.
  const thickT = grid('##...####', '##...####', '##...####', '##...####');
  const thickP = grid('####...##', '####...##', '####...##', '####...##');
  const t = warpingError(thickT.data, thickP.data, 4, 9);
  assert.equal(t.initialPixels, 16);
  assert.equal(t.errorPixels, 0);
  // A shifted and resized blob is topologically the same object.
  const blobT = grid('.......', '.##....', '.##....', '.......', '.......');
  const blobP = grid('.......', '.......', '..###..', '..###..', '.......');
  assert.equal(warpingError(blobT.data, blobP.data, 5, 7).errorPixels, 0);
});

test('warpingError: only disagreeing pixels flip, so a 1-pixel membrane moved by two columns is not warped away', () => {
  // As in the reference: column 5 thickens the membrane (flips), but column 3 cannot thin it
  // without merging the strip x = 4 into the left cell, and column 4 (agreeing) never flips.
  const truth = grid('###.#####', '###.#####', '###.#####');
  const prop = grid('#####.###', '#####.###', '#####.###');
  const r = warpingError(truth.data, prop.data, 3, 9);
  assert.equal(r.initialPixels, 6);
  assert.ok(r.errorPixels >= 3, `warpingError: expected the column at x = 3 to remain, got ${r.errorPixels} pixels`);
  assert.ok(r.classes!.mergers >= 1);
});

test('warpingError: object addition and deletion are not splits or mergers', () => {
  const truth = grid('.....', '.....', '.....');
  const prop = grid('.....', '..#..', '.....');
  const add = warpingError(truth.data, prop.data, 3, 5);
  assert.equal(add.errorPixels, 1);
  assert.deepEqual(add.classes!.kinds, ['objectAddition']);
  assert.equal(add.classes!.splits + add.classes!.mergers, 0);
  const del = warpingError(prop.data, truth.data, 3, 5);
  assert.deepEqual(del.classes!.kinds, ['objectDeletion']);
});

test('warpingError: the truth is warped (not symmetric); warp: proposal reverses the roles', () => {
  const truth = grid('#####', '#####', '#####', '#####', '#####');
  const prop = grid('#####', '#####', '.....', '#####', '#####');
  // Warping the truth toward the proposal leaves 1 pixel (a split, see above); warping the
  // proposal toward the truth cannot close any pixel of its 1-pixel cut without joining the two
  // halves (cells are 4-connected), so all 5 remain: one clustered merger.
  const r = warpingError(truth.data, prop.data, 5, 5, { warp: 'proposal' });
  assert.equal(r.errorPixels, 5);
  assert.equal(r.classes!.mergers, 1);
  assert.throws(() => warpingError(truth.data, prop.data, 5, 5, { warp: 'x' as 'truth' }), /warpingError: warp must be 'truth' or 'proposal', got x/);
  assert.throws(() => warpingError(truth.data, prop.data, 5, 4), /warpingError: truth has 25 and proposal 25 pixels; both must be 5x4 = 20/);
});

test('warpingError: disagreements where the proposal is most confident are flipped first', () => {
  // A probability map: the thresholded proposal at 0.5 equals the split case; at 0.05 it is all cell.
  const truth = grid('#####', '#####', '#####', '#####', '#####');
  const p = new Float32Array(25).fill(0.9);
  for (let x = 0; x < 5; x++) p[10 + x] = 0.1;
  const s = warpingErrorSweep(truth.data, p, 5, 5, { thresholds: [0.05, 0.5] });
  assert.deepEqual(s.perThreshold.map((r) => r.errorPixels), [0, 1]);
  assert.equal(s.warpingError, 0);
  assert.equal(s.threshold, 0.05);
  const stack = warpingStackScores([s, warpingErrorSweep(truth.data, p, 5, 5, { thresholds: [0.05, 0.5] })]);
  assert.deepEqual(stack, { warpingError: 0, threshold: 0.05, splits: 0, mergers: 0, clusteredWarpingError: 0, slices: 2 });
  const at5 = warpingStackScores([warpingErrorSweep(truth.data, p, 5, 5, { thresholds: [0.5] })]);
  assert.equal(at5.splits, 1);
  assert.equal(classifyWarping(s.perThreshold[1]!).splits, 1);
  assert.throws(() => warpingStackScores([s, warpingErrorSweep(truth.data, p, 5, 5, { thresholds: [0.5] })]), /warpingStackScores: slice 1 was swept over different thresholds/);
});

test('warpingError: the warped truth keeps the truth\'s topology (random maps, cells 4- and membranes 8-connected)', async () => {
  const { labelComponents } = await import('../src/util/components.js');
  const { Rng } = await import('../src/util/rng.js');
  const rng = new Rng(11);
  // Counts with the frame as background, as the warping sees it: pad by one pixel.
  const counts = (m: Uint8Array, h: number, w: number): [number, number] => {
    const pad = new Uint8Array((h + 2) * (w + 2));
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) pad[(y + 1) * (w + 2) + x + 1] = m[y * w + x]!;
    return [labelComponents(pad, h + 2, w + 2, 4).count, labelComponents(pad.map((v) => 1 - v), h + 2, w + 2, 8).count];
  };
  for (let trial = 0; trial < 40; trial++) {
    const h = 12;
    const w = 14;
    const blobs = (): Uint8Array => {
      const m = new Uint8Array(h * w);
      for (let b = 0; b < 4; b++) {
        const cy = rng.int(0, h - 1), cx = rng.int(0, w - 1), r = rng.int(1, 4);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((y - cy) ** 2 + (x - cx) ** 2 <= r * r) m[y * w + x] = 1;
      }
      for (let i = 0; i < 6; i++) {
        const j = rng.int(0, h * w - 1);
        m[j] = m[j]! ^ 1;
      }
      return m;
    };
    const truth = blobs();
    const prop = blobs();
    const r = warpingError(truth, prop, h, w);
    assert.deepEqual(counts(r.warped, h, w), counts(truth, h, w), `trial ${trial}: warping changed the topology`);
    let diff = 0;
    for (let i = 0; i < h * w; i++) if (r.warped[i] !== prop[i]) diff++;
    assert.equal(diff, r.errorPixels, `trial ${trial}: errorPixels counts the remaining disagreements`);
    assert.ok(r.errorPixels <= r.initialPixels);
  }
});
