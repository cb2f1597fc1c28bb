import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { makeMetadata } from '../src/io/model-format.js';
import { bestCheckpoint, CheckpointStore, checkpointName, latestCheckpoint, listCheckpoints, readCheckpoint } from '../src/train/checkpoint-files.js';
import { train, type OptimizerKind } from '../src/train/train.js';
import type { LrSchedule } from '../src/train/schedule.js';
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

for (const [optimizer, lrSchedule] of [['sgd', 'constant'], ['adam', 'constant'], ['adam', 'poly'], ['sgd', 'poly']] as [OptimizerKind, LrSchedule][]) {
  test(`resume (${optimizer}, ${lrSchedule} learning rate): an interrupted and resumed run reaches bitwise the same weights as an uninterrupted one`, async () => {
    const sample = syntheticSample();
    const opts = { iterations: 6, seed: 5, optimizer, lrSchedule, validateEvery: 2 };

    const straight = buildUNet(config, 60);
    initializeWeights(straight, new Rng(5));
    const full = await train(straight, [sample], opts, [sample]);

    const root = join(dir, `run-${optimizer}-${lrSchedule}`);
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
  // A checkpoint from before schedules ran at a constant rate.
  await assert.rejects(
    train(model, [sample], { iterations: 4, seed: 1, lrSchedule: 'poly', resume: { state, optimizerWeights: [] } }),
    /other settings \(learning-rate schedule constant vs poly\)/,
  );
  // Under a schedule the step sizes depend on the run's length.
  await assert.rejects(
    train(model, [sample], { iterations: 8, seed: 1, lrSchedule: 'poly', resume: { state: { ...state, lrSchedule: 'poly' as const }, optimizerWeights: [] } }),
    /other settings \(iterations 4 vs 8 \(the poly schedule is laid over the whole run\)\)/,
  );
});

/** A checkpoint state at `iteration` whose validation loss is `loss`. */
function stateAt(iteration: number, loss: number) {
  return {
    iteration, iterations: 100, seed: 1, rng: new Rng(1).state(), dropoutRng: new Rng(2).state(), losses: [], validation: [{ iteration, loss }],
    optimizer: 'sgd' as const, learningRate: 0.001, momentum: 0.99, batchSize: 1, seconds: 0,
  };
}
const checkpointAt = (iteration: number, loss: number) => ({ state: stateAt(iteration, loss), optimizerWeights: [{ name: 'x', tensor: tf.scalar(iteration) }], reason: 'interval' as const });

/**
 * Replaces `node:fs/promises` functions for the duration of `body`: the ESM named imports of
 * checkpoint-files.ts (and atomic.ts) see the replacements through syncBuiltinESMExports.
 */
async function withFs<T>(patch: Partial<Record<'rename' | 'open', (...args: never[]) => unknown>>, body: () => Promise<T>): Promise<T> {
  const fsp = createRequire(import.meta.url)('node:fs/promises') as Record<string, unknown>;
  const saved = { rename: fsp.rename, open: fsp.open };
  Object.assign(fsp, patch);
  syncBuiltinESMExports();
  try {
    return await body();
  } finally {
    Object.assign(fsp, saved);
    syncBuiltinESMExports();
  }
}

test('checkpoints: past 9,999,999 steps the newest is still found (names sorted by number, not as strings)', async () => {
  const root = join(dir, 'many');
  for (const it of [9_999_998, 9_999_999, 10_000_000, 10_000_001]) await mkdir(join(root, checkpointName(it)), { recursive: true });
  await mkdir(join(root, 'best'));
  await mkdir(join(root, '.old-iter-0000005'));
  assert.equal(checkpointName(10_000_000), 'iter-10000000');
  assert.deepEqual(await listCheckpoints(root), ['iter-9999998', 'iter-9999999', 'iter-10000000', 'iter-10000001'], 'listCheckpoints: oldest first by iteration');
  assert.equal(await latestCheckpoint(root), join(root, 'iter-10000001'), 'latestCheckpoint: the highest iteration');
});

test('CheckpointStore: a corrupt best/state.json is an error naming the file, and best is not replaced', async () => {
  const root = join(dir, 'corrupt-best');
  const model = buildUNet(config, 60);
  initializeWeights(model, new Rng(1));
  await new CheckpointStore(root).write(model, checkpointAt(1, 0.5), metadata);
  const bestState = join(root, 'best', 'state.json');
  await writeFile(bestState, '{"iteration": 1, "validation": [{"iter');
  const store = new CheckpointStore(root);
  await assert.rejects(store.write(model, checkpointAt(2, 0.9), metadata), (e: Error) => {
    assert.match(e.message, /CheckpointStore: .*corrupt-best\/best\/state\.json is unreadable .*'best' was left as is/);
    return true;
  });
  assert.equal(await readFile(bestState, 'utf8'), '{"iteration": 1, "validation": [{"iter', 'best/state.json untouched');
  assert.equal(await latestCheckpoint(root), join(root, checkpointName(2)), 'the checkpoint itself was written before the refusal');
  // A state without a validation loss is refused the same way.
  await writeFile(bestState, JSON.stringify({ iteration: 1 }));
  await assert.rejects(new CheckpointStore(root).write(model, checkpointAt(3, 0.9), metadata), /best\/state\.json records no validation loss/);
  model.dispose();
});

test('CheckpointStore: replacing best never leaves a moment without a complete best (failed rename, crash between renames), and fsyncs the folder after renames', async () => {
  const root = join(dir, 'best-swap');
  const model = buildUNet(config, 60);
  initializeWeights(model, new Rng(1));
  await new CheckpointStore(root).write(model, checkpointAt(1, 0.5), metadata);

  // 1. The rename that puts the new best in place fails: the old best is still there, complete.
  const realRename = rename;
  const failing = (from: string, to: string): Promise<void> =>
    to === join(root, 'best') && !from.includes('.old-') ? Promise.reject(Object.assign(new Error('EIO: injected'), { code: 'EIO' })) : realRename(from, to);
  await assert.rejects(withFs({ rename: failing }, () => new CheckpointStore(root).write(model, checkpointAt(2, 0.1), metadata)), /EIO: injected/);
  assert.equal((await readCheckpoint(join(root, 'best'))).state.iteration, 1, 'after a failed replacement best is the old, complete checkpoint');

  // 2. A crash after the old best was renamed aside and before the new one came in.
  await realRename(join(root, 'best'), join(root, '.old-best'));
  assert.equal(await bestCheckpoint(root), join(root, '.old-best'), 'bestCheckpoint: finds the complete best set aside');
  await new CheckpointStore(root).write(model, checkpointAt(3, 0.9), metadata);
  assert.equal((await readCheckpoint(join(root, 'best'))).state.iteration, 1, 'the next store puts the set-aside best back (and a worse loss does not replace it)');
  assert.ok(!(await readdir(root)).includes('.old-best'), 'no .old-best left');

  // 3. Durability: each rename into the store is followed by an fsync of the store folder.
  const log: string[] = [];
  const fsp = createRequire(import.meta.url)('node:fs/promises') as { open: (p: string, f: string) => Promise<{ sync: () => Promise<void> }> };
  const realOpen = fsp.open;
  const tracingOpen = async (path: string, flags: string) => {
    const fh = await realOpen(path, flags);
    const sync = fh.sync.bind(fh);
    fh.sync = async () => {
      log.push(`sync ${path}`);
      await sync();
    };
    return fh;
  };
  const tracingRename = async (from: string, to: string) => {
    log.push(`rename ${to}`);
    await realRename(from, to);
  };
  await withFs({ open: tracingOpen, rename: tracingRename }, () => new CheckpointStore(root).write(model, checkpointAt(4, 0.05), metadata));
  for (const name of [checkpointName(4), 'best']) {
    const at = log.indexOf(`rename ${join(root, name)}`);
    assert.ok(at >= 0, `${name} was renamed into place (log: ${log.join('; ')})`);
    assert.ok(log.slice(at + 1).includes(`sync ${root}`), `the store folder is fsynced after ${name} is renamed in (log: ${log.join('; ')})`);
  }
  assert.equal((await readCheckpoint(join(root, 'best'))).state.iteration, 4, 'a better loss replaces best');
  model.dispose();
});
