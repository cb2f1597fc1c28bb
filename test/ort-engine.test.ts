/**
 * The ONNX Runtime engine behind the TilePredictor interface: the same overlap-tile code gives
 * the same masks as the TF.js path on the bundled samples, the engine choice follows the
 * documented rule, and `unet predict` without the native addon runs on ONNX Runtime.
 *
 * Needs onnxruntime-node (npm). Without the oneDNN addon the TF.js reference runs on the
 * pure-JS backend, so the parity test then uses a 160 x 160 crop of each sample.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { initBackend, type BackendInfo } from '../src/backend/index.js';
import { chooseEngine, openCurrentWeights, openEngine } from '../src/infer/engine.js';
import { defaultInstancePostprocess } from '../src/infer/instances.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import type { TrainingSample } from '../src/train/tiles.js';
import { evaluateValidation } from '../src/train/validation-metric.js';
import { Rng } from '../src/util/rng.js';
import { loadOrt, nchwToNhwc, nhwcToNchw, ortLoadError } from '../src/infer/ort-engine.js';
import { predict } from '../src/infer/predict.js';
import { loadModel } from '../src/io/model-files.js';
import { normalize } from '../src/io/normalize.js';
import { readPng } from '../src/io/png.js';
import type { Raster } from '../src/io/raster.js';
import { maxAbsDiff, skipUnless } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ort = await loadOrt();
const ortSkip = skipUnless(ort ? false : `onnxruntime-node not loadable (${ortLoadError()}); run npm ci`);
let backend: BackendInfo;
const tmp = await mkdtemp(join(tmpdir(), 'unet-ort-'));
before(async () => {
  backend = await initBackend();
});
after(async () => rm(tmp, { recursive: true, force: true }));

function crop<T extends Raster>(r: T, size: number): T {
  if (r.height <= size && r.width <= size) return r;
  const top = Math.floor((r.height - size) / 2);
  const left = Math.floor((r.width - size) / 2);
  const data = new (r.data.constructor as new (n: number) => T['data'])(size * size * r.channels);
  for (let y = 0; y < size; y++) data.set(r.data.subarray(((top + y) * r.width + left) * r.channels, ((top + y) * r.width + left + size) * r.channels), y * size * r.channels);
  return { ...r, data, height: size, width: size };
}

describe('ORT and TF.js engines give the same masks on the bundled samples', { skip: ortSkip }, () => {
  const cases = [
    ['isbi2012-membrane', 'isbi2012-test-00.png'],
    ['isbi2012-membrane', 'isbi2012-train-25.png'],
    ['nuclei-fluo', 'dsb2018-fluo-00071198.png'],
  ] as const;
  for (const [modelName, sample] of cases) {
    test(`${modelName} on samples/${sample} (its training tile, several tiles)`, async () => {
      const { model, metadata } = await loadModel(join(ROOT, 'models', modelName));
      const raw = await readPng(join(ROOT, 'samples', sample));
      const image = normalize(backend.name === 'onednn' ? raw : crop(raw, 160), metadata.normalization);
      const engines = { tfjs: await openEngine('tfjs', model, metadata), ort: await openEngine('ort', model, metadata) };
      const out = { tfjs: await predict(image, engines.tfjs.predictor(metadata.tileSize[0])), ort: await predict(image, engines.ort.predictor(metadata.tileSize[0])) };
      assert.ok(out.ort.grid.tiles.length > 1, `${sample}: expected several tiles, got ${out.ort.grid.tiles.length}`);
      const diff = maxAbsDiff(out.ort.probabilities!.data, out.tfjs.probabilities!.data);
      assert.ok(diff <= 1e-4, `${sample}: ORT vs TF.js probabilities differ by ${diff} > 1e-4`);
      const a = out.ort.mask!.data;
      const b = out.tfjs.mask!.data;
      let differing = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
      assert.equal(differing, 0, `${sample}: ${differing} mask pixels differ between ORT and TF.js`);
      await engines.ort.dispose();
      await engines.tfjs.dispose();
      model.dispose();
    });
  }
});

test('chooseEngine: ONNX Runtime on every backend when it loads, TF.js when forced', { skip: ortSkip }, async () => {
  assert.deepEqual(await chooseEngine('onednn'), { engine: 'ort' });
  assert.deepEqual(await chooseEngine('onednn', 'tfjs'), { engine: 'tfjs' });
  assert.deepEqual(await chooseEngine('cpu'), { engine: 'ort' });
  assert.deepEqual(await chooseEngine('cpu', 'tfjs'), { engine: 'tfjs' });
  assert.deepEqual(await chooseEngine('onednn', 'ort'), { engine: 'ort' });
  await assert.rejects(chooseEngine('cpu', 'tensorrt'), /chooseEngine: engine must be auto, tfjs or ort, got "tensorrt"/);
});

test('validation on ONNX Runtime (openCurrentWeights) scores as on TF.js, and sees weights changed after it was last opened', { skip: ortSkip }, async () => {
  const config = resolveConfig({ depth: 2, baseFilters: 4, classes: 3, dropout: 0 });
  const model = buildUNet(config, 60);
  initializeWeights(model, new Rng(5));
  // Two 50x70 images (several tiles) with blob-shaped instances and labels 0..2.
  const samples: TrainingSample[] = [0, 1].map((k) => {
    const [h, w] = [50, 70];
    const rng = new Rng(10 + k);
    const image = Float32Array.from({ length: h * w }, (_, i) => ((Math.floor(i / w) >> 3) + ((i % w) >> 3) + k) % 2 + 0.1 * rng.uniform());
    const ids = Int32Array.from({ length: h * w }, (_, i) => (image[i]! > 0.5 ? 1 + ((Math.floor(i / w) >> 3) * 9 + ((i % w) >> 3)) : 0));
    const labels = Uint8Array.from(ids, (v, i) => (v === 0 ? 0 : (i % w) % 8 === 0 ? 2 : 1));
    return { name: `s${k}`, image: { data: image, height: h, width: w, channels: 1 }, labels: { data: labels, height: h, width: w, channels: 1 }, instances: ids };
  });
  const metric = { kind: 'instances', postprocess: defaultInstancePostprocess({ targets: 'boundary' }) } as const;
  const score = (engine: 'tfjs' | 'ort') => evaluateValidation(model, samples, metric, { openPredictor: (m) => openCurrentWeights(engine, m) });
  for (const round of [0, 1]) {
    const [a, b] = [await score('tfjs'), await score('ort')];
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.abs(a.loss), `round ${round}: validation loss TF.js ${a.loss}, ORT ${b.loss}`);
    assert.deepEqual(b.metric!.scores, a.metric!.scores, `round ${round}: metric scores`);
    // New weights: the next ORT pass must export them, not reuse the last session's.
    initializeWeights(model, new Rng(6));
  }
  model.dispose();
});

test('nhwcToNchw and nchwToNhwc are inverse and move channel k of pixel i to plane k', () => {
  const nhwc = Float32Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => i);
  const nchw = nhwcToNchw(nhwc, 2, 2, 3, 3);
  // batch 0, channel 1, pixel (0, 2): NHWC index (0 * 3 + 2) * 3 + 1 = 7; NCHW index 1 * 6 + 2 = 8.
  assert.equal(nchw[8], 7);
  assert.deepEqual(nchwToNhwc(nchw, 2, 2, 3, 3), nhwc);
});

test('unet predict runs on ONNX Runtime with or without the native addon and says so; without it one line says why', { skip: ortSkip }, () => {
  const out = join(tmp, 'cli');
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'predict', '--out', out, '--outputs', 'mask', 'samples/dsb2018-fluo-00071198.png', '--model', 'nuclei'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, UNET_BACKEND_NO_NATIVE: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /engine onnxruntime/);
  assert.doesNotMatch(r.stderr, /pure-JS/, 'no fallback note when ONNX Runtime runs');
  // With the addon as well (whatever this machine built): ONNX Runtime unless UNET_ENGINE=tfjs.
  for (const [engine, want] of [[undefined, /engine onnxruntime/], ['tfjs', /, backend (onednn|cpu)\b/]] as const) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.UNET_BACKEND_NO_NATIVE;
    if (engine) env.UNET_ENGINE = engine;
    else delete env.UNET_ENGINE;
    const withAddon = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'predict', '--out', out, '--outputs', 'mask', 'samples/dsb2018-fluo-00071198.png', '--model', 'nuclei'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env });
    assert.equal(withAddon.status, 0, withAddon.stderr);
    assert.match(withAddon.stderr, want, `UNET_ENGINE=${engine ?? '(unset)'}`);
  }
  // Without ONNX Runtime either: one line naming why, then TF.js (stopped here by a bad --tile, checked after the engine is chosen).
  const slow = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'predict', '--out', out, '--tile', '571', 'samples/dsb2018-fluo-00071198.png'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, UNET_BACKEND_NO_NATIVE: '1', UNET_NO_ORT: '1' },
  });
  assert.equal(slow.status, 2, slow.stderr);
  const notes = slow.stderr.split('\n').filter((l) => l.startsWith('unet predict: ') && !l.includes('not a valid'));
  assert.deepEqual(notes, [`unet predict: onnxruntime-node disabled by UNET_NO_ORT=1; predicting with TF.js on the 'cpu' backend (slow; npm ci installs onnxruntime-node)`]);
});

test('openEngine tfjs: disposing a predictor and then the engine is safe (predict disposes both)', async () => {
  const { model, metadata } = await loadModel(join(ROOT, 'models', 'nuclei-fluo'));
  const engine = await openEngine('tfjs', model, metadata);
  const p = engine.predictor(252); // a rebuilt net (the model was built for 316)
  p.dispose();
  await engine.dispose();
  model.dispose();
});
