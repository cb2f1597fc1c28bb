import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { fanIn, initializeWeights, countParameters } from '../src/model/init.js';
import { buildUNet, configOfModel, DEFAULT_BUILD, modelInputShape, withInputSize } from '../src/model/unet.js';
import { resolveConfig } from '../src/model/config.js';
import { Rng } from '../src/util/rng.js';
import { assertClose } from './helpers.js';

before(async () => {
  await initBackend();
});

/**
 * Parameters of the U-Net counted by hand from the layer list of Fig. 1:
 * a k x k conv from cin to cout has k*k*cin*cout weights + cout biases.
 */
function handCount(depth: number, base: number, classes: number, inChannels: number): number {
  const conv = (k: number, cin: number, cout: number): number => k * k * cin * cout + cout;
  const c = (level: number): number => base * 2 ** level;
  let n = 0;
  let cin = inChannels;
  for (let l = 0; l <= depth; l++) {
    n += conv(3, cin, c(l)) + conv(3, c(l), c(l)); // two 3x3 convs per level (l = depth: the bottom)
    cin = c(l);
  }
  for (let l = depth - 1; l >= 0; l--) {
    n += conv(2, c(l + 1), c(l)); // 2x2 up-convolution halving the channels
    n += conv(3, 2 * c(l), c(l)) + conv(3, c(l), c(l)); // after concatenation with the skip map
  }
  return n + conv(1, base, classes); // final 1x1 conv
}

test('buildUNet: the paper net maps 572x572 to 388x388 with 23 conv layers', () => {
  const model = buildUNet({}, 572, { init: 'zeros' }); // shapes and counts only: skip drawing 31M weights
  assert.deepEqual(model.outputs[0]!.shape, [null, 388, 388, 2]);
  const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D' || l.getClassName() === 'Conv2DTranspose');
  assert.equal(convs.length, 23, 'Fig. 1: "In total the network has 23 convolutional layers"');
  assert.equal(countParameters(model), handCount(4, 64, 2, 1));
  assert.equal(countParameters(model), 31_030_658);
  model.dispose();
});

test('buildUNet: options change the architecture as configured', () => {
  const small = buildUNet({ depth: 2, baseFilters: 8, classes: 3, inputChannels: 3 }, 60);
  assert.deepEqual(small.outputs[0]!.shape, [null, 20, 20, 3]);
  assert.equal(countParameters(small), handCount(2, 8, 3, 3));
  const same = buildUNet({ depth: 3, baseFilters: 4, padding: 'same' }, 64);
  assert.deepEqual(same.outputs[0]!.shape, [null, 64, 64, 2], "'same' padding keeps the size");
  const bn = buildUNet({ depth: 2, baseFilters: 4, batchNorm: true }, 60);
  assert.ok(bn.layers.some((l) => l.getClassName() === 'BatchNormalization'));
  const convBn = bn.layers.find((l) => l.name === 'enc0_conv1')!;
  assert.equal(convBn.getWeights().length, 1, 'a conv followed by batch norm has no bias');
  const noDrop = buildUNet({ depth: 2, baseFilters: 4, dropout: 0 }, 60);
  assert.ok(!noDrop.layers.some((l) => l.getClassName() === 'UNetSeededDropout'));
  for (const m of [small, same, bn, noDrop]) m.dispose();
});

test('configOfModel reads back the config a U-Net was built from', () => {
  for (const c of [
    { depth: 2, baseFilters: 4 },
    { depth: 3, baseFilters: 8, classes: 3, inputChannels: 3, padding: 'same', batchNorm: true, dropout: 0 },
    { depth: 1, baseFilters: 2, dropout: 0.25, classes: 5 },
  ] as const) {
    const want = resolveConfig(c);
    const model = buildUNet(want, want.padding === 'same' ? 32 : 44);
    assert.deepEqual(configOfModel(model), want, `configOfModel of ${JSON.stringify(c)}`);
    model.dispose();
  }
});

test('buildUNet: rejects invalid tiles and configs with helpful messages', () => {
  assert.throws(() => buildUNet({}, 570), /buildUNet: input height 570 is not a valid U-Net input .* nearest valid sizes are 556 and 572/);
  assert.throws(() => buildUNet({ depth: 2 }, [60, 61]), /input width 61/);
  assert.throws(() => resolveConfig({ inputChannels: 2 }), /inputChannels must be 1 or 3, got 2/);
  assert.throws(() => resolveConfig({ dropout: 1 }), /dropout must be in \[0, 1\), got 1/);
  assert.throws(() => resolveConfig({ classes: 1 }), /classes must be an integer in \[2, 1024\], got 1/);
});

test('initializeWeights: Gaussian with std sqrt(2/N), zero biases, reproducible from the seed (Sec. 3)', () => {
  assert.equal(fanIn('conv2d', [3, 3, 64, 128]), 576);
  assert.equal(fanIn('conv2dTranspose', [2, 2, 512, 1024]), 1024);
  const a = buildUNet({ depth: 2, baseFilters: 16 }, 60);
  const b = buildUNet({ depth: 2, baseFilters: 16 }, 60);
  initializeWeights(a, new Rng(5));
  initializeWeights(b, new Rng(5));
  const layer = a.layers.find((l) => l.name === 'dec0_conv1')!; // 3x3, 32 -> 16: N = 288
  const [kernel, bias] = layer.getWeights();
  const k = Array.from(kernel!.dataSync());
  const mean = k.reduce((s, v) => s + v, 0) / k.length;
  const std = Math.sqrt(k.reduce((s, v) => s + (v - mean) ** 2, 0) / k.length);
  assertClose(mean, 0, 0.01, 'initializeWeights: kernel mean');
  assertClose(std, Math.sqrt(2 / 288), 0.05 * Math.sqrt(2 / 288), 'initializeWeights: kernel std for N = 288');
  assert.ok(bias!.dataSync().every((v) => v === 0), 'initializeWeights: biases are zero');
  const wa = a.getWeights().map((t) => Array.from(t.dataSync()));
  const wb = b.getWeights().map((t) => Array.from(t.dataSync()));
  assert.deepEqual(wa, wb, 'initializeWeights: same seed, same weights');
  a.dispose();
  b.dispose();
});

test('buildUNet: weights are seeded He-initialised by default, so a model never used with initializeWeights predicts non-constant values', () => {
  const config = { depth: 2, baseFilters: 4, dropout: 0 };
  const plain = buildUNet(config, 60);
  const seeded = buildUNet(config, 60, { seed: DEFAULT_BUILD.seed });
  const explicit = buildUNet(config, 60, { init: 'zeros' });
  initializeWeights(explicit, new Rng(DEFAULT_BUILD.seed));
  const weights = (m: ReturnType<typeof buildUNet>): number[][] => m.getWeights().map((t) => Array.from(t.dataSync()));
  for (const layer of plain.layers.filter((l) => l.getClassName().startsWith('Conv2D'))) {
    assert.ok(layer.getWeights()[0]!.dataSync().some((v) => v !== 0), `buildUNet: ${layer.name} kernel is not all zero`);
  }
  assert.deepEqual(weights(plain), weights(seeded), `buildUNet: the default seed is ${DEFAULT_BUILD.seed}`);
  assert.deepEqual(weights(plain), weights(explicit), 'buildUNet: the default init is initializeWeights(model, new Rng(seed))');
  const other = buildUNet(config, 60, { seed: 1 });
  assert.notDeepEqual(weights(other), weights(plain), 'buildUNet: another seed, other weights');
  const p = tf.tidy(() => tf.softmax(plain.predict(tf.randomUniform([1, 60, 60, 1], 0, 1, 'float32', 3)) as tf.Tensor).dataSync());
  assert.ok(Math.max(...p) - Math.min(...p) > 1e-3, `buildUNet: probabilities vary (${Math.min(...p)}..${Math.max(...p)}), not a constant 0.5`);
  const zeros = buildUNet(config, 60, { init: 'zeros' });
  assert.ok(zeros.getWeights().every((t) => t.dataSync().every((v) => v === 0 || v === 1)), "buildUNet: init 'zeros' leaves kernels at zero");
  assert.throws(() => buildUNet(config, 60, { seed: 1.5 }), /buildUNet: seed must be an integer, got 1\.5/);
  for (const m of [plain, seeded, explicit, other, zeros]) m.dispose();
});

test('withInputSize: the same weights give the same prediction on the overlapping output', () => {
  const model = buildUNet({ depth: 2, baseFilters: 4 }, 60);
  initializeWeights(model, new Rng(2));
  const bigger = withInputSize(model, { depth: 2, baseFilters: 4 }, 76);
  assert.deepEqual(modelInputShape(bigger), [76, 76]);
  const x = tf.randomUniform([1, 76, 76, 1], 0, 1, 'float32', 3);
  const yBig = bigger.predict(x) as tf.Tensor; // 36 x 36
  const ySmall = model.predict(tf.slice(x, [0, 0, 0, 0], [1, 60, 60, 1])) as tf.Tensor; // 20 x 20, top-left
  const diff = tf.max(tf.abs(tf.sub(tf.slice(yBig, [0, 0, 0, 0], [1, 20, 20, 2]), ySmall))).dataSync()[0]!;
  assert.ok(diff < 1e-5, `withInputSize: outputs differ by ${diff}`);
});
