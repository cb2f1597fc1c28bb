import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
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

  // --resume=DIR: the option=value spelling must work like --resume DIR.
  const resumed = spawnSync(process.execPath, node(['train', `--resume=${killed}`]), { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.equal(resumed.status, 0, resumed.stderr);
  const at = /resuming .*iter-\d{7} at iteration (\d+)/.exec(resumed.stderr);
  assert.ok(at, `the resumed run says where it resumes: ${resumed.stderr}`);
  const from = Number(at[1]);
  assert.ok(from >= 8 && from < 24, `resumed at iteration ${from}, between the checkpoint waited for (8) and the end (24)`);
  // Same seed, so a silent restart from scratch would reach the same weights: tell them apart by
  // the steps each run performed, read from its progress lines ("STEP/24 loss ..." off a TTY;
  // the first step of a run always prints).
  const steps = (stderr: string): number[] => [...stderr.matchAll(/^(\d+)\/24 loss /gm)].map((m) => Number(m[1]));
  assert.equal(steps(full.stderr)[0], 1, `the uninterrupted run starts at step 1: ${full.stderr}`);
  const resumedSteps = steps(resumed.stderr);
  assert.equal(resumedSteps[0], from + 1, `the resumed run's first step is ${from + 1}, after the checkpoint (steps reported: ${resumedSteps.join(', ')})`);
  assert.equal(resumedSteps.at(-1), 24, 'the resumed run ends at step 24');
  assert.ok(resumedSteps.every((s) => s > from), `the resumed run performs only steps after ${from} (reported: ${resumedSteps.join(', ')})`);
  assert.match(resumed.stderr, /saved to .* after 24 iterations/);
  const a = await readFile(join(straight, 'weights.bin'));
  const b = await readFile(join(killed, 'weights.bin'));
  assert.ok(a.equals(b), 'weights.bin of the resumed run equals the uninterrupted run byte for byte');
  const metaA = JSON.parse(await readFile(join(straight, 'unet.json'), 'utf8'));
  const metaB = JSON.parse(await readFile(join(killed, 'unet.json'), 'utf8'));
  assert.deepEqual(metaB.training.lossCurve, metaA.training.lossCurve, 'loss history');
});

test('unet train --resume refuses extra options and a folder without checkpoints, in either spelling (--resume DIR, --resume=DIR)', () => {
  const extra = spawnSync(process.execPath, node(['train', '--resume', dir, '--iterations', '5']), { cwd: ROOT, encoding: 'utf8' });
  assert.equal(extra.status, 2);
  assert.match(extra.stderr, /--resume takes no other options \(got --iterations\)/);
  const extraEq = spawnSync(process.execPath, node(['train', `--resume=${dir}`, '--iterations=5']), { cwd: ROOT, encoding: 'utf8' });
  assert.equal(extraEq.status, 2);
  assert.match(extraEq.stderr, /--resume takes no other options \(got --iterations\)/);
  for (const args of [['--resume', join(dir, 'nothing')], [`--resume=${join(dir, 'nothing')}`]]) {
    const none = spawnSync(process.execPath, node(['train', ...args]), { cwd: ROOT, encoding: 'utf8' });
    assert.equal(none.status, 1, `unet train ${args.join(' ')}: ${none.stderr}`);
    assert.match(none.stderr, /no checkpoint under .*nothing\/checkpoints; nothing to resume/, `unet train ${args.join(' ')}`);
  }
});

test('unet train stopped by SIGTERM saves the model, exits 143, and --folds stops instead of going on to the next fold', async () => {
  // Two images, so that two folds exist; the copy of a.png under another stem is enough.
  const foldImages = join(dir, 'fold-images');
  const foldLabels = join(dir, 'fold-labels');
  await mkdir(foldImages);
  await mkdir(foldLabels);
  for (const stem of ['a', 'b']) {
    await writeFile(join(foldImages, `${stem}.png`), await readFile(join(images, 'a.png')));
    await writeFile(join(foldLabels, `${stem}.png`), await readFile(join(labels, 'a.png')));
  }
  const out = join(dir, 'cv-stopped');
  const args = ['train', '--folds', '2', '--images', foldImages, '--labels', foldLabels, '--out', out, '--iterations', '100000', '--seed', '4',
    '--depth', '2', '--filters', '4', '--tile', '60', '--checkpoint-every', '4', '--validate-every', '1000'];
  const child = spawn(process.execPath, node(args), { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const marker = join(out, 'fold-0', 'checkpoints', 'iter-0000004');
  while (!existsSync(marker) && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGTERM');
  // Before the fix the run went on to fold 1 (100000 steps): give it a minute, then fail.
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await exited;
  clearTimeout(deadline);
  assert.ok(!existsSync(join(out, 'fold-1')), 'no second fold was started after the stop');
  assert.equal(code, 143, `unet train --folds: exit status after SIGTERM (128 + 15); stderr: ${stderr.slice(-600)}`);
  assert.match(stderr, /SIGTERM: stopping after this step and saving the model/);
  assert.ok(existsSync(join(out, 'fold-0', 'weights.bin')), 'the stopped fold saved its model (--resume continues it)');
  assert.ok(!existsSync(join(out, 'folds.json')), 'no cross-validation summary from a stopped run');
});
