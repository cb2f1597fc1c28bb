/**
 * unet train --init-from: fine-tuning keeps the architecture, normalisation and class names of
 * the model it starts from, loads its weights exactly, and refuses contradicting options.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initBackend } from '../src/backend/index.js';
import { makeMetadata } from '../src/io/model-format.js';
import { loadModel, saveModel } from '../src/io/model-files.js';
import { writePng } from '../src/io/png.js';
import { resolveConfig } from '../src/model/config.js';
import { buildUNet } from '../src/model/unet.js';
import { recipeArgv } from '../src/cli/commands/init-from.js';
import { runCli } from './helpers.js';

const CONFIG = resolveConfig({ depth: 1, baseFilters: 2, classes: 2, inputChannels: 1, padding: 'same', dropout: 0 });
let dir = '';


before(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'unet-init-from-'));
  const model = buildUNet(CONFIG, 16, { seed: 3 });
  // The source's stored training command: its recipe (Adam at 1e-30, w0 3, --invert) is what a
  // fine-tuning run continues with; its data, output, schedule and seed are not.
  const training = { argv: ['--images', '/elsewhere/images', '--labels', '/elsewhere/labels', '--out', '/elsewhere/model', '--iterations', '500', '--seed', '9', '--optimizer', 'adam', '--lr', '1e-30', '--w0', '3', '--invert', '--filters', '2'] };
  await saveModel(join(dir, 'source'), model, makeMetadata({ config: CONFIG, tileSize: [16, 16], normalization: { kind: 'minmax' }, classNames: ['bg', 'cell'], training }));
  model.dispose();
  for (const sub of ['images', 'labels']) await mkdir(join(dir, sub));
  for (let k = 0; k < 2; k++) {
    const img = Uint8Array.from({ length: 24 * 24 }, (_, i) => ((i * 7 + k * 13) % 200) + 20);
    const lab = Uint8Array.from(img, (v) => (v > 120 ? 255 : 0));
    await writePng(join(dir, 'images', `im${k}.png`), { data: img, height: 24, width: 24, channels: 1 });
    await writePng(join(dir, 'labels', `im${k}.png`), { data: lab, height: 24, width: 24, channels: 1 });
  }
});
after(() => rm(dir, { recursive: true, force: true }));

const common = (): string[] => ['train', '--images', join(dir, 'images'), '--labels', join(dir, 'labels'), '--init-from', join(dir, 'source'), '--iterations', '1', '--seed', '1', '--no-augment'];

test('--init-from keeps the architecture, normalisation and class names, and starts from the weights exactly', async () => {
  // Adam's first step moves each weight by at most about lr = 1e-30: the saved weights must be the
  // source's to within that (a fresh initialisation would differ by ~0.1).
  // No optimizer flags: the source's recipe (Adam at 1e-30) is used, or the paper's SGD default would move the weights.
  const r = await runCli([...common(), '--out', join(dir, 'tuned')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /starting from the weights of /, r.stderr);
  assert.match(r.stderr, /continues the model's training recipe: --invert --w0 3 --optimizer adam --lr 1e-30 \(flags you give override these\)/, r.stderr);
  const source = await loadModel(join(dir, 'source'));
  const tuned = await loadModel(join(dir, 'tuned'));
  assert.deepEqual(tuned.metadata.config, source.metadata.config, '--init-from: architecture');
  assert.deepEqual(tuned.metadata.normalization, { kind: 'minmax' }, '--init-from: the model\'s normalisation, not the default dtype');
  assert.deepEqual(tuned.metadata.classNames, ['bg', 'cell'], '--init-from: class names');
  assert.deepEqual(tuned.metadata.tileSize, [16, 16], '--init-from: the model\'s tile when none is given');
  const training = tuned.metadata.training as { initFrom?: string; optimizer?: string; learningRate?: number; iterations?: number; seed?: number };
  assert.equal(training.initFrom, join(dir, 'source'));
  assert.deepEqual([training.optimizer, training.learningRate, training.iterations, training.seed], ['adam', 1e-30, 1, 1], '--init-from: the source\'s optimizer and rate, the run\'s own schedule and seed');
  const labels = tuned.metadata.labels as { invert?: boolean; weightMap?: { w0: number } };
  assert.deepEqual([labels.invert, labels.weightMap?.w0], [true, 3], '--init-from: the source\'s label switches and border weight');
  const a = source.model.getWeights();
  const b = tuned.model.getWeights();
  assert.equal(b.length, a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!.dataSync();
    const y = b[i]!.dataSync();
    const bad = x.findIndex((v, k) => !(Math.abs(v - y[k]!) <= 2e-30));
    assert.equal(bad, -1, `--init-from: weight ${i} (${a[i]!.shape}) differs at ${bad}: ${x[bad]} vs ${y[bad]}`);
  }
  source.model.dispose();
  tuned.model.dispose();
});

test('--init-from: flags given override the recipe the model was trained with', async () => {
  const r = await runCli([...common(), '--out', join(dir, 'tuned2'), '--lr', '0.5', '--w0', '0']);
  assert.equal(r.code, 0, r.stderr);
  const tuned = await loadModel(join(dir, 'tuned2'));
  const training = tuned.metadata.training as { optimizer?: string; learningRate?: number };
  assert.deepEqual([training.optimizer, training.learningRate], ['adam', 0.5], '--init-from --lr 0.5: the given rate, the recipe\'s optimizer');
  assert.equal((tuned.metadata.labels as { weightMap?: { w0: number } }).weightMap?.w0, 0, '--init-from --w0 0: the given border weight');
  tuned.model.dispose();
});

test('recipeArgv keeps only the recipe options of a stored training command, in a fixed order', () => {
  const options = { images: { type: 'string' }, seed: { type: 'string' }, optimizer: { type: 'string' }, lr: { type: 'string' }, invert: { type: 'boolean' }, filters: { type: 'string' } } as const;
  assert.deepEqual(recipeArgv(['--images', 'a', '--lr', '0.001', '--optimizer', 'adam', '--invert', '--seed', '1', '--filters', '16'], options), ['--invert', '--optimizer', 'adam', '--lr', '0.001']);
  assert.deepEqual(recipeArgv(['--lr=0.1', '--lr', '0.2'], options), ['--lr', '0.2'], 'recipeArgv: the last value of a repeated option, as unet train read it');
  assert.deepEqual(recipeArgv([], options), []);
  const withSchedule = { ...options, 'lr-schedule': { type: 'string' } } as const;
  assert.deepEqual(recipeArgv(['--lr-schedule', 'poly', '--seed', '1', '--lr', '0.001'], withSchedule), ['--lr', '0.001', '--lr-schedule', 'poly'], 'recipeArgv: a fine-tuned model keeps its schedule');
});

test('--init-from refuses an incompatible architecture or normalisation with a clear message', async () => {
  const filters = await runCli([...common(), '--out', join(dir, 'bad1'), '--filters', '4']);
  assert.equal(filters.code, 2, filters.stderr);
  assert.match(filters.stderr, /the model has --filters 2, not 4; fine-tuning keeps the architecture/);
  const depth = await runCli([...common(), '--out', join(dir, 'bad2'), '--depth', '2']);
  assert.match(depth.stderr, /the model has --depth 1, not 2/);
  const norm = await runCli([...common(), '--out', join(dir, 'bad3'), '--normalize', 'dtype']);
  assert.equal(norm.code, 2, norm.stderr);
  assert.match(norm.stderr, /was trained with --normalize minmax, not dtype/);
  const missing = await runCli([...common().slice(0, -7), '--init-from', join(dir, 'nope'), '--iterations', '1', '--seed', '1', '--out', join(dir, 'bad4')]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /--model .*nope: no such folder/);
});
