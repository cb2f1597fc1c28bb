import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  augmentTile,
  cubicKernel,
  drawGeometry,
  drawGridDisplacements,
  geometricMap,
  grayValueVariation,
  identityMap,
  interpolateDisplacements,
  makeAugmenter,
  randomElasticField,
  resample,
} from '../src/augment/index.js';
import type { Tile, TrainingSample } from '../src/train/tiles.js';
import { reflectIndex } from '../src/util/mirror.js';
import { Rng } from '../src/util/rng.js';
import { assertClose, maxAbsDiff } from './helpers.js';

const H = 40;
const W = 36;

function randomTile(seed: number, channels = 1): Tile {
  const rng = new Rng(seed);
  const image = Float32Array.from({ length: H * W * channels }, () => rng.uniform());
  // Blocky label map with values {0, 3, 7}.
  const labels = new Int32Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) labels[y * W + x] = [0, 3, 7][(Math.floor(y / 7) + Math.floor(x / 9)) % 3]!;
  const weights = Float32Array.from({ length: H * W }, () => 1 + rng.uniform() * 9);
  return { image, labels, weights };
}

const NO_AUGMENT = { elastic: { std: 0 }, rotation: 0, shift: 0, flips: false, brightness: 0, contrast: 0, gamma: 0, noise: 0 } as const;

/** A tile as a whole training sample (the augmenter hook reads samples). */
function asSample(tile: Tile, h = H, w = W, channels = 1): TrainingSample {
  return {
    name: 'tile',
    image: { data: tile.image, height: h, width: w, channels },
    labels: { data: tile.labels, height: h, width: w, channels: 1 },
    weights: { data: tile.weights, height: h, width: w, channels: 1 },
  };
}

test('cubicKernel: doc values', () => {
  assert.equal(cubicKernel(0), 1);
  assert.equal(cubicKernel(1), 0);
  assert.equal(cubicKernel(2), 0);
  assert.equal(cubicKernel(0.5), 0.5625);
});

test('elastic deformation with zero displacement is the identity', () => {
  const zero = interpolateDisplacements({ gridSize: 3, values: new Float64Array(18) }, H, W);
  assert.ok(zero.dx.every((v) => v === 0) && zero.dy.every((v) => v === 0));
  const map = geometricMap(H, W, { angle: 0, shiftY: 0, shiftX: 0, flipY: false, flipX: false }, zero);
  assert.deepEqual(map, identityMap(H, W));
  const tile = randomTile(1, 3);
  for (const interp of ['cubic', 'linear', 'nearest'] as const) {
    assert.deepEqual(resample(tile.image, H, W, 3, map, interp), tile.image, `${interp} resampling at integer positions`);
  }
  const out = augmentTile(tile, H, W, 3, new Rng(9), NO_AUGMENT);
  assert.deepEqual(out.image, tile.image);
  assert.deepEqual(out.labels, tile.labels);
  assert.deepEqual(out.weights, tile.weights);
});

test('interpolated field passes through the grid nodes; a constant grid gives a constant field', () => {
  const grid = drawGridDisplacements(new Rng(4), { gridSize: 3, std: 10 });
  const f = interpolateDisplacements(grid, 21, 31); // nodes at y = 0, 10, 20 and x = 0, 15, 30
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const p = i * 10 * 31 + j * 15;
      assertClose(f.dy[p]!, grid.values[(i * 3 + j) * 2]!, 1e-4, `dy at node (${i}, ${j})`);
      assertClose(f.dx[p]!, grid.values[(i * 3 + j) * 2 + 1]!, 1e-4, `dx at node (${i}, ${j})`);
    }
  }
  const c = interpolateDisplacements({ gridSize: 3, values: new Float64Array(18).fill(2) }, 5, 5);
  assert.ok(maxAbsDiff(c.dx, new Float32Array(25).fill(2)) < 1e-6);
});

test('displacement statistics match the requested std', () => {
  for (const std of [10, 3]) {
    const rng = new Rng(std);
    let s = 0;
    let q = 0;
    let n = 0;
    for (let k = 0; k < 1500; k++) {
      const f = interpolateDisplacements(drawGridDisplacements(rng, { gridSize: 3, std }), 21, 21);
      for (const p of [0, 10, 20, 210, 220, 230, 420, 430, 440]) {
        for (const v of [f.dy[p]!, f.dx[p]!]) { s += v; q += v * v; n++; }
      }
    }
    const mean = s / n;
    const sd = Math.sqrt(q / n - mean * mean);
    assertClose(mean, 0, 0.05 * std, `mean displacement (std ${std})`);
    assertClose(sd, std, 0.03 * std, `displacement std at the grid nodes (std ${std})`);
  }
});

test('deformation keeps the label set (nearest neighbour) and is reproducible from the seed', () => {
  const tile = randomTile(2);
  const opts = { elastic: { gridSize: 3, std: 10 } };
  const a = augmentTile(tile, H, W, 1, new Rng(42), opts);
  const b = augmentTile(tile, H, W, 1, new Rng(42), opts);
  const c = augmentTile(tile, H, W, 1, new Rng(43), opts);
  assert.deepEqual(a, b, 'same seed, same tile');
  assert.notDeepEqual(a.labels, c.labels, 'another seed gives another deformation');
  assert.notDeepEqual(a.labels, tile.labels, 'the deformation moved something');
  const allowed = new Set(tile.labels);
  for (const v of a.labels) assert.ok(allowed.has(v), `label value ${v} is not in the input set`);
  // Weights stay within the input range (linear interpolation is a convex combination).
  const wmin = Math.min(...tile.weights);
  const wmax = Math.max(...tile.weights);
  assert.ok(a.weights.every((v) => v >= wmin - 1e-5 && v <= wmax + 1e-5));
});

test('image, labels and weights move together: where the 4 source neighbours share a label, all three take it exactly', () => {
  // Three different encodings of one blocky label map: image = label / 7, weight = 2 label + 1.
  // They are resampled separately (labels nearest, image and weights linear); the sampling map
  // is rebuilt from the same seed, so any misalignment between the three shows at the pixels
  // whose source lies inside one label block.
  const labels = randomTile(3).labels;
  const tile: Tile = { image: Float32Array.from(labels, (l) => l / 7), labels, weights: Float32Array.from(labels, (l) => 2 * l + 1) };
  const opts = { ...NO_AUGMENT, elastic: { std: 10 }, rotation: 180, flips: true, interpolation: 'linear' as const };
  const out = augmentTile(tile, H, W, 1, new Rng(5), opts);
  const rng = new Rng(5);
  const draw = drawGeometry(rng, opts);
  const map = geometricMap(H, W, draw, randomElasticField(rng, H, W, opts.elastic));
  let checked = 0;
  for (let i = 0; i < H * W; i++) {
    const sy = map.sy[i]!;
    const sx = map.sx[i]!;
    // The four source neighbours, mirrored at the border as resample does.
    const [y0, x0] = [Math.floor(sy), Math.floor(sx)];
    const ys = [reflectIndex(y0, H), reflectIndex(y0 + 1, H)];
    const xs = [reflectIndex(x0, W), reflectIndex(x0 + 1, W)];
    const label = labels[ys[0]! * W + xs[0]!]!;
    if (!ys.every((y) => xs.every((x) => labels[y * W + x] === label))) continue;
    checked++;
    const at = `pixel (${Math.floor(i / W)}, ${i % W}) from source (${sy.toFixed(2)}, ${sx.toFixed(2)}), label ${label}`;
    assert.equal(out.labels[i], label, `augmentTile: label at ${at}`);
    assertClose(out.image[i]!, label / 7, 1e-5, `augmentTile: image at ${at}`);
    assertClose(out.weights[i]!, 2 * label + 1, 1e-4, `augmentTile: weight at ${at}`);
  }
  assert.ok(checked > 0.5 * H * W, `augmentTile: ${checked} of ${H * W} pixels have a source inside one label block (expected most)`);
  assert.notDeepEqual(out.labels, labels, 'augmentTile: the deformation moved the labels');
});

test('rotation by 180 degrees equals flipping both axes', () => {
  const rot = geometricMap(H, W, { angle: Math.PI, shiftY: 0, shiftX: 0, flipY: false, flipX: false });
  const flip = geometricMap(H, W, { angle: 0, shiftY: 0, shiftX: 0, flipY: true, flipX: true });
  assert.ok(maxAbsDiff(rot.sy, flip.sy) < 1e-4 && maxAbsDiff(rot.sx, flip.sx) < 1e-4);
});

test('resample: doc example (linear, mirrored border)', () => {
  const out = resample(Float32Array.of(1, 2, 3), 1, 3, 1, { height: 1, width: 3, sy: Float32Array.of(0, 0, 0), sx: Float32Array.of(0.5, 1, -1) }, 'linear');
  assert.deepEqual([...out], [1.5, 2, 2]);
});

test('grayValueVariation: brightness alone adds one offset; noise has the requested std', () => {
  const img = Float32Array.from({ length: 1000 }, (_, i) => (i % 10) / 10);
  const b = grayValueVariation(Float32Array.from(img), new Rng(1), { brightness: 0.2, contrast: 0, gamma: 0, noise: 0 });
  const offset = b[0]! - img[0]!;
  assert.ok(Math.abs(offset) <= 0.2 && offset !== 0);
  for (let i = 0; i < img.length; i++) assertClose(b[i]! - img[i]!, offset, 1e-6, `offset at ${i}`);
  const n = grayValueVariation(new Float32Array(20000), new Rng(2), { brightness: 0, contrast: 0, gamma: 0, noise: 0.05 });
  const sd = Math.sqrt(n.reduce((a, v) => a + v * v, 0) / n.length);
  assertClose(sd, 0.05, 0.002, 'noise std');
});

test('makeAugmenter validates its options and fits the TrainOptions hook', () => {
  assert.throws(() => makeAugmenter({ rotation: -1 }), /makeAugmenter: rotation must be a finite number >= 0, got -1/);
  assert.throws(() => makeAugmenter({ elastic: { gridSize: 1 } })(asSample(randomTile(1)), { input: [H, W], output: [H, W] }, 0, 0, 1, new Rng(1)), /gridSize must be an integer >= 2, got 1/);
  const aug = makeAugmenter();
  const out = aug(asSample(randomTile(1)), { input: [H, W], output: [H - 8, W - 8] }, 4, 4, 1, new Rng(1));
  assert.equal(out.image.length, H * W);
});

test('augmentation never produces non-finite pixels (default options, many draws)', () => {
  // Regression: gamma on values a float32 rounding below the float64 minimum gave NaN
  // in about half of the tiles, and training silently learned a constant.
  const rng = new Rng(2024);
  const aug = makeAugmenter();
  const h = 60;
  const w = 60;
  for (let k = 0; k < 60; k++) {
    const image = Float32Array.from({ length: h * w }, () => rng.uniform());
    const tile = { image, labels: new Int32Array(h * w), weights: new Float32Array(h * w).fill(1) };
    const out = aug(asSample(tile, h, w), { input: [h, w], output: [20, 20] }, 20, 20, 1, rng);
    const bad = out.image.findIndex((v) => !Number.isFinite(v));
    assert.equal(bad, -1, `makeAugmenter: draw ${k} gave ${out.image[bad]} at pixel ${bad}`);
  }
});

test('training windows read the real pixels around them under rotation, and mirror only outside the image', () => {
  // Labels encode their own position (index y * 64 + x) in a 64 x 64 image, so every output
  // pixel of the window says exactly which source pixel it came from.
  const size = 64;
  const coords = Int32Array.from({ length: size * size }, (_, i) => i);
  const sample = asSample({ image: Float32Array.from(coords), labels: coords, weights: new Float32Array(size * size).fill(1) }, size, size);
  const geometry = { input: [20, 20], output: [12, 12] } as const;
  const options = { ...NO_AUGMENT, elastic: false, rotation: 45 } as const;
  const aug = makeAugmenter(options);
  for (const [outTop, outLeft, inside] of [[26, 26, true], [-2, 3, false]] as const) {
    const top = outTop - 4;
    const left = outLeft - 4;
    const out = aug(sample, geometry, outTop, outLeft, 1, new Rng(15));
    // The same draw, recomputed: the rotation about the window centre, in image coordinates.
    const draw = drawGeometry(new Rng(15), options);
    assert.ok(Math.abs(draw.angle) > (30 * Math.PI) / 180, `seed 15 draws a rotation of ${(draw.angle * 180) / Math.PI} degrees; the test needs a large one`);
    const map = geometricMap(20, 20, draw);
    let outsideSources = 0;
    for (let i = 0; i < 400; i++) {
      const sy = Math.round(map.sy[i]! + top);
      const sx = Math.round(map.sx[i]! + left);
      if (sy < 0 || sy >= size || sx < 0 || sx >= size) outsideSources++;
      const want = (reflectIndex(sy, size) * size + reflectIndex(sx, size)) | 0;
      assert.equal(out.labels[i], want, `window at output (${outTop}, ${outLeft}), pixel ${i}: came from ${out.labels[i]}, expected source (${sy}, ${sx}) -> ${want}`);
    }
    if (inside) {
      assert.equal(outsideSources, 0, 'a window in the middle of the image needs no mirroring');
      // A tile-local augmentation mirrors its corners instead of reading the image around it.
      const tile = { image: Float32Array.from(out.labels), labels: Int32Array.from({ length: 400 }, (_, i) => (top + Math.floor(i / 20)) * size + left + (i % 20)), weights: new Float32Array(400).fill(1) };
      const local = augmentTile(tile, 20, 20, 1, new Rng(15), options);
      const differ = out.labels.filter((v, i) => v !== local.labels[i]).length;
      assert.ok(differ > 20, `the old tile-local rotation should differ in its mirrored corners, ${differ} pixels differ`);
    } else {
      assert.ok(outsideSources > 0, 'a window over the top border reaches outside the image, where it is mirrored');
    }
  }
});
