import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { loadModel } from '../src/io/model-files.js';
import { extractWindow } from '../src/util/mirror.js';
import { syntheticSample, writeSyntheticFolders } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');

function unet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unet-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('unet info --input 572 prints output 388 and the parameter count', () => {
  const r = unet('info', '--input', '572');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^output: 388x388$/m);
  assert.match(r.stdout, /^parameters: 31,030,658$/m);
  assert.match(r.stdout, /^conv layers: 23$/m);
  assert.match(r.stdout, /^backend: \S+/m);
});

test('unet info --input 570 exits non-zero naming the nearest valid sizes', () => {
  const r = unet('info', '--input', '570');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /570 is not a valid U-Net input .*nearest valid sizes are 556 and 572/);
  assert.equal(r.stdout, '');
});

test('unet train trains on PNG folders and saves a loadable model with metadata', async () => {
  const { images, labels } = await writeSyntheticFolders(dir);
  const s = syntheticSample();
  const out = join(dir, 'model');
  // Options as --name value and --name=value alike.
  const r = unet('train', '--images', images, '--labels', labels, '--val-images', images, '--val-labels', labels, `--out=${out}`,
    '--iterations=3', '--seed', '1', '--depth=2', '--filters', '4', '--tile=60', '--validate-every', '2', '--class-names=background,disc');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^3\/3 loss \d+\.\d+ val \d+\.\d+ V_rand \d\.\d{3} ETA/m, 'plain progress lines when not on a TTY, with the validation metric');
  const meta = JSON.parse(await readFile(join(out, 'unet.json'), 'utf8'));
  assert.equal(meta.training.iterations, 3);
  assert.equal(meta.training.seed, 1);
  assert.deepEqual(meta.classNames, ['background', 'disc']);
  assert.deepEqual(meta.normalization, { kind: 'dtype' });
  assert.deepEqual(meta.tileSize, [60, 60]);
  assert.equal(meta.training.validation.length, 2);

  // Loadable: the folder loads as a model of the trained architecture that predicts the image.
  await initBackend();
  const { model, metadata } = await loadModel(out);
  assert.deepEqual(metadata.classNames, ['background', 'disc'], 'loadModel: metadata');
  assert.deepEqual(model.inputs[0]!.shape, [null, 60, 60, 1], 'loadModel: input tile 60x60x1');
  assert.deepEqual(model.outputs[0]!.shape, [null, 20, 20, 2], 'loadModel: output 20x20, 2 classes (depth 2: margin 20)');
  const kernels = model.getWeights().filter((w) => w.rank === 4);
  assert.ok(kernels.length >= 11 && kernels.every((k) => k.dataSync().some((v) => v !== 0)), 'loadModel: every conv kernel holds non-zero trained values');
  const window = extractWindow(s.image.data, 36, 36, 1, -20 + 8, -20 + 8, 60, 60);
  const probs = tf.tidy(() => tf.softmax(model.predict(tf.tensor4d(window, [1, 60, 60, 1])) as tf.Tensor4D).dataSync());
  assert.equal(probs.length, 20 * 20 * 2);
  assert.ok(probs.every((v) => Number.isFinite(v) && v >= 0 && v <= 1), 'loadModel: probabilities in [0, 1]');
  const fg = Array.from({ length: 400 }, (_, i) => probs[2 * i + 1]!);
  assert.ok(Math.max(...fg) - Math.min(...fg) > 1e-3, `loadModel: the foreground probability varies over the tile (${Math.min(...fg)}..${Math.max(...fg)}), the model is not constant`);
  model.dispose();
});

test('unet info: --name=value means the same as --name value', () => {
  const spaced = unet('info', '--input', '60', '--depth', '2', '--filters', '4');
  const joined = unet('info', '--input=60', '--depth=2', '--filters=4');
  assert.equal(spaced.status, 0, spaced.stderr);
  assert.equal(joined.status, 0, joined.stderr);
  assert.match(joined.stdout, /^output: 20x20$/m);
  assert.equal(joined.stdout, spaced.stdout);
});

test('unet train reports bad input before training', async () => {
  const empty = join(dir, 'empty');
  await mkdir(empty);
  const r = unet('train', '--images', empty, '--labels', empty, '--out', join(dir, 'x'), '--iterations', '1', '--seed', '1');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /holds no images/);
  const missing = unet('train', '--images', empty);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--labels is required/);
});
