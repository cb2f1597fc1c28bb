/**
 * Learning-rate schedules (src/train/schedule.ts): the step sizes as numbers, the optimizers
 * taking a new step size, and train() applying the schedule (step 1 at the base rate).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { setOptimizerLearningRate } from '../src/train/optimizers.js';
import { LR_SCHEDULES, POLY_EXPONENT, scheduledLearningRate } from '../src/train/schedule.js';
import { makeOptimizer, train, type OptimizerKind } from '../src/train/train.js';
import { Rng } from '../src/util/rng.js';
import { syntheticSample } from './helpers.js';

test('scheduledLearningRate: the doc examples, and poly falls monotonically from the base rate', () => {
  assert.equal(scheduledLearningRate('constant', 0.001, 500, 1000), 0.001);
  assert.equal(scheduledLearningRate('poly', 0.001, 1, 1000), 0.001);
  assert.ok(Math.abs(scheduledLearningRate('poly', 0.001, 501, 1000) - 0.001 * Math.pow(0.5, 0.9)) < 1e-15);
  assert.ok(Math.abs(scheduledLearningRate('poly', 0.001, 501, 1000) - 0.000536) < 1e-6, 'poly at mid-run: 0.5^0.9 = 0.536 of the base');
  assert.ok(Math.abs(scheduledLearningRate('poly', 0.001, 1000, 1000) - 0.001 * Math.pow(0.001, POLY_EXPONENT)) < 1e-18);
  let previous = Infinity;
  for (let step = 1; step <= 50; step++) {
    const lr = scheduledLearningRate('poly', 0.01, step, 50);
    assert.ok(lr > 0 && lr < previous, `scheduledLearningRate: poly step ${step} gives ${lr}, want in (0, ${previous})`);
    previous = lr;
  }
  assert.deepEqual(LR_SCHEDULES, ['constant', 'poly']);
});

test('scheduledLearningRate: refuses steps outside the run and unknown schedules', () => {
  assert.throws(() => scheduledLearningRate('poly', 0.001, 0, 10), /step must be an integer in \[1, 10\], got 0/);
  assert.throws(() => scheduledLearningRate('poly', 0.001, 11, 10), /step must be an integer in \[1, 10\], got 11/);
  assert.throws(() => scheduledLearningRate('poly', 0.001, 1, 0), /iterations must be a positive integer, got 0/);
  assert.throws(() => scheduledLearningRate('cosine' as never, 0.001, 1, 10), /schedule must be one of constant, poly, got cosine/);
});

for (const kind of ['sgd', 'adam'] as OptimizerKind[]) {
  test(`setOptimizerLearningRate (${kind}): the next update moves by the new step size`, async () => {
    await initBackend();
    // Momentum 0 and a first Adam step both move a weight by exactly lr * sign-or-value of g.
    const optimizer = makeOptimizer(kind, 0.5, 0);
    const v = tf.variable(tf.tensor1d([1, 1]), true, `schedule_test_${kind}`);
    setOptimizerLearningRate(optimizer, 0.25);
    optimizer.applyGradients([{ name: v.name, tensor: tf.tensor1d([2, -2]) }]);
    const got = Array.from(v.dataSync());
    // SGD: 1 - 0.25 * (+-2); Adam's first step: 1 - 0.25 * sign(g) (bias-corrected m / sqrt(v) = +-1, up to epsilon and float32 rounding).
    const want = kind === 'sgd' ? [0.5, 1.5] : [0.75, 1.25];
    got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) < 1e-5, `setOptimizerLearningRate (${kind}): weight ${i} is ${g}, want ${want[i]}`));
    assert.throws(() => setOptimizerLearningRate(optimizer, 0), /learningRate must be > 0, got 0/);
    optimizer.dispose();
    v.dispose();
  });
}

test('train(): poly trains step 1 at the base rate (one step equals the constant run bit for bit) and later steps smaller', async () => {
  await initBackend();
  const config = resolveConfig({ depth: 2, baseFilters: 4 });
  const sample = syntheticSample();
  const run = async (iterations: number, lrSchedule: 'constant' | 'poly'): Promise<{ weights: Float32Array[]; summary: Awaited<ReturnType<typeof train>> }> => {
    const model = buildUNet(config, 60);
    initializeWeights(model, new Rng(3));
    const summary = await train(model, [sample], { iterations, seed: 3, optimizer: 'adam', learningRate: 0.01, lrSchedule, validateEvery: 0 });
    const weights = model.getWeights().map((t) => (t.dataSync() as Float32Array).slice());
    model.dispose();
    return { weights, summary };
  };
  const oneConstant = await run(1, 'constant');
  const onePoly = await run(1, 'poly');
  assert.deepEqual(onePoly.weights, oneConstant.weights, 'train: poly step 1 of 1 runs at the base rate');
  assert.equal(onePoly.summary.lrSchedule, 'poly');
  assert.equal(oneConstant.summary.lrSchedule, 'constant');
  const threeConstant = await run(3, 'constant');
  const threePoly = await run(3, 'poly');
  assert.deepEqual(threePoly.summary.losses.slice(0, 2).map(Number.isFinite), [true, true]);
  assert.equal(threePoly.summary.losses[0], threeConstant.summary.losses[0], 'train: the first loss comes before any update');
  assert.notDeepEqual(threePoly.weights, threeConstant.weights, 'train: poly steps 2-3 run at smaller rates than constant ones');
});
