import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { writePng } from '../src/io/png.js';
import { syntheticSample } from './helpers.js';

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
  const images = join(dir, 'images');
  const labels = join(dir, 'labels');
  await mkdir(images);
  await mkdir(labels);
  const s = syntheticSample();
  for (const name of ['a', 'b']) {
    await writePng(join(images, `${name}.png`), { ...s.image, data: Uint8Array.from(s.image.data, (v) => Math.round(v * 255)) });
    await writePng(join(labels, `${name}.png`), { ...s.labels, data: Uint8Array.from(s.labels.data, (v) => v * 255) });
  }
  const out = join(dir, 'model');
  const r = unet('train', '--images', images, '--labels', labels, '--val-images', images, '--val-labels', labels, '--out', out,
    '--iterations', '3', '--seed', '1', '--depth', '2', '--filters', '4', '--tile', '60', '--validate-every', '2', '--class-names', 'background,disc');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^3\/3 loss \d+\.\d+ val \d+\.\d+ ETA/m, 'plain progress lines when not on a TTY');
  const meta = JSON.parse(await readFile(join(out, 'unet.json'), 'utf8'));
  assert.equal(meta.training.iterations, 3);
  assert.equal(meta.training.seed, 1);
  assert.deepEqual(meta.classNames, ['background', 'disc']);
  assert.deepEqual(meta.normalization, { kind: 'dtype' });
  assert.deepEqual(meta.tileSize, [60, 60]);
  assert.equal(meta.training.validation.length, 2);
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
