import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeTiff } from '../src/io/image.js';
import type { Raster } from '../src/io/raster.js';
import type { TilePredictor } from '../src/infer/predictor.js';
import { predictFile } from '../src/infer/write-outputs.js';
import { instanceLabels } from '../src/infer/instances.js';
import { displayRgb, labelColour, overlay, probabilityPlane, quantizeProbability } from '../src/infer/render.js';

test('instanceLabels: the doc-comment example, components without probability', () => {
  const mask = Uint8Array.of(1, 1, 1, 1, 1);
  assert.equal(instanceLabels(mask, 1, 5).count, 1);
  const split = instanceLabels(mask, 1, 5, { probability: [0.95, 0.95, 0.6, 0.95, 0.95] });
  assert.equal(split.count, 2);
  // The dip pixel goes to the side with the higher neighbouring probability (here a tie: either, but labelled).
  assert.ok(split.labels.every((l) => l === 1 || l === 2));
  assert.deepEqual([...split.labels.subarray(0, 2)], [1, 1]);
  assert.deepEqual([...split.labels.subarray(3)], [2, 2]);
});

test('instanceLabels: watershed splits two touching discs along the probability valley and keeps unseeded blobs', () => {
  const H = 20;
  const W = 30;
  const mask = new Uint8Array(H * W);
  const prob = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const d1 = Math.hypot(y - 10, x - 9);
      const d2 = Math.hypot(y - 10, x - 19);
      const d = Math.min(d1, d2);
      if (d <= 6) {
        mask[y * W + x] = 1;
        prob[y * W + x] = 1 - d / 10; // peaks at the centres, lowest at the rims and where the discs meet
      }
    }
  }
  // A small blob whose probability never reaches the seed threshold.
  mask[0] = 1;
  prob[0] = 0.55;
  assert.equal(instanceLabels(mask, H, W).count, 2, 'without watershed: one merged pair + the blob');
  const r = instanceLabels(mask, H, W, { probability: prob, seedThreshold: 0.8 });
  assert.equal(r.count, 3);
  const a = r.labels[10 * W + 9]!;
  const b = r.labels[10 * W + 19]!;
  assert.notEqual(a, b);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!mask[y * W + x] || (y === 0 && x === 0)) continue;
      const expected = Math.hypot(y - 10, x - 9) < Math.hypot(y - 10, x - 19) ? a : b;
      if (x !== 14) assert.equal(r.labels[y * W + x], expected, `pixel ${y},${x} goes to the nearer disc`);
    }
  }
  assert.equal(instanceLabels(mask, H, W, { minSize: 2 }).count, 1, 'minSize drops the 1-pixel blob');
});

test('quantizeProbability and probabilityPlane', () => {
  assert.deepEqual([...quantizeProbability(Float32Array.of(0, 0.5, 1, 1.2, -0.1), 8)], [0, 128, 255, 255, 0]);
  assert.deepEqual([...quantizeProbability(Float32Array.of(0, 0.5, 1), 16)], [0, 32768, 65535]);
  const probs = { data: Float32Array.of(0.1, 0.9, 0.7, 0.3), height: 1, width: 2, channels: 2 };
  assert.deepEqual([...probabilityPlane(probs, 1).data], [Math.fround(0.9), Math.fround(0.3)]);
  assert.throws(() => probabilityPlane(probs, 2), /class 2 out of range for 2 classes/);
});

test('displayRgb: 8-bit gray replicated, 16-bit stretched to 0..255', () => {
  assert.deepEqual([...displayRgb({ data: Uint8Array.of(7, 200), height: 1, width: 2, channels: 1 }).data], [7, 7, 7, 200, 200, 200]);
  assert.deepEqual([...displayRgb({ data: Uint16Array.of(1000, 3000), height: 2, width: 1, channels: 1 }).data], [0, 0, 0, 255, 255, 255]);
});

test('overlay: background untouched, interior tinted, borders in full colour', () => {
  // 4 x 4 gray image of value 100 with a 2 x 2 object of class 1 in the middle plus a 4 x 1 column of class 2.
  const image = { data: new Uint8Array(16).fill(100), height: 4, width: 4, channels: 1 };
  const labels = { data: Uint8Array.of(0, 0, 0, 2, 0, 1, 1, 2, 0, 1, 1, 2, 0, 0, 0, 2), height: 4, width: 4, channels: 1 };
  const noContours = overlay(image, labels, { alpha: 0.5, contours: false });
  const red = labelColour(1, 'classes');
  assert.deepEqual([...noContours.data.subarray(0, 3)], [100, 100, 100], 'background keeps the image');
  assert.deepEqual([...noContours.data.subarray(5 * 3, 6 * 3)], red.map((c) => Math.round(100 * 0.5 + c * 0.5)));
  const withContours = overlay(image, labels, { alpha: 0.5 });
  assert.deepEqual([...withContours.data.subarray(5 * 3, 6 * 3)], red, 'every pixel of a 2 x 2 object is on its border');
  assert.throws(() => overlay(image, { ...labels, height: 2, width: 8 }), /labels are 2x8x1, expected 4x4x1/);
  assert.notDeepEqual(labelColour(1, 'instances'), labelColour(2, 'instances'));
});

test('predictFile: when page 2 of a stack fails, the outputs of page 1 are removed and the error is passed on', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unet-stack-'));
  try {
    const page = (v: number): Raster => ({ data: new Float32Array(8 * 8).fill(v), height: 8, width: 8, channels: 1 });
    const stack = join(dir, 'stack.tif');
    await writeTiff(stack, [page(0.2), page(0.8), page(0.5)]);
    let pagesSeen = 0;
    const pointwise = (fail: boolean): TilePredictor => ({
      inputShape: [8, 8],
      outputShape: [8, 8],
      channels: 1,
      classes: 2,
      alignment: 1,
      predictBatch: async (tiles, n) => {
        if (fail) throw new Error('stub predictor: page 2 fails');
        const out = new Float32Array(n * 64 * 2);
        for (let i = 0; i < n * 64; i++) [out[2 * i], out[2 * i + 1]] = [1 - tiles[i]!, tiles[i]!];
        return out;
      },
    });
    const out = join(dir, 'out');
    const options = { outDir: out, outputs: ['mask', 'prob'] as const, normalization: { kind: 'range', min: 0, max: 1 } as const, classNames: ['a', 'b'] };
    // The first call probes the class count; then one call per page.
    const ok = await predictFile(stack, () => pointwise(false), options);
    assert.equal(ok.written.length, 6, 'three pages, two outputs each');
    await rm(out, { recursive: true });
    await assert.rejects(
      predictFile(stack, () => pointwise(pagesSeen++ === 2), options),
      /page 2 fails/,
    );
    // The folder this call created goes too: a failed input leaves no empty folder behind.
    assert.equal(existsSync(out), false, 'no outputs of page 1, and no empty output folder, left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
