/**
 * ONNX export, checked two independent ways: Debian python3-onnx's checker (full check, in a
 * child process) and onnxruntime-node running the graph, whose probabilities must equal
 * unet-ts' own (TF.js softmax of the layers model) to 1e-4, on both bundled models and on
 * small random nets of every option.
 *
 * Needs: python3 with the onnx module (Debian python3-onnx) for the checker test, and
 * onnxruntime-node (npm) for the runtime tests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { affineNormalization, decodeOnnx, exportOnnx, ONNX_OPSET } from '../src/export/onnx.js';
import { loadOrt, ortLoadError } from '../src/infer/ort-engine.js';
import { loadModel } from '../src/io/model-files.js';
import { makeMetadata, type ModelMetadata } from '../src/io/model-format.js';
import type { Normalization } from '../src/io/normalize.js';
import { resolveConfig, type UNetConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet, withInputSize } from '../src/model/unet.js';
import { Rng } from '../src/util/rng.js';
import { maxAbsDiff, skipUnless } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ort = await loadOrt();
const ortSkip = skipUnless(ort ? false : `onnxruntime-node not loadable (${ortLoadError()}); run npm ci`);

/** A python3 whose onnx module imports, or null. */
function pythonWithOnnx(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import onnx'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}
const python = pythonWithOnnx();
const pythonSkip = skipUnless(python ? false : 'python3 with the onnx module not found (install Debian python3-onnx)');

/** A random net of `partial`'s options, with random (seeded) batch-norm statistics too. */
function randomNet(partial: Partial<UNetConfig>, tile: number, seed: number): { model: tfl.LayersModel; metadata: ModelMetadata } {
  const config = resolveConfig(partial);
  const model = buildUNet(config, tile);
  const rng = new Rng(seed);
  initializeWeights(model, rng);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const [gamma, beta, mean, variance] = layer.getWeights().map((w) => w.size);
    layer.setWeights([
      tf.tensor1d(Array.from({ length: gamma! }, () => rng.normal(1, 0.2))),
      tf.tensor1d(Array.from({ length: beta! }, () => rng.normal(0, 0.2))),
      tf.tensor1d(Array.from({ length: mean! }, () => rng.normal(0, 0.3))),
      tf.tensor1d(Array.from({ length: variance! }, () => 0.5 + rng.uniform())),
    ]);
  }
  return { model, metadata: makeMetadata({ config, tileSize: [tile, tile], normalization: { kind: 'range', min: 0, max: 1000 } }) };
}

/** Raw intensities in [0, maxValue], seeded, [n, h, w, c]. */
function rawImage(n: number, h: number, w: number, c: number, maxValue: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  // Smooth structure plus noise, so the nets see something image-like.
  return Float32Array.from({ length: n * h * w * c }, (_, i) => Math.round(maxValue * (0.5 + 0.3 * Math.sin(i * 0.37) * Math.cos(i * 0.011) + 0.2 * (rng.uniform() - 0.5))));
}

/** TF.js probabilities (NHWC) of `model` on raw `x` after the fixed affine map of `normalization`. */
function tfProbabilities(model: tfl.LayersModel, xNHWC: Float32Array, shape: [number, number, number, number], normalization: Normalization): Float32Array {
  const affine = affineNormalization(normalization)!;
  return tf.tidy(() => {
    const x = tf.add(tf.mul(tf.tensor4d(xNHWC, shape), affine.scale), affine.offset);
    return tf.softmax(model.predict(x) as tf.Tensor4D).dataSync() as Float32Array;
  });
}

/** ONNX Runtime probabilities of `onnx` on raw `x`, returned NHWC. */
async function ortProbabilities(onnx: Uint8Array, xNHWC: Float32Array, [n, h, w, c]: [number, number, number, number], classes: number): Promise<{ values: Float32Array; dims: readonly number[] }> {
  const session = await ort!.InferenceSession.create(onnx);
  try {
    const x = tf.tidy(() => tf.transpose(tf.tensor4d(xNHWC, [n, h, w, c]), [0, 3, 1, 2]).dataSync() as Float32Array);
    const out = (await session.run({ image: new ort!.Tensor('float32', x, [n, c, h, w]) })).probabilities!;
    const dims = out.dims;
    assert.equal(dims[1], classes, 'ORT output: class axis');
    const values = tf.tidy(() => tf.transpose(tf.tensor4d(out.data as Float32Array, dims as [number, number, number, number]), [0, 2, 3, 1]).dataSync() as Float32Array);
    return { values, dims };
  } finally {
    await session.release();
  }
}

const CASES: { name: string; config: Partial<UNetConfig>; tile: number; runAt: number }[] = [
  { name: 'valid padding, depth 2', config: { depth: 2, baseFilters: 4 }, tile: 44, runAt: 60 },
  { name: 'same padding', config: { depth: 2, baseFilters: 4, padding: 'same' }, tile: 32, runAt: 48 },
  { name: 'batch norm', config: { depth: 2, baseFilters: 4, batchNorm: true }, tile: 44, runAt: 44 },
  { name: '3 channels, 3 classes', config: { depth: 1, baseFilters: 3, inputChannels: 3, classes: 3 }, tile: 28, runAt: 36 },
  { name: 'all options, depth 3', config: { depth: 3, baseFilters: 2, padding: 'same', batchNorm: true, inputChannels: 3, classes: 3, dropout: 0 }, tile: 32, runAt: 40 },
];

const tmp = await mkdtemp(join(tmpdir(), 'unet-onnx-'));
after(async () => rm(tmp, { recursive: true, force: true }));
before(async () => {
  await initBackend();
});

describe('ONNX export on onnxruntime-node equals TF.js (max abs diff <= 1e-4)', { skip: ortSkip }, () => {
  for (const c of CASES) {
    test(`random net: ${c.name}, run at ${c.runAt} (built for ${c.tile}), batch 2`, async () => {
      const { model, metadata } = randomNet(c.config, c.tile, 11);
      const onnx = exportOnnx(model, metadata);
      const cfg = metadata.config;
      // The graph has dynamic spatial size: compare against the TF.js net rebuilt for runAt.
      const atSize = c.runAt === c.tile ? model : withInputSize(model, cfg, c.runAt);
      const shape: [number, number, number, number] = [2, c.runAt, c.runAt, cfg.inputChannels];
      const x = rawImage(...shape, 1000, 5);
      const expected = tfProbabilities(atSize, x, shape, metadata.normalization);
      const got = await ortProbabilities(onnx, x, shape, cfg.classes);
      assert.equal(got.values.length, expected.length, `${c.name}: output size (ORT dims [${got.dims.join(', ')}])`);
      const diff = maxAbsDiff(got.values, expected);
      assert.ok(diff <= 1e-4, `${c.name}: ORT vs TF.js max abs diff ${diff} > 1e-4`);
      // Not a degenerate net: the probabilities vary.
      assert.ok(Math.max(...expected) - Math.min(...expected) > 0.05, `${c.name}: probabilities nearly constant, the comparison would be weak`);
      if (atSize !== model) atSize.dispose();
      model.dispose();
    });
  }

  for (const name of ['isbi2012-membrane', 'nuclei-fluo']) {
    test(`bundled model ${name} (float16 weights, 'dtype' normalisation in the graph) at 252 x 268`, async () => {
      const { model, metadata } = await loadModel(join(ROOT, 'models', name));
      const onnx = exportOnnx(model, metadata);
      const atSize = withInputSize(model, metadata.config, [252, 268]);
      const shape: [number, number, number, number] = [1, 252, 268, 1];
      const x = rawImage(...shape, 255, 3);
      const expected = tfProbabilities(atSize, x, shape, metadata.normalization);
      const K = metadata.config.classes;
      const got = await ortProbabilities(onnx, x, shape, K);
      assert.deepEqual(got.dims, [1, K, 252 - 184, 268 - 184], `${name}: ORT output dims`);
      const diff = maxAbsDiff(got.values, expected);
      assert.ok(diff <= 1e-4, `${name}: ORT vs TF.js max abs diff ${diff} > 1e-4`);
      atSize.dispose();
      model.dispose();
    });
  }
});

describe('ONNX export passes onnx.checker.check_model(full_check=True)', { skip: pythonSkip }, () => {
  test('every random net and both bundled models', async () => {
    const files: string[] = [];
    for (const [i, c] of CASES.entries()) {
      const { model, metadata } = randomNet(c.config, c.tile, 3);
      const file = join(tmp, `case${i}.onnx`);
      await writeFile(file, exportOnnx(model, metadata));
      files.push(file);
      model.dispose();
    }
    for (const name of ['isbi2012-membrane', 'nuclei-fluo']) {
      const { model, metadata } = await loadModel(join(ROOT, 'models', name));
      const file = join(tmp, `${name}.onnx`);
      await writeFile(file, exportOnnx(model, metadata));
      files.push(file);
      model.dispose();
    }
    const script = [
      'import sys, onnx',
      'for f in sys.argv[1:]:',
      '    m = onnx.load(f)',
      '    onnx.checker.check_model(m, full_check=True)',
      '    print(f, m.opset_import[0].version, [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim])',
    ].join('\n');
    const r = spawnSync(python!, ['-c', script, ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, `onnx.checker failed:\n${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, files.length, `checker output: ${r.stdout}`);
    for (const line of lines) assert.match(line, new RegExp(` ${ONNX_OPSET} \\['batch', [13], 'height', 'width'\\]$`), `opset and dynamic input dims: ${line}`);
  });
});

test('metadata_props carry the normalisation; per-image normalisation stays out of the graph', () => {
  const { model, metadata } = randomNet({ depth: 1, baseFilters: 2 }, 28, 1);
  const fixed = decodeOnnx(exportOnnx(model, metadata)) as { metadata_props: { key: string; value: string }[]; graph: { node: { op_type: string }[] } };
  const props = Object.fromEntries(fixed.metadata_props.map((p) => [p.key, p.value]));
  assert.deepEqual(JSON.parse(props['unet-ts.normalization']!), { kind: 'range', min: 0, max: 1000 });
  assert.equal(props['unet-ts.normalization_applied'], 'in-graph');
  assert.deepEqual(fixed.graph.node.slice(0, 2).map((n) => n.op_type), ['Mul', 'Add']);
  assert.equal(fixed.graph.node.at(-1)!.op_type, 'Softmax');

  const perImage = decodeOnnx(exportOnnx(model, { ...metadata, normalization: { kind: 'percentile', low: 1, high: 99 } })) as typeof fixed;
  const p2 = Object.fromEntries(perImage.metadata_props.map((p) => [p.key, p.value]));
  assert.equal(p2['unet-ts.normalization_applied'], 'caller');
  assert.deepEqual(JSON.parse(p2['unet-ts.normalization']!), { kind: 'percentile', low: 1, high: 99 });
  assert.equal(perImage.graph.node[0]!.op_type, 'Conv', 'no Mul/Add for a per-image normalisation');
  model.dispose();
});

test('affineNormalization: dtype, range and fixed meanstd are affine; per-image kinds are not', () => {
  assert.deepEqual(affineNormalization({ kind: 'dtype' }), { scale: 1 / 255, offset: 0 });
  assert.deepEqual(affineNormalization({ kind: 'dtype' }, 'uint16'), { scale: 1 / 65535, offset: 0 });
  assert.deepEqual(affineNormalization({ kind: 'meanstd', mean: 10, std: 2 }), { scale: 0.5, offset: -5 });
  const r = affineNormalization({ kind: 'range', min: 100, max: 300 })!;
  assert.ok(Math.abs(100 * r.scale + r.offset) < 1e-12 && Math.abs(300 * r.scale + r.offset - 1) < 1e-12, 'range maps min to 0 and max to 1');
  assert.equal(affineNormalization({ kind: 'minmax' }), null);
  assert.equal(affineNormalization({ kind: 'meanstd' }), null);
  assert.equal(affineNormalization({ kind: 'percentile', low: 1, high: 99 }), null);
});

test('unet export nuclei --format onnx writes a graph ONNX Runtime runs; bad --format is a usage error', { skip: ortSkip }, async () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  const file = join(tmp, 'cli', 'nuclei.onnx');
  const r = cli('export', 'nuclei', '--format', 'onnx', '--out', file);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /wrote .*nuclei\.onnx .*opset 17, normalisation dtype/);
  const session = await ort!.InferenceSession.create(file);
  assert.deepEqual([session.inputNames, session.outputNames], [['image'], ['probabilities']]);
  await session.release();
  const bad = cli('export', 'nuclei', '--format', 'tflite', '--out', file);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--format must be onnx or bioimageio, got "tflite"/);
});
