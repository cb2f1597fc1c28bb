/**
 * `unet predict --chunks I/N` and `unet merge-instances` as processes, and the Snakemake
 * workflow (workflows/snakemake) fanning out 4 chunk jobs + the merge: both must leave the
 * store bit-identical to one `unet predict` process, and a rerun must recompute nothing.
 * The workflow test needs Debian snakemake.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as zarr from 'zarrita';
import FileSystemStore from '@zarrita/storage/fs';
import { initBackend } from '../src/backend/index.js';
import { makeMetadata } from '../src/io/model-format.js';
import { saveModel } from '../src/io/model-files.js';
import { writePng } from '../src/io/png.js';
import { writeOmeZarrImage } from '../src/io/zarr.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { Rng } from '../src/util/rng.js';
import { skipUnless, noiseImage, storeDigest } from './helpers.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
const CONFIG = resolveConfig({ depth: 2, baseFilters: 4, classes: 2, inputChannels: 1, padding: 'valid', dropout: 0 });
let dir = '';

function run(cmd: string, args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
const unet = (args: string[]): ReturnType<typeof run> => run(process.execPath, ['--import', 'tsx', CLI, ...args]);



before(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'unet-zarr-cli-'));
  const model = buildUNet(CONFIG, 64);
  initializeWeights(model, new Rng(8));
  await saveModel(join(dir, 'model'), model, makeMetadata({ config: CONFIG, tileSize: [64, 64], normalization: { kind: 'dtype' }, classNames: ['background', 'cell'] }));
  model.dispose();
  await writeOmeZarrImage(join(dir, 'image.ome.zarr'), [noiseImage(new Rng(9), 50, 70)], { chunk: 32 });
  await writePng(join(dir, 'plain.png'), noiseImage(new Rng(10), 30, 20));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const PREDICT = ['--tile', '64', '--chunk-size', '24', '--outputs', 'mask,prob,instances', '--prob-dtype', 'uint8'];

test('unet predict --chunks 0/2 and 1/2 + merge-instances write the bytes of one unet predict', async () => {
  const one = join(dir, 'one.ome.zarr');
  const two = join(dir, 'two.ome.zarr');
  cpSync(join(dir, 'image.ome.zarr'), one, { recursive: true });
  cpSync(join(dir, 'image.ome.zarr'), two, { recursive: true });
  const r1 = await unet(['predict', '--model', join(dir, 'model'), ...PREDICT, one]);
  assert.equal(r1.code, 0, r1.stderr);
  assert.match(r1.stdout, /9 chunk\(s\) computed, 0 already done.*object\(s\) in labels\/unet_instances/);
  for (const i of [0, 1]) {
    const r = await unet(['predict', '--model', join(dir, 'model'), ...PREDICT, '--chunks', `${i}/2`, two]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`job ${i}/2.*unet merge-instances`));
  }
  const m = await unet(['merge-instances', two]);
  assert.equal(m.code, 0, m.stderr);
  assert.deepEqual(storeDigest(two), storeDigest(one), 'two chunk jobs + merge equal one process, file for file');
  const again = await unet(['predict', '--model', join(dir, 'model'), ...PREDICT, '--chunks', '1/2', two]);
  assert.match(again.stdout, /0 chunk\(s\) computed, 5 already done/);
  const bad = await unet(['predict', '--model', join(dir, 'model'), '--chunks', '2/2', two]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--chunks: expected I\/N with 0 <= I < N, got 2\/2/);
});

test('unet predict --ome-zarr --zarr-format 3 turns a PNG into an NGFF 0.5 store with labels that zarrita reads', async () => {
  const out = join(dir, 'zout');
  const r = await unet(['predict', '--model', join(dir, 'model'), '--tile', '64', '--ome-zarr', '--zarr-format', '3', '--out', out, join(dir, 'plain.png')]);
  assert.equal(r.code, 0, r.stderr);
  const path = join(out, 'plain.ome.zarr');
  const labels = JSON.parse(readFileSync(join(path, 'labels/zarr.json'), 'utf8')) as { attributes: { ome: { labels: string[] } } };
  assert.deepEqual(labels.attributes.ome.labels, ['unet_mask']);
  const maskGroup = JSON.parse(readFileSync(join(path, 'labels/unet_mask/zarr.json'), 'utf8')) as { attributes: { ome: { version: string; 'image-label': unknown; multiscales: unknown[] } } };
  assert.equal(maskGroup.attributes.ome.version, '0.5');
  assert.ok(maskGroup.attributes.ome['image-label'], 'image-label metadata');
  const arr = await zarr.open.v3(zarr.root(new FileSystemStore(path)).resolve('labels/unet_mask/0'), { kind: 'array' });
  assert.deepEqual(arr.shape, [30, 20]);
  const mask = await zarr.get(arr, [null, null]);
  assert.ok(Array.from(mask.data as Uint8Array).every((v) => v === 0 || v === 1), 'class indices 0/1');
  const ignored = await unet(['predict', '--model', join(dir, 'model'), '--chunks', '0/2', '--out', out, join(dir, 'plain.png')]);
  assert.equal(ignored.code, 2, '--chunks on a PNG without --ome-zarr is a usage error, not silently ignored');
  assert.match(ignored.stderr, /plain\.png is not an OME-Zarr folder; .*need --ome-zarr/);
});

test('a unet predict killed (SIGKILL) mid-run and rerun leaves the store an uninterrupted run leaves', async () => {
  const ref = join(dir, 'ref.ome.zarr');
  const killed = join(dir, 'killed.ome.zarr');
  cpSync(join(dir, 'image.ome.zarr'), ref, { recursive: true });
  cpSync(join(dir, 'image.ome.zarr'), killed, { recursive: true });
  const args = ['predict', '--model', join(dir, 'model'), '--tile', '64', '--chunk-size', '12', '--outputs', 'mask,prob,instances'];
  const r = await unet([...args, ref]);
  assert.equal(r.code, 0, r.stderr);
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args, killed], { cwd: ROOT, stdio: 'ignore' });
  const doneDir = join(killed, 'unet_work/unet/done');
  const markers = (): number => {
    try {
      return readdirSync(doneDir).filter((n) => n.endsWith('.json')).length;
    } catch {
      return 0;
    }
  };
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (markers() >= 3 || child.exitCode !== null) {
        clearInterval(poll);
        child.kill('SIGKILL');
        resolve();
      }
    }, 20);
  });
  await new Promise((resolve) => child.once('close', resolve));
  const partial = markers();
  assert.ok(partial >= 3 && partial < 30, `the job was killed after ${partial} of 30 chunks (expected part-way)`);
  const rerun = await unet([...args, killed]);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stdout, new RegExp(`${30 - partial} chunk\\(s\\) computed, ${partial} already done`));
  assert.deepEqual(storeDigest(killed), storeDigest(ref), 'killed + rerun equals one uninterrupted run, file for file');
});

function hasSnakemake(): boolean {
  try {
    execFileSync('snakemake', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('Snakemake workflow: 4 chunk jobs + merge equal one unet predict bit for bit; a rerun does nothing', { skip: skipUnless(hasSnakemake() ? false : 'snakemake not found (install Debian snakemake)') }, async () => {
  const single = join(dir, 'single.ome.zarr');
  const wf = join(dir, 'wf.ome.zarr');
  cpSync(join(dir, 'image.ome.zarr'), single, { recursive: true });
  cpSync(join(dir, 'image.ome.zarr'), wf, { recursive: true });
  const r1 = await unet(['predict', '--model', join(dir, 'model'), ...PREDICT, single]);
  assert.equal(r1.code, 0, r1.stderr);
  const config = [
    `images=${wf}`,
    'jobs_per_image=4',
    `out=${join(dir, 'wf-results')}`,
    `unet=${process.execPath} --import ${import.meta.resolve('tsx')} ${CLI}`,
    `model=${join(dir, 'model')}`,
    'outputs=mask,prob,instances',
    'predict_args=--tile 64 --chunk-size 24 --prob-dtype uint8',
  ];
  const snake = ['-s', join(ROOT, 'workflows/snakemake/Snakefile'), '--cores', '2', '--directory', dir, '--config', ...config];
  const s1 = await run('snakemake', snake, dir);
  assert.equal(s1.code, 0, s1.stderr);
  assert.match(s1.stderr, /chunk\s+4/, 'Snakemake ran 4 chunk jobs');
  assert.deepEqual(storeDigest(wf), storeDigest(single), 'the workflow store equals one unet predict, file for file');
  const s2 = await run('snakemake', snake, dir);
  assert.equal(s2.code, 0, s2.stderr);
  assert.match(s2.stderr + s2.stdout, /Nothing to be done/, 'a rerun of a finished workflow runs no job');
});
