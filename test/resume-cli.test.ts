import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { writePng } from '../src/io/png.js';
import { syntheticSample } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
const node = (args: string[]): string[] => ['--import', 'tsx', CLI, ...args];

let dir: string;
let images: string;
let labels: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unet-resume-'));
  images = join(dir, 'images');
  labels = join(dir, 'labels');
  await mkdir(images);
  await mkdir(labels);
  const s = syntheticSample();
  await writePng(join(images, 'a.png'), { ...s.image, data: Uint8Array.from(s.image.data, (v) => Math.round(v * 255)) });
  await writePng(join(labels, 'a.png'), { ...s.labels, data: Uint8Array.from(s.labels.data, (v) => v * 255) });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const trainArgs = (out: string): string[] => [
  'train', '--images', images, '--labels', labels, '--out', out, '--iterations', '24', '--seed', '4',
  '--depth', '2', '--filters', '4', '--tile', '60', '--checkpoint-every', '4', '--keep', '2',
];

test('unet train killed with SIGKILL and resumed reaches the same weights as an uninterrupted run', async () => {
  const straight = join(dir, 'straight');
  const full = spawnSync(process.execPath, node(trainArgs(straight)), { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.equal(full.status, 0, full.stderr);

  const killed = join(dir, 'killed');
  const child = spawn(process.execPath, node(trainArgs(killed)), { cwd: ROOT, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const marker = join(killed, 'checkpoints', 'iter-0000008');
  while (!existsSync(marker) && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL', 'the run was killed mid-training (it must not have finished first)');
  assert.ok(!existsSync(join(killed, 'weights.bin')), 'no final model was written by the killed run');

  const resumed = spawnSync(process.execPath, node(['train', '--resume', killed]), { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming .*iter-\d{7} at iteration \d+/);
  const a = await readFile(join(straight, 'weights.bin'));
  const b = await readFile(join(killed, 'weights.bin'));
  assert.ok(a.equals(b), 'weights.bin of the resumed run equals the uninterrupted run byte for byte');
  const metaA = JSON.parse(await readFile(join(straight, 'unet.json'), 'utf8'));
  const metaB = JSON.parse(await readFile(join(killed, 'unet.json'), 'utf8'));
  assert.deepEqual(metaB.training.lossCurve, metaA.training.lossCurve, 'loss history');
});

test('unet train --resume refuses extra options and a folder without checkpoints', () => {
  const extra = spawnSync(process.execPath, node(['train', '--resume', dir, '--iterations', '5']), { cwd: ROOT, encoding: 'utf8' });
  assert.equal(extra.status, 2);
  assert.match(extra.stderr, /--resume takes no other options/);
  const none = spawnSync(process.execPath, node(['train', '--resume', join(dir, 'nothing')]), { cwd: ROOT, encoding: 'utf8' });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no checkpoint under .*nothing\/checkpoints; nothing to resume/);
});
