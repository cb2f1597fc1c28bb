import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initBackend } from '../src/backend/index.js';
import { predict } from '../src/infer/predict.js';
import { unetPredictor } from '../src/infer/predictor.js';
import { readImage, writeTiff } from '../src/io/image.js';
import { makeMetadata } from '../src/io/model-format.js';
import { saveModel } from '../src/io/model-files.js';
import { normalize } from '../src/io/normalize.js';
import { writePng } from '../src/io/png.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { Rng } from '../src/util/rng.js';
import { maxAbsDiff, runCli, noiseImage } from './helpers.js';

const CONFIG = resolveConfig({ depth: 2, baseFilters: 4, classes: 2, inputChannels: 1, padding: 'valid', dropout: 0 });
let dir = '';


before(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'unet-predict-'));
  const model = buildUNet(CONFIG, 52);
  initializeWeights(model, new Rng(5));
  await saveModel(join(dir, 'model'), model, makeMetadata({ config: CONFIG, tileSize: [52, 52], normalization: { kind: 'dtype' }, classNames: ['background', 'cell'] }));
  model.dispose();
  const rng = new Rng(6);
  await writePng(join(dir, 'cells.png'), noiseImage(rng, 37, 45));
  await writeTiff(join(dir, 'stack.tif'), [noiseImage(rng, 20, 30), noiseImage(rng, 20, 30)]);
  await writeFile(join(dir, 'broken.png'), 'not an image');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('unet predict writes mask, float TIFF probabilities, instances and overlay that match the library', async () => {
  const out = join(dir, 'out');
  const r = await runCli(['predict', '--model', join(dir, 'model'), '--out', out, '--outputs', 'prob,mask,instances,overlay', '--tile', '60', '--batch', '2', join(dir, 'cells.png'), join(dir, 'stack.tif')]);
  assert.equal(r.code, 0, r.stderr);
  const expected = [
    'cells_mask.png', 'cells_prob.tif', 'cells_instances.png', 'cells_overlay.png',
    ...['000', '001'].flatMap((z) => [`stack_z${z}_mask.png`, `stack_z${z}_prob.tif`, `stack_z${z}_instances.png`, `stack_z${z}_overlay.png`]),
  ];
  assert.deepEqual(readdirSync(out).sort(), expected.sort());

  // Same numbers as the library with another tile size (valid overlap-tile is exact).
  const { loadModel } = await import('../src/io/model-files.js');
  const { model, metadata } = await loadModel(join(dir, 'model'));
  const [img] = await readImage(join(dir, 'cells.png'));
  const lib = await predict(normalize(img!, metadata.normalization), unetPredictor(model, metadata.config));
  const prob = await readImage(join(out, 'cells_prob.tif'));
  assert.equal(prob.length, 2, 'one TIFF page per class');
  assert.ok(prob[1]!.data instanceof Float32Array);
  const fromFile = new Float32Array(37 * 45 * 2);
  for (let i = 0; i < 37 * 45; i++) {
    fromFile[2 * i] = prob[0]!.data[i]!;
    fromFile[2 * i + 1] = prob[1]!.data[i]!;
  }
  assert.ok(maxAbsDiff(fromFile, lib.probabilities!.data) < 1e-5);
  const [mask] = await readImage(join(out, 'cells_mask.png'));
  assert.deepEqual([...mask!.data], [...lib.mask!.data]);
  const [instances] = await readImage(join(out, 'cells_instances.png'));
  assert.ok(instances!.data instanceof Uint16Array, '16-bit instance ids');
  for (let i = 0; i < mask!.data.length; i++) assert.equal(instances!.data[i]! > 0, mask!.data[i] === 1, 'instances cover exactly the foreground');
  const [ov] = await readImage(join(out, 'cells_overlay.png'));
  assert.equal(ov!.channels, 3);
  assert.equal(ov!.height, 37);
  model.dispose();
});

test('unet predict: clear errors (invalid tile, unreadable image) and no partial outputs', async () => {
  const out = join(dir, 'out-errors');
  const badTile = await runCli(['predict', '--model', join(dir, 'model'), '--out', out, '--tile', '50', join(dir, 'cells.png')]);
  assert.equal(badTile.code, 2);
  assert.match(badTile.stderr, /predict: tile 50 is not a valid U-Net input \(depth 2, valid padding\); nearest valid sizes are 48 and 52/);
  const broken = await runCli(['predict', '--model', join(dir, 'model'), '--out', out, join(dir, 'broken.png')]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /broken\.png/);
  assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'nothing written for a bad input');
});
