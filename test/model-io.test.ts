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
import { float16Bits, makeMetadata, METADATA_JSON, MODEL_JSON, WEIGHTS_BIN } from '../src/io/model-format.js';
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

test('float16Bits: worked examples against IEEE half precision', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // largest half
    [65520, 0x7c00], // rounds up past it: infinity
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -26, 0x0000], // below half of it: zero
    [1 + 2 ** -11, 0x3c00], // exactly between 1 and the next half: ties to even
    [1 + 3 * 2 ** -11, 0x3c02], // between 0x3c01 and 0x3c02: ties to even (up)
    [0.1, 0x2e66],
    [Infinity, 0x7c00],
  ];
  for (const [x, bits] of cases) assert.equal(float16Bits(x), bits, `float16Bits(${x}) = 0x${float16Bits(x).toString(16)}, want 0x${bits.toString(16)}`);
  assert.equal(float16Bits(NaN) & 0x7c00, 0x7c00, 'NaN keeps an all-ones exponent');
  assert.notEqual(float16Bits(NaN) & 0x3ff, 0, 'NaN keeps a non-zero mantissa');
});

test('saveModel with float16: half the weight bytes, weights within half precision, TF.js loads it', async () => {
  const { path, model } = await savedModel('f32');
  const path16 = join(dir, 'f16');
  await saveModel(path16, model, makeMetadata({ config, tileSize: [60, 60], normalization: { kind: 'minmax' }, classNames: ['bg', 'cell', 'edge'] }), { float16: true });
  const [b32, b16] = await Promise.all([readFile(join(path, WEIGHTS_BIN)), readFile(join(path16, WEIGHTS_BIN))]);
  assert.equal(b16.byteLength * 2, b32.byteLength, 'float16 weights.bin is half the size');
  const { model: loaded, metadata } = await loadModel(path16);
  assert.equal(metadata.weightsDtype, 'float16');
  const want = model.getWeights();
  loaded.getWeights().forEach((w, i) => {
    const a = want[i]!.dataSync();
    const b = w.dataSync();
    for (let k = 0; k < a.length; k++) {
      // Half precision keeps 11 significant bits: relative error <= 2^-11 (absolute near zero).
      assert.ok(Math.abs(b[k]! - a[k]!) <= Math.max(Math.abs(a[k]!) * 2 ** -11, 2 ** -25), `weight ${i}[${k}]: ${a[k]} -> ${b[k]}`);
    }
  });
  loaded.dispose();
  model.dispose();
});
