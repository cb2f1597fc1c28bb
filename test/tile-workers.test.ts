import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend } from '../src/backend/index.js';
import { makeAugmenter } from '../src/augment/augment.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { inThreadProducer, planStep, type TileProducer } from '../src/train/tile-jobs.js';
import { startTileWorkers } from '../src/train/tile-workers.js';
import type { TrainingSample } from '../src/train/tiles.js';
import { firstStepJobs, train, tileGeometry, TRAIN_DEFAULTS } from '../src/train/train.js';
import { Rng, streamSeed } from '../src/util/rng.js';
import { syntheticSample } from './helpers.js';

before(async () => {
  await initBackend();
});

/** Two samples of different sizes, one with a weight map, so jobs pick among them and windows vary. */
function samples(): TrainingSample[] {
  const a = syntheticSample();
  const b = syntheticSample();
  const h = 30;
  const w = 36;
  const big = { ...b, name: 'cropped', image: { ...b.image, data: b.image.data.slice(0, h * w), height: h }, labels: { ...b.labels, data: b.labels.data.slice(0, h * w), height: h } };
  const weights = { data: Float32Array.from({ length: 36 * 36 }, (_, i) => 1 + (i % 7) / 3), height: 36, width: 36, channels: 1 };
  return [{ ...a, weights }, big];
}

const geo = { input: [60, 60], output: [20, 20] } as const;
const augmentOptions = { rotation: 90, noise: 0.02 };

test('streamSeed and planStep: the jobs of step i depend only on the seed and i, not on what was planned before', () => {
  assert.equal(streamSeed(1, 7), streamSeed(1, 7));
  assert.notEqual(streamSeed(1, 7), streamSeed(1, 8));
  assert.notEqual(streamSeed(1, 7), streamSeed(2, 7));
  const s = samples();
  const forward = [1, 2, 3, 4, 5].map((i) => planStep(3, i, 2, s, geo, 'uniform'));
  const backward = [5, 4, 3, 2, 1].map((i) => planStep(3, i, 2, s, geo, 'uniform')).reverse();
  assert.deepEqual(forward, backward);
  assert.equal(new Set(forward.flat().map((j) => j.seed)).size, 10, 'every tile has its own augmentation seed');
  assert.ok(forward.flat().some((j) => j.sample === 0) && forward.flat().some((j) => j.sample === 1), 'both samples are drawn');
  assert.throws(() => streamSeed(1, -1), /index a non-negative integer/);
});

test('startTileWorkers: worker threads make the same tiles, bit for bit, as the training thread, also out of order', async () => {
  const s = samples();
  const workers = await startTileWorkers(s, { geometry: geo, channels: 1, augment: augmentOptions, workers: 2 });
  assert.ok(workers, 'worker threads start under Node');
  try {
    const local = inThreadProducer(s, geo, 1, makeAugmenter(augmentOptions));
    const steps = [1, 2, 3, 4, 5, 6];
    // All requested at once: replies from two workers may arrive in any order.
    const remote = await Promise.all(steps.map((i) => workers.make(planStep(9, i, 2, s, geo, 'uniform'))));
    for (const [k, i] of steps.entries()) {
      const mine = await local.make(planStep(9, i, 2, s, geo, 'uniform'));
      assert.deepEqual(remote[k], mine, `the tiles of step ${i}`);
    }
    await assert.rejects(workers.make([{ sample: 5, outTop: 0, outLeft: 0, seed: 1, zeroOutside: false }]), /tile worker: makeTile: job names sample 5, there are 2/);
  } finally {
    await workers.close();
  }
  await assert.rejects(workers.make(planStep(9, 1, 1, s, geo, 'uniform')), /after close/);
});

test('startTileWorkers with first jobs: make() for equal jobs gets those tiles, other jobs are made as asked; train() with them gives the same weights', async () => {
  const s = samples();
  const first = firstStepJobs(4, 6, { batchSize: 2, tileSampling: 'uniform' }, s, geo);
  assert.deepEqual(first, [planStep(4, 1, 2, s, geo, 'uniform'), planStep(4, 2, 2, s, geo, 'uniform')], 'firstStepJobs: the jobs of steps 1 and 2, as train() plans them');
  assert.equal(firstStepJobs(4, 1, { batchSize: 2, tileSampling: 'uniform' }, s, geo).length, 1, 'firstStepJobs: a one-step run asks for one step');
  const local = inThreadProducer(s, geo, 1, makeAugmenter(augmentOptions));
  const workers = await startTileWorkers(s, { geometry: geo, channels: 1, augment: augmentOptions, workers: 2, first });
  assert.ok(workers);
  try {
    // Asked in the other order, and a job list no early request holds in between.
    const later = planStep(4, 3, 2, s, geo, 'uniform');
    const [second, third, firstTiles] = await Promise.all([workers.make(first[1]!), workers.make(later), workers.make(first[0]!)]);
    assert.deepEqual(firstTiles, await local.make(first[0]!), 'the early tiles of step 1');
    assert.deepEqual(second, await local.make(first[1]!), 'the early tiles of step 2');
    assert.deepEqual(third, await local.make(later), 'the tiles of step 3, asked for later');
    // Asked again, step 1's jobs are made again (each early request answers once).
    assert.deepEqual(await workers.make(first[0]!), firstTiles, 'step 1 made a second time');
  } finally {
    await workers.close();
  }
  const run = async (tiles: TileProducer): Promise<Float32Array[]> => {
    const model = buildUNet({ depth: 2, baseFilters: 4 }, 60);
    initializeWeights(model, new Rng(5));
    await train(model, s, { iterations: 4, seed: 5, augment: makeAugmenter(augmentOptions), tiles });
    const weights = model.getWeights().map((t) => t.dataSync() as Float32Array);
    model.dispose();
    return weights;
  };
  const early = await startTileWorkers(s, { geometry: geo, channels: 1, augment: augmentOptions, first: firstStepJobs(5, 4, TRAIN_DEFAULTS, s, geo) });
  assert.ok(early);
  try {
    assert.deepEqual(await run(early), await run(inThreadProducer(s, geo, 1, makeAugmenter(augmentOptions))), 'the weights after 4 steps with early tiles and in-thread');
  } finally {
    await early.close();
  }
});

test("train: with tile workers and in-thread (the browser's fallback), the same seed gives the same weights bit for bit", async () => {
  const s = samples();
  const run = async (tiles: TileProducer | undefined, dataSeconds: number[]): Promise<Float32Array[]> => {
    const model = buildUNet({ depth: 2, baseFilters: 4 }, 60);
    initializeWeights(model, new Rng(5));
    const summary = await train(model, s, { iterations: 6, seed: 5, augment: makeAugmenter(augmentOptions), ...(tiles ? { tiles } : {}) });
    dataSeconds.push(summary.dataSeconds);
    const weights = model.getWeights().map((t) => t.dataSync() as Float32Array);
    model.dispose();
    return weights;
  };
  const seconds: number[] = [];
  const inThread = await run(undefined, seconds);
  const model = buildUNet({ depth: 2, baseFilters: 4 }, 60);
  const workers = await startTileWorkers(s, { geometry: tileGeometry(model), channels: 1, augment: augmentOptions });
  model.dispose();
  assert.ok(workers);
  let withWorkers: Float32Array[];
  try {
    withWorkers = await run(workers, seconds);
  } finally {
    await workers.close();
  }
  assert.deepEqual(withWorkers, inThread, 'the weights after 6 steps');
  assert.ok(seconds.every((v) => v >= 0 && Number.isFinite(v)), `dataSeconds reported: ${seconds.join(', ')}`);
  const other = await run(inThreadProducer(s, geo, 1, makeAugmenter({ ...augmentOptions, noise: 0.03 })), []);
  assert.notDeepEqual(other, inThread, 'a producer making other tiles changes the weights (the tiles come from the producer)');
});
