import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classBalanceWeights, instancesFromMask, nearestTwoDistances, separateTouching, weightMap } from '../src/loss/weight-map.js';
import { Rng } from '../src/util/rng.js';
import { assertClose } from './helpers.js';

const raster = (data: Int32Array | Uint8Array, height: number, width: number) => ({ data, height, width, channels: 1 });
const classesOf = (ids: Int32Array) => Uint8Array.from(ids, (v) => (v > 0 ? 1 : 0));

test('weightMap: hand computation on one row 1 0 2 0 0 (balanced w_c, w0 = 10, sigma = 5)', () => {
  const ids = Int32Array.of(1, 0, 2, 0, 0);
  const w = weightMap(raster(ids, 1, 5), raster(classesOf(ids), 1, 5), 2).data;
  // 3 background and 2 object pixels of 5: w_c(0) = 5 / (2 * 3), w_c(1) = 5 / (2 * 2).
  const wc0 = 5 / 6;
  const wc1 = 5 / 4;
  const border = (d1: number, d2: number): number => 10 * Math.exp(-((d1 + d2) ** 2) / (2 * 5 * 5));
  const expected = [wc1, wc0 + border(1, 1), wc1, wc0 + border(1, 3), wc0 + border(2, 4)];
  for (let i = 0; i < 5; i++) assertClose(w[i]!, expected[i]!, 1e-5, `w[${i}]`);
  // The gap pixel: 5/6 + 10 exp(-0.08) = 10.0645...
  assertClose(w[1]!, 10.0645, 1e-3, 'gap pixel');
});

test('weightMap: two squares with a one-pixel gap peak on the gap', () => {
  const h = 20;
  const w = 21;
  const ids = new Int32Array(h * w);
  for (let y = 5; y < 15; y++) {
    for (let x = 2; x < 10; x++) ids[y * w + x] = 1; // columns 2..9
    for (let x = 11; x < 19; x++) ids[y * w + x] = 2; // columns 11..18, gap at column 10
  }
  const map = weightMap(raster(ids, h, w), raster(classesOf(ids), h, w), 2, { classWeights: 'none' });
  let best = -1;
  let arg = -1;
  for (let i = 0; i < map.data.length; i++) if (map.data[i]! > best) { best = map.data[i]!; arg = i; }
  assert.equal(arg % w, 10, `maximum at column ${arg % w}, expected the gap column 10`);
  assertClose(best, 1 + 10 * Math.exp(-4 / 50), 1e-5, 'peak = 1 + w0 exp(-(1+1)^2 / 2 sigma^2)');
  // Every gap pixel between the squares carries the same peak; object pixels carry w_c only.
  for (let y = 5; y < 15; y++) assertClose(map.data[y * w + 10]!, best, 1e-5, `gap row ${y}`);
  assert.equal(map.data[10 * w + 5], 1);
});

test('weightMap: cut-off reach changes values by less than the tolerance (vs brute-force distances)', () => {
  const rng = new Rng(3);
  const h = 40;
  const w = 50;
  const ids = new Int32Array(h * w);
  for (let k = 1; k <= 6; k++) {
    const cy = rng.int(0, h - 1);
    const cx = rng.int(0, w - 1);
    const r = rng.int(1, 4);
    for (let y = Math.max(0, cy - r); y <= Math.min(h - 1, cy + r); y++) for (let x = Math.max(0, cx - r); x <= Math.min(w - 1, cx + r); x++) ids[y * w + x] = k;
  }
  const present = [...new Set(ids)].filter((v) => v > 0);
  const got = weightMap(raster(ids, h, w), raster(classesOf(ids), h, w), 2, { classWeights: 'none', sigma: 3 }).data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let want = 1;
      if (ids[i] === 0 && present.length >= 2) {
        const dists = present.map((id) => {
          let m = Infinity;
          for (let j = 0; j < ids.length; j++) if (ids[j] === id) m = Math.min(m, Math.hypot(Math.floor(j / w) - y, (j % w) - x));
          return m;
        }).sort((a, b) => a - b);
        want += 10 * Math.exp(-((dists[0]! + dists[1]!) ** 2) / (2 * 9));
      }
      assertClose(got[i]!, want, 2e-6, `pixel (${x}, ${y})`);
    }
  }
});

test('nearestTwoDistances: doc example', () => {
  const { d1, d2, count } = nearestTwoDistances(Int32Array.of(1, 0, 2, 0, 0), 1, 5);
  assert.equal(count, 2);
  assert.deepEqual([...d1], [0, 1, 0, 1, 2]);
  assert.deepEqual([...d2], [2, 1, 2, 3, 4]);
});

test('classBalanceWeights: balanced, none, explicit, and a bad index', () => {
  assert.deepEqual([...classBalanceWeights(Uint8Array.of(0, 0, 0, 1), 2)], [4 / 6, 2]);
  assert.deepEqual([...classBalanceWeights(Uint8Array.of(0, 0, 0, 1), 2, 'none')], [1, 1]);
  assert.deepEqual([...classBalanceWeights(Uint8Array.of(0, 1), 2, [0.5, 3])], [0.5, 3]);
  assert.throws(() => classBalanceWeights(Uint8Array.of(0, 2), 2), /class index 2 at pixel 1 is outside \[0, 1\]/);
  assert.throws(() => weightMap(raster(new Int32Array(4), 2, 2), raster(new Uint8Array(4), 2, 2), 2, { sigma: 0 }), /sigma must be a finite number > 0, got 0/);
});

test('separateTouching: doc example and a one-pixel line between touching squares', () => {
  assert.deepEqual([...separateTouching(Int32Array.of(1, 1, 2, 2), 1, 4, 4)], [1, 1, 0, 2]);
  // Two 4x4 squares sharing a border plus a diagonal contact with a third object.
  const h = 10;
  const w = 10;
  const ids = new Int32Array(h * w);
  for (let y = 1; y < 5; y++) for (let x = 1; x < 9; x++) ids[y * w + x] = x < 5 ? 1 : 2;
  for (let y = 5; y < 8; y++) for (let x = 5; x < 8; x++) ids[y * w + x] = 3;
  for (const conn of [4, 8] as const) {
    const sep = separateTouching(ids, h, w, conn);
    // No two different objects are neighbours afterwards.
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const a = sep[y * w + x]!;
        if (a === 0) continue;
        for (const [dy, dx] of conn === 4 ? [[0, 1], [1, 0]] : [[0, 1], [1, 0], [1, 1], [1, -1]]) {
          const yy = y + dy!;
          const xx = x + dx!;
          if (yy >= h || xx < 0 || xx >= w) continue;
          const b = sep[yy * w + xx]!;
          assert.ok(b === 0 || b === a, `${conn}-connectivity: objects ${a} and ${b} still touch at (${x}, ${y})`);
        }
      }
    }
    // The shared border of 1 and 2 becomes a one-pixel line (column 5 of object 2).
    for (let y = 1; y < 5; y++) {
      assert.equal(sep[y * w + 4], 1);
      assert.equal(sep[y * w + 5], 0);
      assert.equal(sep[y * w + 6], 2);
    }
    // Every object survives.
    assert.deepEqual([...new Set(sep)].sort(), [0, 1, 2, 3]);
  }
});

test('instancesFromMask: components of a binary mask, then a peak between them', () => {
  const mask = Uint8Array.of(255, 0, 255, 255, 0, 255);
  const ids = instancesFromMask(mask, 2, 3, 4);
  assert.deepEqual([...ids], [1, 0, 2, 1, 0, 2]);
  const wm = weightMap(raster(ids, 2, 3), raster(classesOf(ids), 2, 3), 2, { classWeights: 'none' });
  assertClose(wm.data[1]!, 1 + 10 * Math.exp(-4 / 50), 1e-5, 'middle column');
});
