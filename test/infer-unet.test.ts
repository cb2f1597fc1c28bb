import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { predict } from '../src/infer/predict.js';
import { predictFile } from '../src/infer/write-outputs.js';
import { readImage } from '../src/io/image.js';
import { writePng } from '../src/io/png.js';
import type { Raster } from '../src/io/raster.js';
import { activationElements, chooseTileSize, estimateTileBytes, unetPredictor } from '../src/infer/predictor.js';
import { withTestTimeAugmentation } from '../src/infer/tta.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { marginPerSide, outputSize, validInputSizes } from '../src/model/size.js';
import { buildUNet } from '../src/model/unet.js';
import { extractWindow } from '../src/util/mirror.js';
import { Rng } from '../src/util/rng.js';
import { maxAbsDiff } from './helpers.js';

const CONFIG = resolveConfig({ depth: 2, baseFilters: 4, classes: 2, inputChannels: 1, padding: 'valid', dropout: 0 });

before(async () => {
  await initBackend();
});

function randomImage(rng: Rng, h: number, w: number): { data: Float32Array; height: number; width: number; channels: number } {
  return { data: Float32Array.from({ length: h * w }, () => rng.uniform()), height: h, width: w, channels: 1 };
}

/** The whole image in one valid pass: mirror-pad by the margin, grow to a valid size, softmax, crop to H x W. */
function wholeImagePrediction(model: ReturnType<typeof buildUNet>, image: { data: Float32Array; height: number; width: number }): Float32Array {
  const m = marginPerSide(CONFIG);
  const fit = (n: number): number => validInputSizes(CONFIG, n + 2 * m, n + 2 * m + 64).find((v) => outputSize(v, CONFIG) >= n)!;
  const [bh, bw] = [fit(image.height), fit(image.width)];
  const big = buildUNet(CONFIG, [bh, bw]);
  big.setWeights(model.getWeights());
  const input = extractWindow(image.data, image.height, image.width, 1, -m, -m, bh, bw);
  const probs = tf.tidy(() => {
    const p = tf.softmax(big.predict(tf.tensor4d(input, [1, bh, bw, 1])) as tf.Tensor4D);
    return tf.slice(p, [0, 0, 0, 0], [1, image.height, image.width, 2]);
  });
  const data = probs.dataSync() as Float32Array;
  probs.dispose();
  big.dispose();
  return data;
}

test('a small valid U-Net: tiled prediction equals the whole-image valid prediction', async (t) => {
  const model = buildUNet(CONFIG, 52); // 52 -> 12, margin 20, alignment 4
  initializeWeights(model, new Rng(11));
  const predictor = unetPredictor(model, CONFIG);
  assert.deepEqual(predictor.outputShape, [12, 12]);
  const rng = new Rng(12);
  for (const [H, W] of [[37, 50], [9, 5], [12, 12], [26, 13]] as const) {
    const image = randomImage(rng, H, W);
    const tiled = await predict(image, predictor, { batchSize: 3 });
    assert.ok(tiled.grid.tiles.length >= 1);
    const whole = wholeImagePrediction(model, image);
    const diff = maxAbsDiff(tiled.probabilities!.data, whole);
    assert.ok(diff < 1e-5, `${H}x${W}: max |tiled - whole| = ${diff}`);
    t.diagnostic(`${H}x${W}: ${tiled.grid.tiles.length} tiles, max |tiled - whole| = ${diff}`);
    // The network is not trivially constant: probabilities vary across the image.
    const p = tiled.probabilities!.data;
    assert.ok(Math.max(...p) - Math.min(...p) > 1e-3, 'predictions vary');
  }
  model.dispose();
});

test('a tile off the pooling grid would differ: the alignment matters', async () => {
  const model = buildUNet(CONFIG, 52);
  initializeWeights(model, new Rng(11));
  const predictor = unetPredictor(model, CONFIG);
  const image = randomImage(new Rng(13), 30, 30);
  const aligned = await predict(image, predictor);
  // Pretending the net were shift-equivariant per pixel puts tile origins off the 4-px grid.
  const misaligned = await predict(image, { ...predictor, alignment: 1, predictBatch: predictor.predictBatch }, { overlap: 1 });
  assert.ok(misaligned.grid.rowOrigins.some((o) => o % 4 !== 0), 'test set-up: some origin is off the grid');
  assert.ok(maxAbsDiff(aligned.probabilities!.data, misaligned.probabilities!.data) > 1e-6, 'off-grid tiles change the prediction');
  model.dispose();
});

test('unetPredictor: another tile size rebuilds the net with the same weights and gives the same prediction', async () => {
  const model = buildUNet(CONFIG, 52);
  initializeWeights(model, new Rng(21));
  const image = randomImage(new Rng(22), 40, 33);
  const small = unetPredictor(model, CONFIG);
  const large = unetPredictor(model, CONFIG, 68); // 68 -> 28
  assert.deepEqual(large.outputShape, [28, 28]);
  const a = await predict(image, small);
  const b = await predict(image, large, { batchSize: 1 });
  assert.ok(maxAbsDiff(a.probabilities!.data, b.probabilities!.data) < 1e-5);
  assert.throws(() => unetPredictor(model, CONFIG, 50), /predict: tile height 50 is not a valid U-Net input \(depth 2, valid padding\); nearest valid sizes are 48 and 52/);
  large.dispose();
  small.dispose();
  model.dispose();
});

test('repeated predictions (with TTA) leave no tensors behind', async () => {
  const model = buildUNet(CONFIG, 52);
  initializeWeights(model, new Rng(31));
  const predictor = withTestTimeAugmentation(unetPredictor(model, CONFIG));
  const image = randomImage(new Rng(32), 20, 25);
  const first = await predict(image, predictor);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const again = await predict(image, predictor);
    assert.deepEqual(again.probabilities!.data, first.probabilities!.data, 'prediction is deterministic');
  }
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('a same-padded U-Net predicts with Gaussian blending; blended probabilities stay normalised, the mask is their argmax', async () => {
  const same = resolveConfig({ ...CONFIG, padding: 'same' });
  const model = buildUNet(same, 16);
  initializeWeights(model, new Rng(41));
  const predictor = unetPredictor(model, same);
  const image = randomImage(new Rng(42), 30, 27);
  const r = await predict(image, predictor);
  assert.ok(r.grid.tiles.length > 1);
  assert.ok(r.probabilities!.data.every((v) => v >= 0 && v <= 1));
  for (let i = 0; i < r.mask!.data.length; i++) {
    const p0 = r.probabilities!.data[2 * i]!;
    const p1 = r.probabilities!.data[2 * i + 1]!;
    assert.ok(Math.abs(p0 + p1 - 1) < 1e-5, 'blended probabilities still sum to 1');
    assert.equal(r.mask!.data[i], p1 > p0 ? 1 : 0);
  }
  model.dispose();
});

test('activationElements matches the layers of the built network', () => {
  for (const cfg of [CONFIG, resolveConfig({ ...CONFIG, batchNorm: true, dropout: 0.5 }), resolveConfig({ ...CONFIG, padding: 'same', depth: 3 })]) {
    const size = cfg.padding === 'same' ? 32 : 68;
    const model = buildUNet(cfg, size);
    let sum = 0;
    for (const layer of model.layers) sum += (layer.outputShape as number[]).slice(1).reduce((a, b) => a * b, 1);
    sum += outputSize(size, cfg) ** 2 * cfg.classes; // the softmax applied on top
    assert.equal(activationElements(cfg, size), sum, `${cfg.padding}, batch norm ${cfg.batchNorm}`);
    model.dispose();
  }
});

test('chooseTileSize: the largest valid tile within the budget, no larger than the image needs', () => {
  const paper = resolveConfig({});
  const tile = chooseTileSize(paper, 2 ** 30);
  assert.ok(estimateTileBytes(paper, tile) <= 2 ** 30);
  const next = validInputSizes(paper, tile + 1, tile + 16)[0]!;
  assert.ok(estimateTileBytes(paper, next) > 2 ** 30, 'the next valid size would not fit');
  assert.equal(chooseTileSize(paper, 2 ** 40, { imageSize: [100, 300] }), 492, '492 -> 308 is the smallest output covering 300 px');
  assert.throws(() => chooseTileSize(paper, 2 ** 20), /even the smallest valid tile \(188\) needs .* MiB/);
});

test('a depth-4 valid U-Net predicts tiny images (side <= 4 px) with one mirrored tile; several tiles that cannot align name the file', async () => {
  const config = resolveConfig({ depth: 4, baseFilters: 2, classes: 2, inputChannels: 1, padding: 'valid', dropout: 0 });
  const model = buildUNet(config, 188); // 188 -> 4, margin 92, alignment 16
  initializeWeights(model, new Rng(3));
  const predictor = unetPredictor(model, config);
  assert.deepEqual(predictor.outputShape, [4, 4]);
  const rng = new Rng(4);
  for (const [H, W] of [[1, 1], [3, 4], [4, 4], [2, 3]] as const) {
    const image = randomImage(rng, H, W);
    const r = await predict(image, predictor);
    assert.equal(r.grid.tiles.length, 1, `predict ${H}x${W}: one tile`);
    assert.equal(r.mask!.data.length, H * W, `predict ${H}x${W}: mask size`);
    const p = r.probabilities!.data;
    for (let i = 0; i < H * W; i++) assert.ok(Math.abs(p[2 * i]! + p[2 * i + 1]! - 1) < 1e-5, `predict ${H}x${W}: probabilities sum to 1 at pixel ${i}`);
  }
  // A 9 x 3 image needs three 4 px tiles down, which cannot sit on the 16 px grid.
  await assert.rejects(predict(randomImage(rng, 9, 3), predictor, { source: 'tiny/cells.png' }), /predict for tiny\/cells\.png: the image height 9 px needs several tiles, but output tiles of 4 px are smaller than the model's alignment 16; choose a larger tile/);
  // From files: a 3 x 3 PNG is segmented; the refusal for a 9 x 3 PNG names the file.
  const dir = await mkdtemp(join(tmpdir(), 'unet-tiny-'));
  try {
    const png = (h: number, w: number): Raster<Uint8Array> => ({ data: Uint8Array.from({ length: h * w }, (_, i) => (i * 37) % 256), height: h, width: w, channels: 1 });
    await writePng(join(dir, 'three.png'), png(3, 3));
    await writePng(join(dir, 'tall.png'), png(9, 3));
    const options = { outDir: join(dir, 'out'), outputs: ['mask'] as const, normalization: { kind: 'dtype' } as const, classNames: ['background', 'cell'] };
    const ok = await predictFile(join(dir, 'three.png'), predictor, options);
    assert.deepEqual(ok.written, [join(dir, 'out', 'three_mask.png')], 'predictFile: a 3x3 PNG gets its mask');
    const mask = (await readImage(ok.written[0]!))[0]!;
    assert.deepEqual([mask.height, mask.width], [3, 3], 'predictFile: the mask is 3x3');
    await assert.rejects(predictFile(join(dir, 'tall.png'), predictor, options), /predict for .*tall\.png: the image height 9 px needs several tiles/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  predictor.dispose?.();
  model.dispose();
});
