import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { train } from '../src/train/train.js';
import { evaluateLoss } from '../src/train/validation-metric.js';
import { cutTile, randomOutputOrigin, type TrainingSample } from '../src/train/tiles.js';
import { syntheticSample } from './helpers.js';
import { Rng } from '../src/util/rng.js';

before(async () => {
  await initBackend();
});

function pixelAccuracy(model: ReturnType<typeof buildUNet>, s: TrainingSample): number {
  // Input 76 = output 36 + 2 * margin 20: one tile covers the image, the context mirrored.
  return tf.tidy(() => {
    const x = tf.mirrorPad(tf.tensor4d(s.image.data, [1, 36, 36, 1]), [[0, 0], [20, 20], [20, 20], [0, 0]], 'reflect');
    const pred = tf.argMax(model.predict(x) as tf.Tensor, -1).dataSync();
    let ok = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === s.labels.data[i]) ok++;
    return ok / pred.length;
  });
}

test('train: a tiny U-Net overfits one synthetic image to near-perfect pixel accuracy', async () => {
  const sample = syntheticSample();
  const model = buildUNet({ depth: 2, baseFilters: 8 }, 76);
  initializeWeights(model, new Rng(1));
  const before = pixelAccuracy(model, sample);
  const progress: number[] = [];
  const summary = await train(model, [sample], { iterations: 60, seed: 1, optimizer: 'adam', learningRate: 0.01, onProgress: (p) => progress.push(p.iteration) });
  const after = pixelAccuracy(model, sample);
  assert.equal(summary.iterations, 60);
  assert.deepEqual(progress, Array.from({ length: 60 }, (_, i) => i + 1), 'onProgress is called once per step');
  assert.ok(after >= 0.98, `pixel accuracy after 60 steps is ${after} (before: ${before}); expected >= 0.98`);
  assert.ok(summary.recentLoss < summary.losses[0]! / 3, `loss fell from ${summary.losses[0]} to ${summary.recentLoss}`);
});

test('train: the same seed gives the same weights; SGD momentum runs and validation is reported', async () => {
  const sample = syntheticSample();
  const run = async (seed: number): Promise<{ weights: number[][]; val: { iteration: number; loss: number }[] }> => {
    const model = buildUNet({ depth: 2, baseFilters: 4 }, 60);
    initializeWeights(model, new Rng(seed));
    const s = await train(model, [sample], { iterations: 4, seed, validateEvery: 2, momentum: 0.99 }, [sample]);
    const weights = model.getWeights().map((t) => Array.from(t.dataSync()));
    model.dispose();
    return { weights, val: s.validation };
  };
  const a = await run(3);
  const b = await run(3);
  const c = await run(4);
  assert.deepEqual(a.weights, b.weights, 'same seed, same trained weights');
  assert.notDeepEqual(a.weights, c.weights, 'another seed, other weights');
  assert.deepEqual(a.val.map((v) => v.iteration), [2, 4]);
  assert.ok(a.val.every((v) => Number.isFinite(v.loss) && v.loss > 0));
});

test('train: no tensors leak over repeated steps', async () => {
  const sample = syntheticSample();
  const model = buildUNet({ depth: 2, baseFilters: 4 }, 60);
  initializeWeights(model, new Rng(1));
  await train(model, [sample], { iterations: 2, seed: 1 });
  const start = tf.memory().numTensors;
  await train(model, [sample], { iterations: 5, seed: 2 });
  await evaluateLoss(model, [sample]);
  assert.equal(tf.memory().numTensors, start, 'tensor count after training and evaluation');
});

test('train: rejects bad options and mismatched samples with messages naming them', async () => {
  const sample = syntheticSample();
  const model = buildUNet({ depth: 2, baseFilters: 4 }, 60);
  await assert.rejects(train(model, [sample], { iterations: 0, seed: 1 }), /iterations must be a positive integer, got 0/);
  await assert.rejects(train(model, [], { iterations: 1, seed: 1 }), /training set is empty/);
  await assert.rejects(train(model, [sample], { iterations: 1, seed: 1, learningRate: -1 }), /learningRate must be > 0, got -1/);
  const bad = { ...sample, name: 'bad.png', labels: { ...sample.labels, height: 35 } };
  await assert.rejects(train(model, [bad], { iterations: 1, seed: 1 }), /bad.png labels are 35x36, the image is 36x36/);
});

test('tile positions: random origins stay inside the image', () => {
  const rng = new Rng(9);
  for (let i = 0; i < 200; i++) {
    const [y, x] = randomOutputOrigin(rng, [512, 300], [388, 388]);
    assert.ok(y >= 0 && y <= 124 && x === 0, `origin (${y}, ${x})`);
  }
});

test('train: runs where the host has no setImmediate (a browser) and still yields to timers between steps', async () => {
  const sample = syntheticSample();
  const model = buildUNet({ depth: 2, baseFilters: 4 }, 60);
  initializeWeights(model, new Rng(1));
  const host = globalThis as { setImmediate?: unknown };
  const saved = host.setImmediate;
  delete host.setImmediate;
  try {
    const abort = new AbortController();
    let timerFired = false;
    const summary = await train(model, [sample], {
      iterations: 200,
      seed: 1,
      signal: abort.signal,
      onProgress: (p) => {
        // A timer stands in for the browser's rendering and input tasks: it must run between steps.
        if (p.iteration === 1) setTimeout(() => { timerFired = true; abort.abort(); }, 0);
      },
    });
    assert.ok(timerFired, 'train: a setTimeout(0) queued in onProgress ran before training ended');
    assert.ok(summary.stoppedEarly && summary.iterations < 200, `train: stopped early by a timer's abort, after ${summary.iterations} of 200 steps`);
  } finally {
    host.setImmediate = saved;
  }
  model.dispose();
});

test('cutTile: reads only the window of the label map (O(tile), not O(image) per tile), with mirrored labels exact', () => {
  const [H, W] = [300, 200];
  const labels = Uint8Array.from({ length: H * W }, (_, i) => (i * 7) % 3);
  let reads = 0;
  // Counts element reads, whether indexed or through an iterator (as Int32Array.from(labels) would do).
  const counted = new Proxy(labels, {
    get(target, key) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      if (key === Symbol.iterator) {
        return function* () {
          for (const v of target) {
            reads++;
            yield v;
          }
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const image = { data: new Float32Array(H * W), height: H, width: W, channels: 1 };
  const sample: TrainingSample = { name: 'big', image, labels: { data: counted, height: H, width: W, channels: 1 } };
  const geo = { input: [12, 10], output: [4, 2] } as const;
  const tile = cutTile(sample, geo, 0, 0);
  assert.ok(reads <= 12 * 10, `cutTile: read ${reads} label values for a 12x10 tile of a ${H}x${W} image; expected at most 120`);
  assert.ok(tile.labels instanceof Int32Array, 'cutTile: labels come as Int32');
  // Output origin (0, 0), margins 4 and 4: input row 0 is image row -4, mirrored to row 4.
  for (let y = 0; y < 12; y++) {
    for (let x = 0; x < 10; x++) {
      const sy = Math.abs(y - 4);
      const sx = Math.abs(x - 4);
      assert.equal(tile.labels[y * 10 + x], labels[sy * W + sx], `cutTile: label at tile (${y}, ${x}) is image (${sy}, ${sx})`);
    }
  }
});
