import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { loadModel, saveModel } from '../src/io/model-files.js';
import { makeMetadata, METADATA_JSON, MODEL_JSON, WEIGHTS_BIN } from '../src/io/model-format.js';
import { Rng } from '../src/util/rng.js';

let dir: string;
before(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'unet-io-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = resolveConfig({ depth: 2, baseFilters: 4, batchNorm: true, classes: 3 });

async function savedModel(sub: string): Promise<{ path: string; model: ReturnType<typeof buildUNet> }> {
  const model = buildUNet(config, 60);
  initializeWeights(model, new Rng(21));
  const path = join(dir, sub);
  const metadata = makeMetadata({ config, tileSize: [60, 60], normalization: { kind: 'range', min: 0, max: 4095 }, classNames: ['bg', 'cell', 'edge'], training: { iterations: 0 } });
  await saveModel(path, model, metadata);
  return { path, model };
}

test('saveModel/loadModel: the round trip reproduces predictions exactly', async () => {
  const { path, model } = await savedModel('a');
  const { model: loaded, metadata } = await loadModel(path);
  const x = tf.randomUniform([2, 60, 60, 1], 0, 1, 'float32', 8);
  const a = (model.predict(x) as tf.Tensor).dataSync();
  const b = (loaded.predict(x) as tf.Tensor).dataSync();
  assert.deepEqual(Array.from(b), Array.from(a), 'predictions after loading');
  assert.deepEqual(metadata.config, config);
  assert.deepEqual(metadata.classNames, ['bg', 'cell', 'edge']);
  assert.deepEqual(metadata.normalization, { kind: 'range', min: 0, max: 4095 });
  assert.deepEqual(metadata.outputSize, [20, 20]);
  assert.ok(metadata.validTileSizes.includes(60) && metadata.validTileSizes.includes(1020));
  const json = JSON.parse(await readFile(join(path, MODEL_JSON), 'utf8'));
  assert.equal(json.format, 'layers-model', 'model.json is the TF.js layers format');
  assert.deepEqual(json.weightsManifest[0].paths, [`./${WEIGHTS_BIN}`]);
});

test('loadModel: missing or mismatched files give errors naming the file', async () => {
  const { path } = await savedModel('b');
  const bin = await readFile(join(path, WEIGHTS_BIN));
  await writeFile(join(path, WEIGHTS_BIN), bin.subarray(0, bin.length - 8));
  await assert.rejects(loadModel(path), new RegExp(`weights.bin has ${bin.length - 8} bytes, model.json describes ${bin.length}`));
  await unlink(join(path, WEIGHTS_BIN));
  await assert.rejects(loadModel(path), /weights\.bin is missing; a model folder holds model\.json, weights\.bin and unet\.json/);
  await writeFile(join(path, METADATA_JSON), '{"format":"something-else"}');
  await assert.rejects(loadModel(path), /unet\.json: not a unet-ts model metadata file/);
  await assert.rejects(loadModel(join(dir, 'nowhere')), /unet\.json is missing/);
});
