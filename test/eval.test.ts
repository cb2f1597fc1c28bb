/** Pairing `unet predict` outputs with labels by stem, and the evaluation tables (src/eval/evaluate.ts, unet evaluate). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
