import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { makeMetadata } from '../src/io/model-format.js';
import { CheckpointStore, checkpointName, latestCheckpoint, readCheckpoint } from '../src/train/checkpoint-files.js';
import { train, type OptimizerKind } from '../src/train/train.js';
import { Rng } from '../src/util/rng.js';
import { syntheticSample } from './helpers.js';

let dir: string;
before(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'unet-ckpt-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = resolveConfig({ depth: 2, baseFilters: 4 });
const metadata = makeMetadata({ config, tileSize: [60, 60], normalization: { kind: 'dtype' } });

function weightsOf(model: ReturnType<typeof buildUNet>): number[][] {
  return model.getWeights().map((t) => Array.from(t.dataSync()));
}

for (const optimizer of ['sgd', 'adam'] as OptimizerKind[]) {
  test(`resume (${optimizer}): an interrupted and resumed run reaches bitwise the same weights as an uninterrupted one`, async () => {
    const sample = syntheticSample();
    const opts = { iterations: 6, seed: 5, optimizer, validateEvery: 2 };

    const straight = buildUNet(config, 60);
    initializeWeights(straight, new Rng(5));
    const full = await train(straight, [sample], opts, [sample]);

    const root = join(dir, `run-${optimizer}`);
    const store = new CheckpointStore(root, { keepLast: 2 });
    const first = buildUNet(config, 60);
    initializeWeights(first, new Rng(5));
    const abort = new AbortController();
    await train(first, [sample], {
      ...opts,
      checkpointEvery: 2,
      signal: abort.signal,
      onProgress: (p) => { if (p.iteration === 3) abort.abort(); },
      onCheckpoint: async (c) => { await store.write(first, c, metadata); },
    }, [sample]);
    first.dispose();
    const latest = await latestCheckpoint(root);
    assert.equal(latest, join(root, checkpointName(3)), 'the stop after step 3 writes a checkpoint');

    const ckpt = await readCheckpoint(latest!);
    assert.equal(ckpt.state.iteration, 3);
    const resumed = await train(ckpt.model, [sample], { ...opts, resume: { state: ckpt.state, optimizerWeights: ckpt.optimizerWeights } }, [sample]);
    assert.deepEqual(weightsOf(ckpt.model), weightsOf(straight), 'weights after resuming');
    assert.deepEqual(resumed.losses, full.losses, 'loss history after resuming');
    assert.deepEqual(resumed.validation, full.validation, 'validation history after resuming');
  });
}

test('CheckpointStore: keeps the last K checkpoints plus the best by validation loss', async () => {
  const root = join(dir, 'rotate');
  const store = new CheckpointStore(root, { keepLast: 2 });
  const model = buildUNet(config, 60);
  initializeWeights(model, new Rng(1));
  const losses = [0.9, 0.4, 0.6, 0.7];
  for (let i = 0; i < losses.length; i++) {
    const iteration = i + 1;
    const state = {
      iteration, iterations: 4, seed: 1, rng: new Rng(1).state(), dropoutRng: new Rng(2).state(), losses: [], validation: [{ iteration, loss: losses[i]! }],
      optimizer: 'sgd' as const, learningRate: 0.001, momentum: 0.99, batchSize: 1, seconds: 0,
    };
    await store.write(model, { state, optimizerWeights: [{ name: 'x', tensor: tf.scalar(iteration) }], reason: 'interval' }, metadata);
  }
  const names = (await readdir(root)).sort();
  assert.deepEqual(names, ['best', checkpointName(3), checkpointName(4)]);
  // A new store on the same folder (a resumed run) keeps the best on disk against a worse loss.
  const resumed = new CheckpointStore(root, { keepLast: 2 });
  const worse = {
    iteration: 5, iterations: 5, seed: 1, rng: new Rng(1).state(), dropoutRng: new Rng(2).state(), losses: [], validation: [{ iteration: 5, loss: 0.5 }],
    optimizer: 'sgd' as const, learningRate: 0.001, momentum: 0.99, batchSize: 1, seconds: 0,
  };
  await resumed.write(model, { state: worse, optimizerWeights: [{ name: 'x', tensor: tf.scalar(5) }], reason: 'interval' }, metadata);
  const best = await readCheckpoint(join(root, 'best'));
  assert.equal(best.state.iteration, 2, 'best is the checkpoint with validation loss 0.4');
  assert.equal(best.optimizerWeights[0]!.tensor.dataSync()[0], 2);
  await assert.rejects(readCheckpoint(join(root, 'nope')), /unet\.json is missing/);
});

test('resume: refuses a checkpoint made with other settings', async () => {
  const sample = syntheticSample();
  const model = buildUNet(config, 60);
  const state = {
    iteration: 1, iterations: 4, seed: 1, rng: new Rng(1).state(), dropoutRng: new Rng(2).state(), losses: [1], validation: [],
    optimizer: 'sgd' as const, learningRate: 0.001, momentum: 0.99, batchSize: 1, seconds: 0,
  };
  await assert.rejects(
    train(model, [sample], { iterations: 4, seed: 2, learningRate: 0.01, resume: { state, optimizerWeights: [] } }),
    /checkpoint was made with other settings \(seed 1 vs 2, learning rate 0.001 vs 0.01\)/,
  );
});
