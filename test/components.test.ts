import assert from 'node:assert/strict';
import { test } from 'node:test';
import { labelComponents } from '../src/util/components.js';
import { Rng } from '../src/util/rng.js';

test('labelComponents: worked examples from the doc comment', () => {
  const a = labelComponents(Uint8Array.of(1, 1, 0, 0, 0, 0, 0, 1, 1), 3, 3);
  assert.equal(a.count, 2);
  assert.deepEqual([...a.labels], [1, 1, 0, 0, 0, 0, 0, 2, 2]);
  assert.equal(labelComponents(Uint8Array.of(1, 0, 0, 1), 2, 2, 4).count, 2, 'diagonal pixels are separate under 4-connectivity');
  assert.equal(labelComponents(Uint8Array.of(1, 0, 0, 1), 2, 2, 8).count, 1, 'diagonal pixels join under 8-connectivity');
});

test('labelComponents: distinct components get distinct labels (a checkerboard under 4-connectivity is all singletons)', () => {
  const h = 5;
  const w = 6;
  const mask = Uint8Array.from({ length: h * w }, (_, i) => (Math.floor(i / w) + (i % w)) % 2);
  const r = labelComponents(mask, h, w, 4);
  const fg = [...r.labels].filter((_, i) => mask[i]);
  assert.equal(r.count, 15);
  assert.equal(new Set(fg).size, 15, `labelComponents: 15 separate pixels get 15 distinct labels, got ${JSON.stringify(fg)}`);
  assert.deepEqual(fg, Array.from({ length: 15 }, (_, k) => k + 1), 'labelComponents: labels 1..count in raster order');
  assert.equal(labelComponents(mask, h, w, 8).count, 1, 'under 8-connectivity the checkerboard is one component');
});

test('labelComponents: a U shape merges provisional labels into one component', () => {
  // 1 0 1
  // 1 0 1
  // 1 1 1
  const r = labelComponents(Uint8Array.of(1, 0, 1, 1, 0, 1, 1, 1, 1), 3, 3);
  assert.equal(r.count, 1);
});

test('labelComponents: agrees with a flood fill on random masks', () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 30; trial++) {
    const h = rng.int(1, 12);
    const w = rng.int(1, 12);
    const mask = Uint8Array.from({ length: h * w }, () => (rng.uniform() < 0.5 ? 1 : 0));
    for (const conn of [4, 8] as const) {
      const r = labelComponents(mask, h, w, conn);
      const seen = new Int32Array(h * w);
      let count = 0;
      for (let i = 0; i < h * w; i++) {
        if (!mask[i]) {
          assert.equal(r.labels[i], 0, `labelComponents(${conn}): background pixel ${i} has label 0`);
          continue;
        }
        if (seen[i]) continue;
        count++;
        // Flood fills start in raster order, so this is the count-th component by first pixel:
        // its label is count (documented order), hence distinct from every earlier component's.
        assert.equal(r.labels[i], count, `labelComponents(${conn}): component ${count} (first pixel ${i}) on a ${h}x${w} mask gets label ${count}`);
        const stack = [i];
        seen[i] = 1;
        while (stack.length) {
          const p = stack.pop()!;
          const py = Math.floor(p / w);
          const px = p % w;
          for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
            if ((dx === 0 && dy === 0) || (conn === 4 && dx !== 0 && dy !== 0)) continue;
            const qy = py + dy;
            const qx = px + dx;
            if (qy < 0 || qy >= h || qx < 0 || qx >= w) continue;
            const q = qy * w + qx;
            if (mask[q] && !seen[q]) {
              seen[q] = 1;
              assert.equal(r.labels[q], r.labels[p], `labelComponents(${conn}): neighbours ${p} and ${q} got different labels`);
              stack.push(q);
            }
          }
        }
      }
      assert.equal(r.count, count, `labelComponents(${conn}) count on a ${h}x${w} mask`);
    }
  }
});
