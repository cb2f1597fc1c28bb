/** Cross-validation folds (src/eval/folds.ts), ensembles (src/infer/ensemble.ts), unet predict --model A,B and unet train --folds. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { kFoldSplit, summarizeScores } from '../src/eval/folds.js';
import { ensemblePredictor } from '../src/infer/ensemble.js';
import type { TilePredictor } from '../src/infer/predictor.js';
import { initBackend } from '../src/backend/index.js';
import { readImage } from '../src/io/image.js';
import { makeMetadata } from '../src/io/model-format.js';
import { saveModel } from '../src/io/model-files.js';
import { writePng } from '../src/io/png.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { Rng } from '../src/util/rng.js';
import { syntheticSample } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'unet-folds-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });
const cli = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });

test('kFoldSplit: a seeded partition into folds of near-equal size', () => {
  const folds = kFoldSplit(11, 3, 7);
  assert.equal(folds.length, 3);
  const all = folds.flatMap((f) => f.validation).sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: 11 }, (_, i) => i), 'every item validates exactly once');
  assert.deepEqual(folds.map((f) => f.validation.length).sort(), [3, 4, 4]);
  for (const f of folds) {
    assert.equal(f.train.length + f.validation.length, 11);
    assert.equal(f.train.some((i) => f.validation.includes(i)), false, 'train and validation are disjoint');
  }
  assert.deepEqual(kFoldSplit(11, 3, 7), folds, 'same seed, same split');
  assert.notDeepEqual(kFoldSplit(11, 3, 8).map((f) => f.validation), folds.map((f) => f.validation), 'another seed, another split');
  assert.throws(() => kFoldSplit(2, 3, 1), /kFoldSplit: need at least k = 3 items, got 2/);
  assert.throws(() => kFoldSplit(5, 1, 1), /kFoldSplit: k must be an integer >= 2, got 1/);
  const s = summarizeScores([{ f1: 0.5, name: 'a' }, { f1: 0.7 }]);
  assert.equal(s.f1!.mean, 0.6);
  assert.ok(Math.abs(s.f1!.std - Math.SQRT2 / 10) < 1e-12);
  assert.equal(s.name, undefined);
});

test('ensemblePredictor averages the members on the same tiles and refuses mismatched members', async () => {
  const stub = (p: number, classes = 2): TilePredictor => ({
    inputShape: [4, 4], outputShape: [2, 2], channels: 1, classes, alignment: 1,
    predictBatch: async (_t: Float32Array, n: number) => Float32Array.from({ length: n * 4 * classes }, (_, i) => (i % 2 ? p : 1 - p)),
  });
  const e = ensemblePredictor([stub(0.2), stub(0.6)]);
  const out = await e.predictBatch(new Float32Array(2 * 16), 2);
  assert.equal(out.length, 16);
  for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - (i % 2 ? 0.4 : 0.6)) < 1e-6, `pixel ${i}: ${out[i]}`);
  assert.throws(() => ensemblePredictor([stub(0.2), stub(0.2, 3)]), /ensemblePredictor: member 1 has input 4x4, output 2x2, 1 channel\(s\), 3 classes/);
  assert.throws(() => ensemblePredictor([]), /ensemblePredictor: no members/);
});

async function tinyModel(path: string, seed: number, classNames = ['background', 'disc']): Promise<void> {
  const config = resolveConfig({ depth: 2, baseFilters: 4, classes: classNames.length, inputChannels: 1, padding: 'valid', dropout: 0 });
  const model = buildUNet(config, 52);
  initializeWeights(model, new Rng(seed));
  await saveModel(path, model, makeMetadata({ config, tileSize: [52, 52], normalization: { kind: 'dtype' }, classNames }));
  model.dispose();
}

test('unet predict --model A,B writes the mean of A\'s and B\'s probabilities', async () => {
  await initBackend();
  const a = join(dir, 'A');
  const b = join(dir, 'B');
  await tinyModel(a, 1);
  await tinyModel(b, 2);
  await tinyModel(join(dir, 'C3'), 3, ['a', 'b', 'c']);
  const rng = new Rng(3);
  const image = join(dir, 'img.png');
  await writePng(image, { data: Uint8Array.from({ length: 40 * 44 }, () => rng.int(0, 255)), height: 40, width: 44, channels: 1 });
  const probs = async (model: string, out: string): Promise<Float32Array> => {
    const r = cli('predict', '--model', model, '--out', out, '--outputs', 'prob', image);
    assert.equal(r.status, 0, String(r.stderr));
    return (await readImage(join(out, 'img_prob.tif')))[1]!.data as Float32Array;
  };
  const pa = await probs(a, join(dir, 'pa'));
  const pb = await probs(b, join(dir, 'pb'));
  const pe = await probs(`${a},${b}`, join(dir, 'pe'));
  let maxDiff = 0;
  let spread = 0;
  for (let i = 0; i < pe.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(pe[i]! - (pa[i]! + pb[i]!) / 2));
    spread = Math.max(spread, Math.abs(pa[i]! - pb[i]!));
  }
  assert.ok(spread > 1e-3, 'the two members differ');
  assert.ok(maxDiff < 1e-5, `ensemble differs from the mean of its members by ${maxDiff}`);
  const bad = cli('predict', '--model', `${a},${join(dir, 'C3')}`, '--out', join(dir, 'pbad'), image);
  assert.equal(bad.status, 1);
  assert.match(String(bad.stderr), /C3 cannot be averaged with .*A: classes 3 vs 2/);
});

test('unet train --folds 2 trains one model per fold and reports cross-validated scores', async () => {
  const images = join(dir, 'images');
  const labels = join(dir, 'labels');
  await mkdir(images);
  await mkdir(labels);
  const s = syntheticSample();
  for (const name of ['a', 'b', 'c', 'd']) {
    await writePng(join(images, `${name}.png`), { ...s.image, data: Uint8Array.from(s.image.data, (v) => Math.round(v * 255)) });
    await writePng(join(labels, `${name}.png`), { ...s.labels, data: Uint8Array.from(s.labels.data, (v) => v * 255) });
  }
  const out = join(dir, 'cv');
  const r = cli('train', '--folds', '2', '--images', images, '--labels', labels, '--out', out, '--seed', '3', '--iterations', '2',
    '--depth', '2', '--filters', '4', '--tile', '60', '--validate-every', '2', '--class-names', 'background,disc');
  assert.equal(r.status, 0, String(r.stderr));
  assert.match(String(r.stdout), /^cross-validation, 2 folds \(seed 3\)/m);
  assert.match(String(r.stdout), /^ {2}vRand +mean \d\.\d{4} {2}std \d\.\d{4}/m);
  assert.match(String(r.stdout), /unet predict --model .*fold-0,.*fold-1 --out DIR IMAGES/);
  const doc = JSON.parse(await readFile(join(out, 'folds.json'), 'utf8'));
  assert.equal(doc.folds.length, 2);
  assert.deepEqual(doc.folds.flatMap((f: { validation: string[] }) => f.validation).sort(), ['a', 'b', 'c', 'd']);
  assert.equal(doc.summary.vRand.n, 2);
  assert.ok(doc.folds.every((f: { validationLoss: number | null }) => typeof f.validationLoss === 'number'));
  const meta = JSON.parse(await readFile(join(out, 'fold-1', 'unet.json'), 'utf8'));
  assert.equal(meta.training.trainImages.length, 2);
  const bad = cli('train', '--folds', '2', '--images', images, '--labels', labels, '--out', join(dir, 'cv2'), '--seed', '1', '--iterations', '1', '--depth', '2', '--val-images', images, '--val-labels', labels);
  assert.equal(bad.status, 2);
  assert.match(String(bad.stderr), /--folds makes its own validation sets/);
});
