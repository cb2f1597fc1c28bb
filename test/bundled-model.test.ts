/**
 * The bundled models must load, match their metadata and segment an image they never saw
 * well: the membrane model (models/isbi2012-membrane) an ISBI validation slice
 * (samples/isbi2012-train-25.png), the nuclei model (models/nuclei-fluo) a held-out DSB 2018
 * image (samples/dsb2018-fluo-00071198.png). The bounds sit below what the models scored
 * when they were trained (README, unet.json).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { initBackend } from '../src/backend/index.js';
import { loadModel } from '../src/io/model-files.js';
import { normalize } from '../src/io/normalize.js';
import { readPng } from '../src/io/png.js';
import { predict } from '../src/infer/predict.js';
import { unetPredictor } from '../src/infer/predictor.js';
import { matchInstances } from '../src/metrics/instances.js';
import { isbiSliceScores } from '../src/metrics/isbi.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL = join(ROOT, 'models/isbi2012-membrane');

before(async () => {
  await initBackend();
});

test('bundled membrane model segments an unseen ISBI slice (V_rand > 0.85, pixel error < 0.12)', async () => {
  const { model, metadata } = await loadModel(MODEL);
  assert.deepEqual(metadata.classNames, ['membrane', 'cell']);
  assert.ok(!(metadata.training?.trainImages as string[]).includes('train_25'), 'slice 25 is validation data');
  const raw = await readPng(join(ROOT, 'samples/isbi2012-train-25.png'));
  const label = await readPng(join(ROOT, 'samples/isbi2012-train-25-label.png'));
  const image = normalize(raw, metadata.normalization);
  const { probabilities } = await predict(image, unetPredictor(model, metadata.config), { outputs: { probabilities: true, mask: false } });
  const cell = new Float32Array(raw.height * raw.width);
  for (let i = 0; i < cell.length; i++) cell[i] = probabilities!.data[2 * i + 1]!;
  const truth = Uint8Array.from(label.data, (v) => (v > 127 ? 1 : 0));
  const s = isbiSliceScores(truth, cell, raw.height, raw.width);
  assert.ok(s.vRand > 0.85, `bundled model: V_rand ${s.vRand} on train_25`);
  assert.ok(s.pixelError < 0.12, `bundled model: pixel error ${s.pixelError} on train_25`);
});

test('README main job: unet predict with no --model segments the bundled sample', async () => {
  const out = await mkdtemp(join(tmpdir(), 'unet-main-'));
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'predict', 'samples/isbi2012-test-00.png', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['isbi2012-test-00_mask.png', 'isbi2012-test-00_overlay.png']) assert.ok(existsSync(join(out, f)), `${f} written`);
    const mask = await readPng(join(out, 'isbi2012-test-00_mask.png'));
    let cells = 0;
    for (const v of mask.data) cells += v;
    const cellFraction = cells / mask.data.length;
    assert.ok(cellFraction > 0.6 && cellFraction < 0.95, `cell fraction of the mask ${cellFraction} (ISBI slices are ~78% cell)`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('unet predict --model nuclei separates the nuclei of a held-out DSB 2018 image (F1 at IoU 0.5 > 0.55)', async () => {
  const out = await mkdtemp(join(tmpdir(), 'unet-nuclei-'));
  try {
    const { metadata } = await loadModel(join(ROOT, 'models/nuclei-fluo'));
    assert.ok(!(metadata.training?.trainImages as string[]).some((n) => n.startsWith('00071198')), 'the sample is held-out test data');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'predict', '--model', 'nuclei', '--outputs', 'instances', '--out', out, 'samples/dsb2018-fluo-00071198.png'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const pred = await readPng(join(out, 'dsb2018-fluo-00071198_instances.png'));
    const truth = await readPng(join(ROOT, 'samples/dsb2018-fluo-00071198-label.png'));
    const m = matchInstances(truth.data, pred.data);
    assert.ok(m.f1 > 0.55, `nuclei model: F1 ${m.f1} (tp ${m.tp}, fp ${m.fp}, fn ${m.fn}) on the held-out sample`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
