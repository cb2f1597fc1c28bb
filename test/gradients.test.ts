import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { weightedSoftmaxCrossEntropy } from '../src/loss/cross-entropy.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { Rng } from '../src/util/rng.js';

before(async () => {
  await initBackend();
});

test('gradients of the weighted loss agree with central finite differences on a tiny U-Net', () => {
  // depth 1, 3 filters, 20x20 input -> 4x4 output; dropout off so the loss is a function of the weights.
  const model = buildUNet({ depth: 1, baseFilters: 3, dropout: 0 }, 20);
  initializeWeights(model, new Rng(11));
  const rng = new Rng(12);
  const x = tf.tensor4d(Float32Array.from({ length: 400 }, () => rng.uniform()), [1, 20, 20, 1]);
  const y = tf.tensor3d(Int32Array.from({ length: 400 }, () => rng.int(0, 1)), [1, 20, 20], 'int32');
  const w = tf.tensor3d(Float32Array.from({ length: 400 }, () => 0.5 + 10 * rng.uniform()), [1, 20, 20]);
  const lossOf = (): tf.Scalar => weightedSoftmaxCrossEntropy(model.apply(x, { training: true }) as tf.Tensor4D, y, w);

  const vars = model.trainableWeights.map((lw) => lw.read() as tf.Variable);
  const { grads } = tf.variableGrads(lossOf, vars);
  // Small enough that no ReLU or max-pool switches inside [-eps, eps] (1e-2 did on this net),
  // large enough that float32 rounding of the loss (~1e-7) stays far below the tolerance.
  const eps = 1e-3;
  let checked = 0;
  let kinks = 0;
  for (const v of vars) {
    const g = grads[v.name]!.dataSync();
    const values = v.dataSync().slice();
    // Three entries per variable, chosen by the seeded generator.
    for (let k = 0; k < 3; k++) {
      const i = rng.int(0, values.length - 1);
      const at = (delta: number): number => {
        const moved = values.slice();
        moved[i] = values[i]! + delta;
        v.assign(tf.tensor(moved, v.shape));
        return tf.tidy(() => lossOf().dataSync()[0]!);
      };
      const [plus, zero, minus] = [at(eps), at(0), at(-eps)];
      v.assign(tf.tensor(values, v.shape));
      const right = (plus - zero) / eps;
      const left = (zero - minus) / eps;
      const numeric = (plus - minus) / (2 * eps);
      const analytic = g[i]!;
      const tol = 3e-4 + 0.02 * Math.max(Math.abs(numeric), Math.abs(analytic));
      // ReLU and max-pool make the loss piecewise smooth; where a switch lies inside
      // [-eps, eps] the one-sided slopes disagree and no derivative exists to compare.
      if (Math.abs(right - left) > 4 * tol) {
        kinks++;
        continue;
      }
      assert.ok(Math.abs(numeric - analytic) <= tol, `gradient of ${v.name}[${i}]: analytic ${analytic}, finite difference ${numeric}`);
      checked++;
    }
  }
  assert.ok(kinks <= 0.1 * (checked + kinks), `${kinks} of ${checked + kinks} entries sat on a kink; expected at most 10%`);
  assert.ok(checked >= 40, `compared ${checked} entries`);
});
