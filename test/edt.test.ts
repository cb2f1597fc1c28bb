import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dt1d, edt, squaredEdt } from '../src/util/edt.js';
import { Rng } from '../src/util/rng.js';

/** Brute force: min over all source pixels of the squared distance. */
function bruteSquared(mask: Uint8Array, h: number, w: number): Float64Array {
  const out = new Float64Array(h * w).fill(Infinity);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let sy = 0; sy < h; sy++) {
        for (let sx = 0; sx < w; sx++) {
          if (!mask[sy * w + sx]) continue;
          const d = (y - sy) ** 2 + (x - sx) ** 2;
          if (d < out[y * w + x]!) out[y * w + x] = d;
        }
      }
    }
  }
  return out;
}

test('dt1d: worked examples from the doc comment', () => {
  assert.deepEqual([...dt1d(Float64Array.of(Infinity, 0, Infinity, Infinity))], [1, 0, 1, 4]);
  assert.deepEqual([...dt1d(Float64Array.of(0, Infinity, Infinity, 0))], [0, 1, 1, 0]);
  assert.deepEqual([...dt1d(Float64Array.of(Infinity, Infinity))], [Infinity, Infinity]);
  // A sampled function, not only 0/Infinity: min_p (q - p)^2 + f[p].
  assert.deepEqual([...dt1d(Float64Array.of(5, 0, 3))], [1, 0, 1]);
});

test('squaredEdt: doc example and the empty mask', () => {
  assert.deepEqual([...squaredEdt(Uint8Array.of(1, 0, 0, 0, 0, 0), 2, 3)], [0, 1, 4, 1, 2, 5]);
  assert.ok([...squaredEdt(new Uint8Array(6), 2, 3)].every((v) => v === Infinity), 'no source: every distance is Infinity');
  assert.throws(() => squaredEdt(new Uint8Array(5), 2, 3), /squaredEdt: mask has 5 values, expected 2x3/);
});

test('squaredEdt equals brute force exactly on random masks', () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 200; trial++) {
    const h = rng.int(1, 14);
    const w = rng.int(1, 14);
    const density = [0.02, 0.1, 0.5, 0.9][trial % 4]!;
    const mask = Uint8Array.from({ length: h * w }, () => (rng.uniform() < density ? 1 : 0));
    const got = squaredEdt(mask, h, w);
    const want = bruteSquared(mask, h, w);
    assert.deepEqual([...got], [...want], `trial ${trial}: ${h}x${w}`);
  }
});

test('edt returns square roots and honours isSource', () => {
  const d = edt(Uint8Array.of(0, 0, 7, 0, 0), 1, 5, (v) => v === 7);
  assert.deepEqual([...d], [2, 1, 0, 1, 2]);
  const diag = edt(Uint8Array.of(1, 0, 0, 0), 2, 2);
  assert.equal(diag[3], Math.SQRT2);
});
