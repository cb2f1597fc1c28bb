import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignedStep, axisOrigins, gaussianWeights, tileGrid } from '../src/infer/tiling.js';
import { planTiles, predict, predictBands, type ProbabilityBand } from '../src/infer/predict.js';
import type { TilePredictor } from '../src/infer/predictor.js';
import { dihedral, withTestTimeAugmentation, type Dihedral } from '../src/infer/tta.js';
import { extractWindow } from '../src/util/mirror.js';
import { Rng } from '../src/util/rng.js';
import { maxAbsDiff } from './helpers.js';

/** A stub model: the centre crop of its input, channel by channel (so "classes" = channels). */
function centreCropStub(input: readonly [number, number], output: readonly [number, number], channels: number, alignment = 1): TilePredictor & { calls: number[] } {
  const [inH, inW] = input;
  const [outH, outW] = output;
  const mt = (inH - outH) / 2;
  const ml = (inW - outW) / 2;
  const calls: number[] = [];
  return {
    inputShape: input,
    outputShape: output,
    channels,
    classes: channels,
    alignment,
    calls,
    async predictBatch(tiles: Float32Array, n: number): Promise<Float32Array> {
      calls.push(n);
      assert.equal(tiles.length, n * inH * inW * channels, 'stub: batch length');
      const out = new Float32Array(n * outH * outW * channels);
      for (let b = 0; b < n; b++) {
        for (let y = 0; y < outH; y++) {
          for (let x = 0; x < outW; x++) {
            for (let c = 0; c < channels; c++) {
              out[((b * outH + y) * outW + x) * channels + c] = tiles[((b * inH + y + mt) * inW + x + ml) * channels + c]!;
            }
          }
        }
      }
      return out;
    },
  };
}

function randomImage(rng: Rng, h: number, w: number, c: number): { data: Float32Array; height: number; width: number; channels: number } {
  return { data: Float32Array.from({ length: h * w * c }, () => rng.uniform()), height: h, width: w, channels: c };
}

test('alignedStep and axisOrigins: worked examples from the doc comments', () => {
  assert.equal(alignedStep(388, 16), 384);
  assert.equal(alignedStep(256, 16, 64), 192);
  assert.equal(alignedStep(12, 1), 12);
  assert.deepEqual(axisOrigins(512, 388, 384, 16), [0, 128]);
  assert.deepEqual(axisOrigins(100, 388, 384, 16), [0]);
  assert.deepEqual(axisOrigins(800, 388, 384, 16), [0, 384, 416]);
  assert.deepEqual(axisOrigins(37, 12, 12, 4), [0, 12, 24, 28]);
  assert.deepEqual(axisOrigins(10, 4, 4, 1), [0, 4, 6]);
  assert.deepEqual(axisOrigins(388, 388, 384, 16), [0], 'an image of exactly one output tile needs one tile');
  assert.deepEqual(axisOrigins(3, 4, 16, 16), [0], 'one tile needs no step, even an output smaller than the alignment');
  assert.throws(() => axisOrigins(100, 12, 10, 4), /step must be a multiple of 4/);
  assert.throws(() => alignedStep(12, 4, 12), /overlap must be an integer in \[0, 11\]/);
});

test('axisOrigins: aligned, increasing, gap-free, reaching the end, for many sizes', () => {
  for (const [out, align] of [[12, 4], [388, 16], [5, 1], [20, 8]] as const) {
    for (const overlap of [0, 3]) {
      const step = alignedStep(out, align, overlap);
      for (let size = 1; size <= 3 * out + 7; size++) {
        const o = axisOrigins(size, out, step, align);
        assert.equal(o[0], 0);
        for (let i = 0; i < o.length; i++) {
          assert.equal(o[i]! % align, 0, `origin ${o[i]} off the ${align}-grid (size ${size}, out ${out})`);
          if (i > 0) assert.ok(o[i]! > o[i - 1]! && o[i]! <= o[i - 1]! + out, `gap or repeat at ${i}: ${o.join(',')} (size ${size})`);
        }
        const last = o[o.length - 1]!;
        assert.ok(last + out >= size, `last tile ${last}+${out} short of size ${size}`);
        if (o.length > 1) assert.ok(last + out - size < align, `last tile ${last}+${out} overshoots size ${size} by ${align} or more`);
        else assert.ok(size <= out, `one tile for size ${size} > out ${out}`);
      }
    }
  }
});

test('tileGrid: the paper example (572 -> 388 on a 512 x 512 slice)', () => {
  const g = tileGrid([512, 512], [572, 572], [388, 388], [384, 384], 16);
  assert.deepEqual(g.margin, [92, 92]);
  assert.deepEqual(g.rowOrigins, [0, 128]);
  assert.equal(g.tiles.length, 4);
  assert.deepEqual(g.tiles[0], {
    row: 0,
    col: 0,
    input: { top: -92, left: -92, height: 572, width: 572 },
    output: { top: 0, left: 0, height: 388, width: 388 },
    owned: { top: 0, left: 0, height: 128, width: 128 },
  });
  assert.deepEqual(g.tiles[3], {
    row: 1,
    col: 1,
    input: { top: 36, left: 36, height: 572, width: 572 },
    output: { top: 128, left: 128, height: 388, width: 388 },
    owned: { top: 128, left: 128, height: 384, width: 384 },
  });
  assert.throws(() => tileGrid([10, 10], [21, 20], [12, 12]), /must differ by an even/);
});

test('tileGrid: owned windows partition the image for odd, tiny and non-square sizes', () => {
  for (const [H, W] of [[1, 1], [3, 5], [12, 12], [13, 29], [40, 7], [97, 64]] as const) {
    const g = tileGrid([H, W], [20, 16], [12, 8], [8, 8], 4);
    const hits = new Uint8Array(H * W);
    for (const t of g.tiles) {
      assert.equal(t.input.top, t.output.top - 4);
      assert.equal(t.input.left, t.output.left - 4);
      for (let y = t.owned.top; y < t.owned.top + t.owned.height; y++) {
        for (let x = t.owned.left; x < t.owned.left + t.owned.width; x++) hits[y * W + x]!++;
      }
      assert.ok(t.owned.top + t.owned.height <= t.output.top + t.output.height, 'owned rows inside the output tile');
      assert.ok(t.owned.left + t.owned.width <= t.output.left + t.output.width, 'owned columns inside the output tile');
    }
    assert.ok(hits.every((v) => v === 1), `${H}x${W}: every pixel owned by exactly one tile`);
  }
});

test('mirror padding matches a hand-written example (reflect, edge pixel not repeated)', () => {
  // Image 2 x 3:    a=1 b=2 c=3
  //                 d=4 e=5 f=6
  // Window from (-2, -2), 6 x 7: row indices -2..3 reflect to 0 1 0 1 0 1, columns -2..4 to 2 1 0 1 2 1 0.
  const img = Float32Array.of(1, 2, 3, 4, 5, 6);
  const win = extractWindow(img, 2, 3, 1, -2, -2, 6, 7);
  const rowA = [3, 2, 1, 2, 3, 2, 1];
  const rowD = [6, 5, 4, 5, 6, 5, 4];
  assert.deepEqual([...win], [...rowA, ...rowD, ...rowA, ...rowD, ...rowA, ...rowD]);
  // A single-pixel image mirrors onto itself in every direction (smaller than any tile).
  assert.deepEqual([...extractWindow(Float32Array.of(7), 1, 1, 1, -3, -3, 2, 2)], [7, 7, 7, 7]);
  // Two channels travel together.
  assert.deepEqual([...extractWindow(Float32Array.of(1, 10, 2, 20), 1, 2, 2, 0, -1, 1, 3)], [2, 20, 1, 10, 2, 20]);
});

test('gaussianWeights: peak 1 at the centre, symmetric, positive at the corners', () => {
  const w = gaussianWeights([8, 6]);
  assert.equal(w.length, 48);
  const at = (y: number, x: number): number => w[y * 6 + x]!;
  assert.ok(at(3, 2) > at(0, 0) && at(0, 0) >= 1e-3);
  assert.equal(at(0, 0), at(7, 5));
  assert.equal(at(2, 1), at(5, 4));
});

test('predict (centre-crop stub, crop blending): reproduces the image exactly for many sizes', async () => {
  const rng = new Rng(3);
  const sizes: [number, number][] = [[1, 1], [2, 3], [5, 4], [11, 11], [12, 12], [13, 13], [12, 31], [33, 9], [40, 41], [64, 17]];
  for (const alignment of [1, 4]) {
    for (const [H, W] of sizes) {
      for (const channels of [1, 3]) {
        const stub = centreCropStub([20, 28], [12, 20], channels, alignment);
        const image = randomImage(rng, H, W, channels);
        const r = await predict(image, stub, { batchSize: 3 });
        assert.deepEqual(r.probabilities!.data, image.data, `${H}x${W}x${channels}, alignment ${alignment}`);
        assert.equal(r.probabilities!.channels, channels);
        assert.ok(stub.calls.every((n) => n >= 1 && n <= 3), 'batches of at most batchSize tiles');
        assert.equal(stub.calls.reduce((a, b) => a + b, 0), r.grid.tiles.length, 'every tile predicted once');
      }
    }
  }
});

test('predict (centre-crop stub, Gaussian blending of a same-size model): reproduces the image', async () => {
  const rng = new Rng(4);
  for (const [H, W] of [[1, 1], [7, 5], [16, 16], [17, 40], [50, 23]] as const) {
    const stub = centreCropStub([16, 16], [16, 16], 2, 4);
    const image = randomImage(rng, H, W, 2);
    const plan = planTiles([H, W], stub);
    assert.equal(plan.blend, 'gaussian');
    assert.deepEqual(plan.grid.step, [12, 12], 'a quarter-tile overlap by default');
    const r = await predict(image, stub);
    assert.ok(maxAbsDiff(r.probabilities!.data, image.data) < 1e-6, `${H}x${W}: weighted average of equal values`);
  }
});

test('predictBands: bands partition the rows top to bottom, progress counts every tile', async () => {
  const stub = centreCropStub([20, 20], [12, 12], 1, 4);
  const image = randomImage(new Rng(5), 53, 30, 1);
  const bands: ProbabilityBand[] = [];
  const progress: number[] = [];
  const grid = await predictBands(image, stub, (b) => void bands.push(b), { batchSize: 2, onProgress: (p) => progress.push(p.tilesDone) });
  let top = 0;
  for (const b of bands) {
    assert.equal(b.top, top);
    assert.ok(b.height <= 12, 'a band is at most one output tile high');
    assert.deepEqual(b.data, image.data.subarray(top * 30, (top + b.height) * 30));
    top += b.height;
  }
  assert.equal(top, 53);
  assert.equal(progress[progress.length - 1], grid.tiles.length);
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
});

test('predict: argmax mask and foreground map; bad inputs get clear errors', async () => {
  const stub = centreCropStub([8, 8], [4, 4], 3);
  const image = randomImage(new Rng(6), 9, 10, 3);
  const r = await predict(image, stub, { outputs: { probabilities: false, foregroundClasses: [1, 2] } });
  assert.equal(r.probabilities, undefined);
  for (let i = 0; i < 90; i++) {
    const v = [image.data[3 * i]!, image.data[3 * i + 1]!, image.data[3 * i + 2]!];
    assert.equal(r.mask!.data[i], v.indexOf(Math.max(...v)));
    assert.ok(Math.abs(r.foreground!.data[i]! - (v[1]! + v[2]!)) < 1e-6);
  }
  await assert.rejects(predict(randomImage(new Rng(1), 4, 4, 1), stub), /the image has 1 channel\(s\), the model takes 3/);
  await assert.rejects(predict(image, stub, { outputs: { foregroundClasses: [3] } }), /foreground class 3 is not one of the model's classes 0..2/);
  // A second summed map (the watershed's seeds), independent of the first.
  const both = await predict(image, stub, { outputs: { probabilities: false, foregroundClasses: [1, 2], seedClasses: [2] } });
  for (let i = 0; i < 90; i++) assert.ok(Math.abs(both.seed!.data[i]! - image.data[3 * i + 2]!) < 1e-6, `predict: seed map at pixel ${i} is class 2's probability`);
  assert.deepEqual(both.foreground!.data, r.foreground!.data, 'predict: the foreground map does not change with a seed map');
  await assert.rejects(predict(image, stub, { outputs: { seedClasses: [5] } }), /seed class 5 is not one of the model's classes 0..2/);
  const abort = new AbortController();
  abort.abort();
  await assert.rejects(predict(image, stub, { signal: abort.signal }), /predict: aborted/);
});

test('dihedral: the 8 transforms are distinct and each inverse undoes its transform', () => {
  assert.deepEqual([...dihedral(Float32Array.of(1, 2, 3, 4, 5, 6), 2, 3, 1, 4)], [1, 4, 2, 5, 3, 6]);
  const src = Float32Array.from({ length: 3 * 3 * 2 }, (_, i) => i);
  const seen = new Set<string>();
  for (let t = 0; t < 8; t++) {
    const fwd = dihedral(src, 3, 3, 2, t as Dihedral);
    seen.add([...fwd].join(','));
    assert.deepEqual(dihedral(fwd, 3, 3, 2, t as Dihedral, true), src, `transform ${t}`);
  }
  assert.equal(seen.size, 8);
  const rect = Float32Array.from({ length: 2 * 5 }, (_, i) => i);
  for (let t = 0; t < 8; t++) assert.deepEqual(dihedral(dihedral(rect, 2, 5, 1, t as Dihedral), 2, 5, 1, t as Dihedral, true), rect, `non-square transform ${t}`);
});

test('withTestTimeAugmentation: an equivariant stub gives the same prediction; a biased one is averaged', async () => {
  const stub = centreCropStub([12, 12], [8, 8], 2, 4);
  const image = randomImage(new Rng(8), 21, 19, 2);
  const tta = withTestTimeAugmentation(stub);
  const r = await predict(image, tta, { batchSize: 2 });
  assert.ok(maxAbsDiff(r.probabilities!.data, image.data) < 1e-6, 'centre crop commutes with every symmetry of the square');
  assert.equal(stub.calls.length, 8 * Math.ceil(r.grid.colOrigins.length / 2) * r.grid.rowOrigins.length);
  // A model that adds its column index: under TTA the column ramp averages to its mean (outW - 1) / 2.
  const ramp: TilePredictor = {
    ...stub,
    async predictBatch(tiles, n) {
      const out = await stub.predictBatch(tiles, n);
      for (let i = 0; i < out.length; i++) out[i] = out[i]! + (Math.floor(i / 2) % 8);
      return out;
    },
  };
  const averaged = await predict(image, withTestTimeAugmentation(ramp));
  assert.ok(maxAbsDiff(averaged.probabilities!.data, image.data.map((v) => v + 3.5)) < 1e-5);
  assert.throws(() => withTestTimeAugmentation(centreCropStub([12, 16], [8, 12], 1), [5]), /only transforms 0-3/);
});
