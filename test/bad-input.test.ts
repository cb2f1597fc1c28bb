/**
 * Bad input never produces a result silently: each case below must exit non-zero with a
 * message naming the file and the problem, and leave no output files behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync, existsSync, rmSync, cpSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { initBackend } from '../src/backend/index.js';
import { decodeImage, encodeTiff } from '../src/io/image-codecs.js';
import { encodePng } from '../src/io/png.js';
import { makeMetadata } from '../src/io/model-format.js';
import { saveModel } from '../src/io/model-files.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { predict } from '../src/infer/predict.js';
import { unetPredictor } from '../src/infer/predictor.js';
import { Rng } from '../src/util/rng.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
const unet = (...args: string[]): { status: number | null; stderr: string } => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr };
};

let dir: string;
let model: string;
let rangeModel: string;
const config = resolveConfig({ depth: 2, baseFilters: 4 });
const gray = (h: number, w: number, v = 100): Uint8Array => encodePng({ data: new Uint8Array(h * w).fill(v), height: h, width: w, channels: 1 });

before(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'unet-bad-'));
  model = join(dir, 'model');
  const m = buildUNet(config, 60);
  initializeWeights(m, new Rng(1));
  await saveModel(model, m, makeMetadata({ config, tileSize: [60, 60], normalization: { kind: 'dtype' } }));
  rangeModel = join(dir, 'range-model');
  await saveModel(rangeModel, m, makeMetadata({ config, tileSize: [60, 60], normalization: { kind: 'range', min: 0, max: 1 } }));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface PredictCase {
  readonly name: string;
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly error: RegExp;
  readonly model?: (dir: string) => string;
}

const f32 = Float32Array.from({ length: 16 }, (_, i) => (i === 5 ? Number.NaN : 0.5));
const png = gray(8, 8);
const PREDICT_CASES: PredictCase[] = [
  { name: 'truncated PNG', file: 'cut.png', bytes: png.subarray(0, png.length - 20), error: /cut\.png: not a readable PNG/ },
  { name: 'random bytes named .png', file: 'noise.png', bytes: Uint8Array.from({ length: 300 }, (_, i) => (i * 7919) % 251), error: /noise\.png: not a PNG, JPEG or TIFF file/ },
  { name: 'empty file', file: 'empty.tif', bytes: new Uint8Array(0), error: /empty\.tif: .*the file is empty/ },
  {
    name: 'NaN in a float TIFF',
    file: 'nan.tif',
    bytes: encodeTiff([{ data: f32, height: 4, width: 4, channels: 1 }]),
    error: /nan\.tif has a non-finite value/,
    // A float image needs an explicit range (the 8/16-bit 'dtype' rule refuses floats outright).
    model: () => rangeModel,
  },
  {
    name: 'float TIFF for a model normalised by integer type',
    file: 'float.tif',
    bytes: encodeTiff([{ data: new Float32Array(16).fill(0.5), height: 4, width: 4, channels: 1 }]),
    error: /float\.tif holds Float32Array values; 'dtype' normalisation needs 8- or 16-bit integers/,
  },
  { name: 'RGB image for a gray model', file: 'rgb.png', bytes: encodePng({ data: new Uint8Array(8 * 8 * 3).fill(9), height: 8, width: 8, channels: 3 }), error: /rgb\.png has 3 channel\(s\), the model takes 1/ },
  {
    name: 'model folder without weights.bin',
    file: 'ok.png',
    bytes: gray(8, 8),
    error: /weights\.bin is missing/,
    model: (d) => {
      const m = join(d, 'no-weights');
      cpSync(model, m, { recursive: true });
      rmSync(join(m, 'weights.bin'));
      return m;
    },
  },
  {
    name: 'model folder with truncated weights',
    file: 'ok.png',
    bytes: gray(8, 8),
    error: /weights\.bin has \d+ bytes, model\.json describes \d+/,
    model: (d) => {
      const m = join(d, 'short-weights');
      cpSync(model, m, { recursive: true });
      writeFileSync(join(m, 'weights.bin'), new Uint8Array(100));
      return m;
    },
  },
];

for (const c of PREDICT_CASES) {
  test(`unet predict, ${c.name}: clear error, non-zero exit, no output files`, () => {
    const caseDir = join(dir, c.file.replace(/\W/g, '_') + c.name.length);
    mkdirSync(caseDir, { recursive: true });
    const input = join(caseDir, c.file);
    writeFileSync(input, c.bytes);
    const out = join(caseDir, 'out');
    const r = unet('predict', '--model', c.model ? c.model(caseDir) : model, '--out', out, '--outputs', 'mask,prob,overlay', input);
    assert.notEqual(r.status, 0, `${c.name}: exit status`);
    assert.match(r.stderr, c.error, `${c.name}: message`);
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, `${c.name}: output folder holds ${existsSync(out) ? readdirSync(out).join(', ') : ''}`);
  });
}

test('unet train: mismatched sizes, empty folders and unexpected label values are reported before training', () => {
  const mk = (name: string, images: [string, Uint8Array][], labels: [string, Uint8Array][]): [string, string] => {
    const a = join(dir, name, 'images');
    const b = join(dir, name, 'labels');
    mkdirSync(a, { recursive: true });
    mkdirSync(b, { recursive: true });
    for (const [f, bytes] of images) writeFileSync(join(a, f), bytes);
    for (const [f, bytes] of labels) writeFileSync(join(b, f), bytes);
    return [a, b];
  };
  const cases: [string, [string, string], string[], RegExp][] = [
    ['size mismatch', mk('size', [['x.png', gray(8, 8)]], [['x.png', gray(8, 9, 255)]]), [], /x\.png is 8x9 but .*x\.png is 8x8/],
    ['empty folders', mk('empty', [], []), [], /holds no images/],
    ['unmatched names', mk('names', [['a.png', gray(8, 8)]], [['b.png', gray(8, 8)]]), [], /images without a label: .*a\.png; labels without an image: .*b\.png/],
    ['label value out of range', mk('values', [['x.png', gray(8, 8)]], [['x.png', gray(8, 8, 7)]]), ['--label-mode', 'classes'], /x\.png has value 7 .*class-index labels must be integers in \[0, 1\]/],
  ];
  for (const [name, [images, labels], extra, error] of cases) {
    const out = join(dir, `train-${name.replace(/\W/g, '_')}`);
    const r = unet('train', '--images', images, '--labels', labels, '--out', out, '--iterations', '1', '--seed', '1', '--depth', '2', '--filters', '4', '--tile', '60', ...extra);
    assert.equal(r.status, 1, `${name}: exit status (stderr: ${r.stderr})`);
    assert.match(r.stderr, error, `${name}: message`);
    assert.ok(!existsSync(out), `${name}: no model folder is created`);
  }
});

test('fuzz: random bytes never crash or hang the decoders, only clean errors', () => {
  const rng = new Rng(99);
  const seeds = [gray(5, 7), encodeTiff([{ data: new Uint16Array(12).fill(300), height: 3, width: 4, channels: 1 }])];
  let decoded = 0;
  let refused = 0;
  for (let i = 0; i < 300; i++) {
    let bytes: Uint8Array;
    if (i % 3 === 0) bytes = Uint8Array.from({ length: rng.int(0, 200) }, () => rng.int(0, 255));
    else {
      // Mutate a valid file: flip a few bytes or cut it short, keeping the magic number.
      // Every third case keeps the full length, so some mutants still decode (and must round-trip).
      const base = seeds[i % 2]!;
      bytes = base.slice(0, i % 3 === 2 ? base.length : rng.int(8, base.length));
      for (let k = rng.int(0, 4); k > 0; k--) bytes[rng.int(8, Math.max(8, bytes.length - 1))] = rng.int(0, 255);
    }
    let pages: ReturnType<typeof decodeImage>;
    try {
      pages = decodeImage(bytes, `fuzz${i}`);
    } catch (e) {
      assert.ok(e instanceof Error, `fuzz${i}: threw a non-Error ${String(e)}`);
      assert.match(e.message, new RegExp(`fuzz${i}\\b`), `fuzz${i}: the message names the input (${e.message})`);
      refused++;
      continue;
    }
    for (const p of pages) assert.equal(p.data.length, p.height * p.width * p.channels, `fuzz${i}: decoded raster size`);
    // What decodes is a real image: written as TIFF and read back, it is the same pixels.
    const again = decodeImage(encodeTiff(pages), `fuzz${i} re-encoded`);
    assert.deepEqual(again.map((p) => [p.height, p.width, p.channels]), pages.map((p) => [p.height, p.width, p.channels]), `fuzz${i}: shapes survive a TIFF round trip`);
    again.forEach((p, z) => assert.deepEqual(Array.from(p.data), Array.from(pages[z]!.data), `fuzz${i}: page ${z} pixels survive a TIFF round trip`));
    decoded++;
  }
  assert.ok(decoded >= 5 && refused >= 5, `fuzz: both outcomes occur (${decoded} decoded, ${refused} refused), so both checks ran`);
  // The unmutated seeds decode to exactly what was encoded.
  assert.deepEqual(Array.from(decodeImage(seeds[0]!, 'seed.png')[0]!.data), Array.from(new Uint8Array(35).fill(100)), 'fuzz: the PNG seed decodes exactly');
  assert.deepEqual(Array.from(decodeImage(seeds[1]!, 'seed.tif')[0]!.data), Array.from(new Uint16Array(12).fill(300)), 'fuzz: the TIFF seed decodes exactly');
});

test('fuzz: random small images of any size predict without error and with the right shape', async () => {
  const m = buildUNet(config, 60);
  initializeWeights(m, new Rng(3));
  const predictor = unetPredictor(m, config);
  const rng = new Rng(5);
  for (let i = 0; i < 6; i++) {
    const h = rng.int(1, 30);
    const w = rng.int(1, 30);
    const image = { data: Float32Array.from({ length: h * w }, () => rng.uniform()), height: h, width: w, channels: 1 };
    const { mask, probabilities } = await predict(image, predictor, { outputs: { mask: true, probabilities: true } });
    assert.equal(mask!.height * mask!.width, h * w, `${h}x${w}: mask size`);
    const p = probabilities!.data;
    assert.equal(p.length, h * w * 2, `${h}x${w}: two class probabilities per pixel`);
    for (let j = 0; j < h * w; j++) {
      assert.ok(p[2 * j]! >= 0 && p[2 * j + 1]! >= 0 && Math.abs(p[2 * j]! + p[2 * j + 1]! - 1) < 1e-5, `${h}x${w}: pixel ${j} probabilities ${p[2 * j]}, ${p[2 * j + 1]} are a distribution`);
      assert.equal(mask!.data[j], p[2 * j + 1]! > p[2 * j]! ? 1 : 0, `${h}x${w}: mask at pixel ${j} is the argmax`);
    }
  }
});
