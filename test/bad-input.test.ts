/**
 * Bad input never produces a result silently: each case below must exit non-zero with a
 * message naming the file and the problem, and leave no output files behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync, rmSync, cpSync } from 'node:fs';
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
import { png as pngBytes, tiff } from './corpus-builders.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
const unet = (...args: string[]): { status: number | null; stderr: string; stdout: string } => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
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
    // The advice must be something the user can do: predict takes the normalisation from the model.
    error: /float\.tif holds Float32Array values; 'dtype' normalisation needs 8- or 16-bit integers, and this model was trained with it: convert the image to 8 or 16 bit, or use a model trained with unet train --normalize range:MIN,MAX/,
  },
  { name: 'decompression bomb (138-byte PNG declaring 30000 x 30000)', file: 'bomb.png', bytes: pngBytes(30000, 30000, 8, 0, [[0]]), error: /bomb\.png: 30000x30000 = 900000000 pixels exceeds the limit of 268435456 .*--max-pixels/ },
  {
    name: 'TIFF whose page chain loops',
    file: 'loop.tif',
    bytes: tiff([{ entries: [[256, 4, [8]], [257, 4, [8]], [258, 3, [8]]], strips: [new Uint8Array(64)] }], (_k, ifds) => ifds[0]),
    error: /loop\.tif: not a readable TIFF \(the page chain loops/,
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
    name: 'model folder whose unet.json disagrees with model.json',
    file: 'ok.png',
    bytes: gray(8, 8),
    error: /loadModel: \S*other-config: unet\.json \(depth 1, 4 base filters, 2 classes, 1 input channel\(s\)\) disagrees with model\.json: model\.json has kernel enc1_conv1\/kernel \[3,3,4,8\]/,
    model: (d) => {
      const m = join(d, 'other-config');
      cpSync(model, m, { recursive: true });
      const other = makeMetadata({ config: resolveConfig({ depth: 1, baseFilters: 4 }), tileSize: [60, 60], normalization: { kind: 'dtype' } });
      writeFileSync(join(m, 'unet.json'), JSON.stringify(other));
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
    // Not even an empty output folder: it is created with the first file written.
    assert.ok(!existsSync(out), `${c.name}: output folder exists${existsSync(out) ? ` and holds [${readdirSync(out).join(', ')}]` : ''}`);
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

test('unet predict batch: every file is processed, failures are listed at the end with exit 1', () => {
  const inDir = join(dir, 'batch-in');
  mkdirSync(inDir, { recursive: true });
  writeFileSync(join(inDir, 'a.png'), gray(8, 8));
  writeFileSync(join(inDir, 'b.png'), png.subarray(0, png.length - 20));
  writeFileSync(join(inDir, 'c.png'), gray(8, 8, 200));
  writeFileSync(join(inDir, 'd.tif'), tiff([{ entries: [[256, 4, [4]], [257, 4, [4]], [258, 3, [8]], [262, 3, [3]]], strips: [new Uint8Array(16)] }]));
  const out = join(dir, 'batch-out');
  const r = unet('predict', '--model', model, '--out', out, '--outputs', 'mask', inDir);
  assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
  assert.deepEqual(readdirSync(out).sort(), ['a_mask.png', 'c_mask.png'], 'the good files before and after the bad ones are written');
  assert.match(r.stderr, /2 of 4 input\(s\) failed, their outputs are not written:\n {2}\S*b\.png: not a readable PNG[^\n]*\n {2}\S*d\.tif: palette/);
  assert.match(r.stderr, /b\.png: not a readable PNG/);
  assert.match(r.stderr, /d\.tif: palette \(indexed colour\) TIFFs are not supported/);
});

test('unet predict: two inputs with the same stem are refused up front naming both, nothing written', () => {
  const a = join(dir, 'stem-a');
  const b = join(dir, 'stem-b');
  mkdirSync(a, { recursive: true });
  mkdirSync(b, { recursive: true });
  writeFileSync(join(a, 'x.png'), gray(8, 8));
  writeFileSync(join(b, 'x.png'), gray(8, 8));
  writeFileSync(join(a, 'same.png'), gray(8, 8));
  writeFileSync(join(a, 'same.tif'), encodeTiff([{ data: new Uint8Array(64), height: 8, width: 8, channels: 1 }]));
  const out = join(dir, 'stem-out');
  const r = unet('predict', '--model', model, '--out', out, a, join(b, 'x.png'));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /same\.png and .*same\.tif have the same stem "same"; .*stem-a\/x\.png and .*stem-b\/x\.png have the same stem "x"/);
  assert.equal(existsSync(out), false, 'no output folder');
});

test('unet evaluate: non-binary membrane truth, NaN predictions and classes-mode errors name the file', () => {
  const d = join(dir, 'eval');
  mkdirSync(d, { recursive: true });
  const put = (name: string, bytes: Uint8Array): string => {
    writeFileSync(join(d, name), bytes);
    return join(d, name);
  };
  const pred = put('pred.png', gray(4, 4, 255));
  const truth = put('truth.png', encodePng({ data: Uint8Array.from({ length: 16 }, (_, i) => [0, 1, 2, 7][i % 4]!), height: 4, width: 4, channels: 1 }));
  let r = unet('evaluate', '--pred', pred, '--truth', truth);
  assert.equal(r.status, 1, `0/1/2/7 truth: exit (stdout ${r.stdout})`);
  assert.match(r.stderr, /truth\.png has value 2 at pixel \(2, 0\); membrane truth must be binary \(0 and 255, or a 0\/1 mask\)/);
  // A 0/1 truth is a mask (1 = interior), as in training: a perfect prediction scores pixel error 0.
  const mask01 = Uint8Array.from({ length: 64 }, (_, i) => (i % 8 < 4 ? 1 : 0));
  const t01 = put('t01.png', encodePng({ data: mask01, height: 8, width: 8, channels: 1 }));
  const p01 = put('p01.png', encodePng({ data: mask01.map((v) => v * 255), height: 8, width: 8, channels: 1 }));
  r = unet('evaluate', '--pred', p01, '--truth', t01, '--json', join(d, 'r.json'));
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(readFileSync(join(d, 'r.json'), 'utf8')) as { table: { pixelError: number }[] };
  assert.equal(json.table[0]!.pixelError, 0, '0/1 truth read as a mask');
  const nan = put('nan.tif', encodeTiff([{ data: Float32Array.from({ length: 16 }, (_, i) => (i === 6 ? Number.NaN : 0.5)), height: 4, width: 4, channels: 1 }]));
  r = unet('evaluate', '--pred', nan, '--truth', put('t.png', gray(4, 4, 255)));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /nan\.tif has a non-finite value \(NaN\) at pixel \(2, 1\)/);
  r = unet('evaluate', '--mode', 'classes', '--classes', '2', '--pred', put('c.png', gray(4, 4, 3)), '--truth', put('ct.png', gray(4, 4, 1)));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /truth .*ct\.png, pred .*c\.png: confusionMatrix: pred value 3 at pixel 0 is not a class index in \[0, 1\] \(--classes 2\)/);
  // Folders are paired by stem: two predictions with one stem are refused naming both.
  const pd = join(d, 'preds');
  const td = join(d, 'truths');
  mkdirSync(pd);
  mkdirSync(td);
  writeFileSync(join(pd, 'x.png'), gray(4, 4, 255));
  writeFileSync(join(pd, 'x.tif'), encodeTiff([{ data: new Uint8Array(16), height: 4, width: 4, channels: 1 }]));
  writeFileSync(join(td, 'x.png'), gray(4, 4, 255));
  r = unet('evaluate', '--pred', pd, '--truth', td);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /evaluate --pred: \S*x\.png and \S*x\.tif have the same stem "x", but predictions and truth are paired by stem/);
});

test('unet train: labels that are all background after thresholding give a warning naming the file', () => {
  const images = join(dir, 'bg-train', 'images');
  const labels = join(dir, 'bg-train', 'labels');
  mkdirSync(images, { recursive: true });
  mkdirSync(labels, { recursive: true });
  writeFileSync(join(images, 'x.png'), gray(64, 64));
  writeFileSync(join(labels, 'x.png'), gray(64, 64, 100));
  const r = unet('train', '--images', images, '--labels', labels, '--out', join(dir, 'bg-model'), '--iterations', '1', '--seed', '1', '--depth', '2', '--filters', '4', '--tile', '60');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /unet train: warning: dataset: \S*labels\/x\.png: every pixel is background \(binary labels, foreground = value > 127; largest value 100\)/);
});
