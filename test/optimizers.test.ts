/**
 * The in-place optimizers (src/train/optimizers.ts) against TF.js' own: bit-identical
 * weights and slots after several steps, on every CPU-side backend; the tensor path
 * when a variable's storage is shared; slot names and setWeights() compatibility.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { oneDnnLoadError, registerOneDnnBackend } from '../src/backend/onednn.js';
import { skipUnless } from './helpers.js';
import { InPlaceAdamOptimizer, InPlaceMomentumOptimizer } from '../src/train/optimizers.js';
import { Rng } from '../src/util/rng.js';

// Both variants are always registered: without the addon the 'onednn' ones are skipped with the reason.
const native = registerOneDnnBackend();
const backends = ['cpu', 'onednn'] as const;
const shapes = [[3, 3, 2, 5], [5], [1, 1, 5, 2], [2]];

type Kind = 'sgd' | 'adam';
function make(kind: Kind, ours: boolean): tf.Optimizer {
  if (kind === 'sgd') return ours ? new InPlaceMomentumOptimizer(0.01, 0.99) : tf.train.momentum(0.01, 0.99);
  return ours ? new InPlaceAdamOptimizer(0.003, 0.9, 0.999) : tf.train.adam(0.003);
}

/** Runs `steps` updates with seeded gradients; returns final weights and slots as arrays. */
async function run(kind: Kind, ours: boolean, steps: number, holdClone = false): Promise<{ weights: Float32Array[]; slots: Float32Array[]; cloneUnchanged: boolean }> {
  const rng = new Rng(7);
  const vars = shapes.map((s, i) => tf.variable(tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b) }, () => rng.normal(0, 1)), s), true, `opt_test_${kind}_${ours}_${holdClone}_${i}`));
  const clone = holdClone ? tf.clone(vars[0]!) : null;
  const before = clone ? (clone.dataSync() as Float32Array).slice() : null;
  const opt = make(kind, ours);
  for (let s = 0; s < steps; s++) {
    // The last variable's gradients are denormal floats: slots must keep IEEE semantics (no flush to zero).
    const grads = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(Float32Array.from({ length: v.size }, () => rng.normal(0, 0.5) * (i === 3 ? 1e-39 : 1)), v.shape) }));
    opt.applyGradients(grads);
    for (const g of grads) g.tensor.dispose();
  }
  const weights = vars.map((v) => (v.dataSync() as Float32Array).slice());
  const slotTensors = await opt.getWeights();
  const slots = slotTensors.map((w) => (w.tensor.dataSync() as Float32Array).slice());
  const cloneUnchanged = clone ? (clone.dataSync() as Float32Array).every((v, i) => v === before![i]) : true;
  for (const w of slotTensors) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  clone?.dispose();
  opt.dispose();
  for (const v of vars) v.dispose();
  return { weights, slots, cloneUnchanged };
}

function assertBitEqual(what: string, got: Float32Array[], want: Float32Array[]): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} arrays, want ${want.length}`);
  got.forEach((g, i) => {
    const bad = g.findIndex((v, k) => !Object.is(v, want[i]![k]));
    assert.equal(bad, -1, `${what}: array ${i} differs at ${bad}: ${g[bad]} vs ${want[i]![bad]}`);
  });
}

for (const backend of backends) {
  const skip = backend === 'onednn' ? skipUnless(native ? false : `oneDNN addon not built (${oneDnnLoadError()}): the '${backend}' variant cannot run`) : false;
  describe(`in-place optimizers on '${backend}'`, () => {
    for (const kind of ['sgd', 'adam'] as const) {
      test(`${kind}: bit-identical to TF.js' optimizer over 5 steps`, { skip }, async () => {
        await tf.setBackend(backend);
        const want = await run(kind, false, 5);
        const got = await run(kind, true, 5);
        assertBitEqual(`${kind} weights`, got.weights, want.weights);
        assertBitEqual(`${kind} slots`, got.slots, want.slots);
      });

      test(`${kind}: a variable whose storage is shared takes the tensor path and leaves the other tensor alone`, { skip }, async () => {
        await tf.setBackend(backend);
        const want = await run(kind, false, 3);
        const got = await run(kind, true, 3, true);
        assert.ok(got.cloneUnchanged, `${kind}: a clone of a variable changed when the variable was updated`);
        assertBitEqual(`${kind} weights (shared storage)`, got.weights, want.weights);
      });
    }

    test('no tensors leak over repeated steps', { skip }, async () => {
      await tf.setBackend(backend);
      for (const kind of ['sgd', 'adam'] as const) {
        const v = tf.variable(tf.ones([4, 3]), true, `opt_leak_${backend}_${kind}`);
        const opt = make(kind, true);
        const stepOnce = (): void => {
          const g = tf.fill([4, 3], 0.5);
          opt.applyGradients([{ name: v.name, tensor: g }]);
          g.dispose();
        };
        stepOnce();
        const n0 = tf.memory().numTensors;
        for (let i = 0; i < 4; i++) stepOnce();
        assert.equal(tf.memory().numTensors, n0, `${kind}: ${tf.memory().numTensors - n0} tensors leaked over 4 steps`);
        opt.dispose();
        v.dispose();
      }
    });
  });
}

test('slots keep TF.js names, so checkpoints restore into either optimizer', async () => {
  await tf.setBackend('cpu');
  const v = tf.variable(tf.tensor1d([1, 2, 3]), true, 'opt_names_w');
  const ours = new InPlaceMomentumOptimizer(0.1, 0.9);
  const g = tf.tensor1d([1, 1, 1]);
  ours.applyGradients([{ name: v.name, tensor: g }]);
  const saved = await ours.getWeights();
  assert.deepEqual(saved.map((w) => w.name), ['iter', 'opt_names_w/momentum']);
  const theirs = tf.train.momentum(0.1, 0.9);
  await theirs.setWeights(saved);
  const restored = await theirs.getWeights();
  assert.deepEqual([...restored[1]!.tensor.dataSync()], [1, 1, 1], 'momentum slot restored into tf.train.momentum');
  for (const t of [g, v]) t.dispose();
  ours.dispose();
  theirs.dispose();
});
