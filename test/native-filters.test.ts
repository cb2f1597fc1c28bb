/**
 * Convolution weights held natively between training steps on 'onednn' (src/backend/onednn.ts
 * filterHandlesForUpdate, src/train/optimizers.ts): the filter gradient stays in the primitive's
 * layout, the in-place optimizers update weights and slots there, and the next forward reads them
 * without a reorder. Checked here: the same bits as the HWIO path step by step (weights, slots,
 * losses), with reads between steps (a read materialises HWIO values, which the next update must
 * not leave stale), fewer reorders per step, no native memory left after disposal; and the addon
 * functions underneath (toHWIO / fromHWIO round trips through padded blocked layouts, updates on
 * handles equal to updates on arrays, refusals naming the argument).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { oneDnnLoadError, registerOneDnnBackend, type OneDnnBackend } from '../src/backend/onednn.js';
import { setDropoutSeedSource } from '../src/model/dropout.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { disposeOptimizer, makeOptimizer, tileGeometry, trainStep } from '../src/train/train.js';
import { Rng } from '../src/util/rng.js';
import { skipUnless } from './helpers.js';

const native = registerOneDnnBackend();
const skip = skipUnless(native ? false : `the oneDNN addon (${oneDnnLoadError()})`);

interface Run {
  losses: number[];
  /** After each step: every weight, then every optimizer slot, as arrays. */
  states: Float32Array[][];
  reordersPerStep: number;
  nativeFilterWeights: number;
}

/** `steps` training steps of a small U-Net on one seeded tile, reading weights and slots after each. */
async function train(kind: 'sgd' | 'adam', nativeFilters: boolean, steps: number): Promise<Run> {
  await initBackend('onednn');
  const backend = tf.engine().backend as OneDnnBackend;
  backend.nativeFilters = nativeFilters;
  const before = backend.nativeStats();
  const model = buildUNet({ depth: 2, baseFilters: 4, classes: 3 }, 60);
  initializeWeights(model, new Rng(3));
  const geo = tileGeometry(model);
  const rng = new Rng(5);
  const px = 60 * 60;
  const tiles = [{ image: Float32Array.from({ length: px }, () => rng.uniform()), labels: Int32Array.from({ length: px }, () => rng.int(0, 2)), weights: Float32Array.from({ length: px }, () => 0.5 + rng.uniform()) }];
  const optimizer = makeOptimizer(kind, kind === 'sgd' ? 0.01 : 0.003, 0.99);
  setDropoutSeedSource(model, () => rng.nextUint32());
  const run: Run = { losses: [], states: [], reordersPerStep: 0, nativeFilterWeights: 0 };
  try {
    for (let s = 0; s < steps; s++) {
      const r0 = backend.addon.primitiveCache().reorders;
      run.losses.push(trainStep(model, optimizer, tiles, geo, 1));
      run.reordersPerStep = backend.addon.primitiveCache().reorders - r0;
      const slots = await optimizer.getWeights();
      run.states.push([...model.getWeights(), ...slots.map((w) => w.tensor)].map((t) => (t.dataSync() as Float32Array).slice()));
      for (const w of slots) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
    }
    run.nativeFilterWeights = model.trainableWeights.filter((w) => backend.filterHandleOf(w.read()) !== null).length;
  } finally {
    setDropoutSeedSource(model, null);
    disposeOptimizer(optimizer);
    model.dispose();
    backend.nativeFilters = true;
  }
  const after = backend.nativeStats();
  assert.deepEqual(after, before, `train(${kind}, nativeFilters ${nativeFilters}): native tensors and bytes after disposing the model and optimizer should be as before`);
  return run;
}

function assertSameBits(what: string, got: Float32Array[], want: Float32Array[]): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} arrays, want ${want.length}`);
  got.forEach((g, i) => {
    assert.equal(g.length, want[i]!.length, `${what}: array ${i} has ${g.length} values, want ${want[i]!.length}`);
    const bad = g.findIndex((v, k) => !Object.is(v, want[i]![k]));
    assert.equal(bad, -1, `${what}: array ${i} differs at ${bad}: ${g[bad]} vs ${want[i]![bad]}`);
  });
}

describe('convolution weights held natively between steps', { skip }, () => {
  for (const kind of ['sgd', 'adam'] as const) {
    test(`${kind}: weights, slots and losses equal the HWIO path bit for bit after every step, with fewer reorders`, async () => {
      const plain = await train(kind, false, 3);
      const kept = await train(kind, true, 3);
      assert.deepEqual(kept.losses, plain.losses, `${kind}: losses with native filters ${kept.losses} should equal the HWIO path's ${plain.losses}`);
      kept.states.forEach((state, s) => assertSameBits(`${kind}, after step ${s + 1}`, state, plain.states[s]!));
      // depth 2: 10 3x3 convolutions, 2 up-convolutions and the 1x1 keep their weights native.
      assert.equal(kept.nativeFilterWeights, 13, `${kind}: filters held natively after training (13 of the net's 26 weights are filters)`);
      assert.equal(plain.nativeFilterWeights, 0, `${kind}: the HWIO path should hold no filter natively`);
      assert.ok(kept.reordersPerStep < plain.reordersPerStep, `${kind}: reorders per step with native filters (${kept.reordersPerStep}) should be fewer than the HWIO path's (${plain.reordersPerStep})`);
    });
  }
});

describe('addon: filters as handles', { skip }, () => {
  const addon = (): OneDnnBackend['addon'] => (tf.engine().backend as OneDnnBackend).addon;
  const hwio = (n: number, seed: number): Float32Array => {
    const rng = new Rng(seed);
    return Float32Array.from({ length: n }, () => rng.normal(0, 1));
  };
  /** A filter gradient as a handle in the primitive's layout, for a conv of `wDims` on an 8x8 input. */
  const gradientHandle = (wDims: [number, number, number, number]): number => {
    const [kh, kw, ci, co] = wDims;
    const x = hwio(8 * 8 * ci, 11);
    const dy = hwio((9 - kh) * (9 - kw) * co, 12);
    return addon().conv2dBackpropFilter(x, dy, [1, 8, 8, ci], wDims, [1, 9 - kh, 9 - kw, co], [1, 1], [0, 0, 0, 0], [1, 1], true);
  };

  test('fromHWIO then toHWIO gives the values back, also through blocked layouts with padded channels', async () => {
    await initBackend('onednn');
    for (const wDims of [[3, 3, 1, 3], [3, 3, 16, 8], [1, 1, 5, 2]] as [number, number, number, number][]) {
      const like = gradientHandle(wDims);
      const values = hwio(wDims.reduce((a, b) => a * b), 13);
      const h = addon().fromHWIO(values, wDims, like);
      const back = addon().toHWIO(h);
      assert.equal(addon().layout(h), addon().layout(like), `fromHWIO(${wDims}): the handle should take like's layout`);
      assertSameBits(`toHWIO(fromHWIO(values, ${wDims}))`, [back], [values]);
      addon().free(h);
      addon().free(like);
    }
  });

  test('momentum and Adam updates on handles equal the updates on HWIO arrays, gradient as handle or as values', async () => {
    await initBackend('onednn');
    const wDims: [number, number, number, number] = [3, 3, 3, 5];
    const n = 3 * 3 * 3 * 5;
    for (const gradientAs of ['handle', 'values'] as const) {
      const g = gradientHandle(wDims);
      const gValues = addon().toHWIO(g);
      const arrays = [hwio(n, 1), hwio(n, 2).map(Math.abs), hwio(n, 3).map(Math.abs)];
      const handles = arrays.map((a) => addon().fromHWIO(a, wDims, g));
      const gArg = gradientAs === 'handle' ? g : gValues;
      addon().momentumUpdate(arrays[0]!, arrays[1]!, gValues, Math.fround(0.99), Math.fround(-0.01));
      addon().momentumUpdate(handles[0]!, handles[1]!, gArg, Math.fround(0.99), Math.fround(-0.01));
      const k = [0.9, 0.999, 0.1, 0.001, 0.1, 0.001, 1e-7, -0.003].map(Math.fround);
      addon().adamUpdate(arrays[0]!, arrays[1]!, arrays[2]!, gValues, k);
      addon().adamUpdate(handles[0]!, handles[1]!, handles[2]!, gArg, k);
      assertSameBits(`updates on handles (gradient as ${gradientAs})`, handles.map((h) => addon().toHWIO(h)), arrays);
      for (const h of [...handles, g]) addon().free(h);
    }
  });

  test('an update refuses slots of another layout or kind, naming the argument', async () => {
    await initBackend('onednn');
    const g = gradientHandle([3, 3, 16, 8]);
    const value = addon().fromHWIO(new Float32Array(3 * 3 * 16 * 8), [3, 3, 16, 8], g);
    const other = addon().conv2d(new Float32Array(8 * 8 * 16), new Float32Array(3 * 3 * 16 * 8), null, false, [1, 8, 8, 16], [3, 3, 16, 8], [1, 6, 6, 8], [1, 1], [0, 0, 0, 0], [1, 1]);
    assert.throws(() => addon().momentumUpdate(value, new Float32Array(3 * 3 * 16 * 8), g, 0.9, -0.1), /onednn momentumUpdate: accumulation must be a tensor handle, as value is/);
    assert.throws(() => addon().momentumUpdate(value, other, g, 0.9, -0.1), /onednn momentumUpdate: accumulation \(layout .*\) is not in value's layout/);
    assert.throws(() => addon().toHWIO(-1), /onednn toHWIO: unknown tensor handle -1/);
    for (const h of [g, value, other]) addon().free(h);
  });
});
