/** Pairing `unet predict` outputs with labels by stem, and the evaluation tables (src/eval/evaluate.ts, unet evaluate). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { evaluatePairs, formatCell, formatCsv, pairPredictions, parsePredictionName } from '../src/eval/evaluate.js';
import { writePng } from '../src/io/png.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'unet-eval-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const H = 24;
const W = 24;
/** ISBI-style label: 255 interior, a membrane column at x = 12 (0). */
function label(shift = 0): Uint8Array {
  const d = new Uint8Array(H * W).fill(255);
  for (let y = 0; y < H; y++) d[y * W + 12 + shift] = 0;
  return d;
}
const png = (path: string, data: Uint8Array | Uint16Array): Promise<void> => writePng(path, { data, height: H, width: W, channels: 1 });

test('parsePredictionName: the file names unet predict writes', () => {
  assert.deepEqual(parsePredictionName('/x/slice_07_prob_cell.png'), { stem: 'slice_07', kind: 'probClass', className: 'cell' });
  assert.deepEqual(parsePredictionName('a_prob.tif'), { stem: 'a', kind: 'probTiff' });
  assert.deepEqual(parsePredictionName('train_25_prob.png'), { stem: 'train_25', kind: 'prob' });
  assert.deepEqual(parsePredictionName('a_mask.png'), { stem: 'a', kind: 'mask' });
  assert.deepEqual(parsePredictionName('a_instances.tif'), { stem: 'a', kind: 'instances' });
  assert.deepEqual(parsePredictionName('a_overlay.png'), { stem: 'a', kind: 'overlay' });
  assert.deepEqual(parsePredictionName('a.png'), { stem: 'a', kind: 'plain' });
  assert.deepEqual(parsePredictionName('_mask.png'), { stem: '_mask', kind: 'plain' });
  assert.equal(formatCell(0.000353), '3.53e-4');
  assert.equal(formatCell(0.96312), '0.9631');
  assert.equal(formatCell(NaN), 'n/a');
});

test('pairPredictions: a predict output folder pairs by stem and picks the output for the mode', async () => {
  const truth = join(dir, 'truth');
  const pred = join(dir, 'pred');
  await mkdir(truth, { recursive: true });
  await mkdir(pred, { recursive: true });
  for (const s of ['s1', 's2', 's3']) await png(join(truth, `${s}.png`), label());
  for (const s of ['s1', 's2']) {
    // Cell probability = the label; membrane probability its complement; mask class indices.
    await png(join(pred, `${s}_prob_cell.png`), label(s === 's2' ? 1 : 0));
    await png(join(pred, `${s}_prob_membrane.png`), label().map((v) => 255 - v));
    await png(join(pred, `${s}_mask.png`), label().map((v) => (v ? 1 : 0)));
    await png(join(pred, `${s}_overlay.png`), label());
  }
  const membrane = await pairPredictions(pred, truth, { mode: 'membrane' });
  assert.deepEqual(membrane.map((p) => [p.name, p.pred.slice(pred.length + 1), p.kind]), [['s1', 's1_prob_cell.png', 'probClass'], ['s2', 's2_prob_cell.png', 'probClass']]);
  const classes = await pairPredictions(pred, truth, { mode: 'classes' });
  assert.deepEqual(classes.map((p) => p.pred.slice(pred.length + 1)), ['s1_mask.png', 's2_mask.png']);
  const chosen = await pairPredictions(pred, truth, { mode: 'membrane', predClass: 'membrane' });
  assert.deepEqual(chosen.map((p) => p.pred.slice(pred.length + 1)), ['s1_prob_membrane.png', 's2_prob_membrane.png']);
  await assert.rejects(pairPredictions(pred, truth, { mode: 'membrane', predClass: 'nope' }), /no s1_prob_nope\.png in .* \(found s1_prob_cell\.png, s1_prob_membrane\.png\)/);
  await assert.rejects(pairPredictions(pred, truth, { mode: 'instances' }), /no prediction in .* pairs with a truth file .* for mode instances/);

  const r = await evaluatePairs(membrane, { mode: 'membrane' });
  assert.equal(r.rows[0]!.vRand, 1, 's1 is perfect');
  assert.equal(r.rows[0]!.warpingError, 0);
  // s2's membrane is shifted by one column: pixel error > 0 but no topological error.
  assert.ok((r.rows[1]!.pixelError as number) > 0);
  assert.equal(r.rows[1]!.warpingError, 0);
  assert.equal(r.summary[1]!.image, 'stack');
  assert.match(formatCsv(r.rows, r.columns), /^image,vRand,.*warpingError,warpSplits,warpMergers,warpClustered\n/);
  // The mask scored in membrane mode (no probabilities) gives the same topology.
  const maskOnly = await evaluatePairs([{ ...membrane[0]!, pred: join(pred, 's1_mask.png'), kind: 'mask' }], { mode: 'membrane' });
  assert.equal(maskOnly.rows[0]!.vRand, 1);
  assert.equal(maskOnly.rows[0]!.warpingError, 0);

  await writeFile(join(pred, 'zz.png'), await readFile(join(truth, 's1.png')));
  await assert.rejects(pairPredictions(pred, truth, { mode: 'membrane' }), /no truth file in .* for: zz\.png/);
  await rm(join(pred, 'zz.png'));
});

test('unet evaluate: a predict output folder with a split prints warping columns, JSON has the classification', async () => {
  const truth = join(dir, 'cli-truth');
  const pred = join(dir, 'cli-pred');
  await mkdir(truth, { recursive: true });
  await mkdir(pred, { recursive: true });
  // Truth: one cell (a frame of membrane); prediction: a membrane row cuts it in two.
  const t = new Uint8Array(H * W).fill(255);
  const p = new Uint16Array(H * W).fill(65535);
  for (let x = 0; x < W; x++) p[10 * W + x] = 0;
  await png(join(truth, 'a.png'), t);
  await png(join(pred, 'a_prob_cell.png'), p);
  const json = join(dir, 'm.json');
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'evaluate', '--pred', pred, '--truth', truth, '--json', json], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /warpingError\s+warpSplits\s+warpMergers\s+warpClustered/);
  const doc = JSON.parse(await readFile(json, 'utf8'));
  assert.equal(doc.images[0].warping.errorPixels, 1);
  assert.equal(doc.images[0].warping.splits, 1);
  assert.equal(doc.stack.warping.splits, 1);
  assert.equal(doc.images[0].pred, join(pred, 'a_prob_cell.png'));
  const bad = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'evaluate', '--pred', pred, '--truth', truth, '--warping-threshold', 'x'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--warping-threshold must be a number, got "x"/);
});

test('unet predict --evaluate scores its outputs as unet evaluate does on the same folder, with no renaming', async () => {
  const { initBackend } = await import('../src/backend/index.js');
  const { makeMetadata } = await import('../src/io/model-format.js');
  const { saveModel } = await import('../src/io/model-files.js');
  const { resolveConfig } = await import('../src/model/config.js');
  const { initializeWeights } = await import('../src/model/init.js');
  const { buildUNet } = await import('../src/model/unet.js');
  const { Rng } = await import('../src/util/rng.js');
  await initBackend();
  const config = resolveConfig({ depth: 2, baseFilters: 4, classes: 2, inputChannels: 1, padding: 'valid', dropout: 0 });
  const model = buildUNet(config, 52);
  initializeWeights(model, new Rng(5));
  const modelDir = join(dir, 'tiny-model');
  await saveModel(modelDir, model, makeMetadata({ config, tileSize: [52, 52], normalization: { kind: 'dtype' }, classNames: ['membrane', 'cell'] }));
  model.dispose();
  const images = join(dir, 'pe-images');
  const labels = join(dir, 'pe-labels');
  await mkdir(images, { recursive: true });
  await mkdir(labels, { recursive: true });
  const rng = new Rng(7);
  for (const s of ['p1', 'p2']) {
    await png(join(images, `${s}.png`), Uint8Array.from({ length: H * W }, () => rng.int(0, 255)));
    await png(join(labels, `${s}.png`), label());
  }
  await png(join(labels, 'unused.png'), label());
  const out = join(dir, 'pe-out');
  const cli = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  const a = cli('predict', '--model', modelDir, '--out', out, '--evaluate', labels, '--json', join(dir, 'pe-a.json'), images);
  assert.equal(a.status, 0, String(a.stderr));
  assert.ok(existsSync(join(out, 'p1_prob_cell.png')), 'membrane mode adds png16 probabilities');
  assert.match(String(a.stdout), /^p1 .*\n^p2 .*\n^mean/m);
  const b = cli('evaluate', '--pred', out, '--truth', labels, '--json', join(dir, 'pe-b.json'));
  assert.equal(b.status, 0, String(b.stderr));
  const ja = JSON.parse(await readFile(join(dir, 'pe-a.json'), 'utf8'));
  const jb = JSON.parse(await readFile(join(dir, 'pe-b.json'), 'utf8'));
  assert.deepEqual(ja.table, jb.table);
  assert.equal(ja.images[0].pred, join(out, 'p1_prob_cell.png'));
  const bad = cli('predict', '--model', modelDir, '--out', join(dir, 'pe-bad'), '--evaluate', labels, '--mode', 'nope', images);
  assert.equal(bad.status, 2);
  assert.match(String(bad.stderr), /--mode must be membrane, instances or classes, got "nope"/);
  assert.equal(existsSync(join(dir, 'pe-bad')), false, 'a bad evaluate option fails before predicting');
});
