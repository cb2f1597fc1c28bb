/**
 * Instance-aware targets (background / interior / boundary), the watershed from predicted
 * interiors, and the post-processing search: hand-made cases whose answers are known.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { prepareLabels, toClassIndices } from '../src/io/dataset.js';
import { readImage } from '../src/io/image.js';
import { makeMetadata, type InstancePostprocess } from '../src/io/model-format.js';
import { readModelMetadata, saveModel, writeModelMetadata } from '../src/io/model-files.js';
import { writePng } from '../src/io/png.js';
import { defaultInstancePostprocess, instancesFromProbabilities } from '../src/infer/instances.js';
import { BOUNDARY, boundaryTargets, INTERIOR } from '../src/loss/targets.js';
import { resolveConfig } from '../src/model/config.js';
import { buildUNet } from '../src/model/unet.js';
import { tuneInstancePostprocess, withoutSmall } from '../src/train/tune.js';
import { runCli } from './helpers.js';


/** Two 4x4 squares touching along a column (ids 1 and 2) and a 3x3 square (id 3) apart, in 8 x 14. */
function touchingSquares(): { ids: Int32Array; height: number; width: number } {
  const height = 8;
  const width = 14;
  const ids = new Int32Array(height * width);
  for (let y = 2; y < 6; y++) {
    for (let x = 1; x < 5; x++) ids[y * width + x] = 1;
    for (let x = 5; x < 9; x++) ids[y * width + x] = 2;
  }
  for (let y = 2; y < 5; y++) for (let x = 10; x < 13; x++) ids[y * width + x] = 3;
  return { ids, height, width };
}

test('boundaryTargets: two touching squares get a boundary line between them, an isolated object its outline', () => {
  const { ids, height, width } = touchingSquares();
  const t = boundaryTargets(ids, height, width);
  const at = (y: number, x: number): number => t[y * width + x]!;
  // The contact: columns 4 (square 1) and 5 (square 2) are boundary on every row of the squares.
  for (let y = 2; y < 6; y++) {
    assert.equal(at(y, 4), BOUNDARY, `boundaryTargets: (${y}, 4) is square 1 beside square 2, expected boundary`);
    assert.equal(at(y, 5), BOUNDARY, `boundaryTargets: (${y}, 5) is square 2 beside square 1, expected boundary`);
  }
  // Square 1's interior: the 2x2 block (rows 3-4, columns 2-3); square 2's: (rows 3-4, columns 6-7).
  for (const [y, x] of [[3, 2], [3, 3], [4, 2], [4, 3], [3, 6], [3, 7], [4, 6], [4, 7]] as const) assert.equal(at(y, x), INTERIOR, `boundaryTargets: (${y}, ${x}) expected interior`);
  // The isolated 3x3 square: its 8 outline pixels are boundary, its centre interior.
  assert.equal(at(3, 11), INTERIOR, 'boundaryTargets: centre of the isolated square is interior');
  for (const [y, x] of [[2, 10], [2, 11], [2, 12], [3, 10], [3, 12], [4, 10], [4, 11], [4, 12]] as const) assert.equal(at(y, x), BOUNDARY, `boundaryTargets: outline (${y}, ${x}) of the isolated square`);
  for (let i = 0; i < ids.length; i++) if (ids[i] === 0) assert.equal(t[i], 0, `boundaryTargets: background pixel ${i} must stay background`);
  // Interiors of different objects are never 8-adjacent.
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (t[y * width + x] !== INTERIOR) continue;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const j = (y + dy) * width + (x + dx);
          if (y + dy < 0 || y + dy >= height || x + dx < 0 || x + dx >= width || t[j] !== INTERIOR) continue;
          assert.equal(ids[j], ids[y * width + x], `boundaryTargets: interiors of objects ${ids[j]} and ${ids[y * width + x]} touch at (${y}, ${x})`);
        }
      }
    }
  }
});

test('boundary targets in a dataset: 3 classes required; the contact between touching objects gets the large border weight', () => {
  const { ids, height, width } = touchingSquares();
  const raw = { data: Uint16Array.from(ids), height, width, channels: 1 };
  const mode = { mode: 'instances', targets: 'boundary' } as const;
  assert.throws(() => toClassIndices(raw, mode, 2, 'touching.png'), /boundary targets .* need a 3-class model, got 2 classes \(reading touching\.png\)/);
  const { labels, weights } = prepareLabels(raw, { labelMode: mode, classes: 3, weightMap: { w0: 10, sigma: 5, classWeights: 'none' } }, 'touching.png');
  assert.deepEqual([...labels.data], [...boundaryTargets(ids, height, width)], 'prepareLabels: the class map is the boundary target');
  const w = (y: number, x: number): number => weights!.data[y * width + x]!;
  // At the contact (3, 4): one pixel to square 1's interior, two to square 2's: 1 + 10 exp(-(1 + 2)^2 / 50) = 9.35.
  const contact = 1 + 10 * Math.exp(-9 / 50);
  assert.ok(Math.abs(w(3, 4) - contact) < 1e-4, `weight at the contact ${w(3, 4)}, expected ${contact}`);
  // Interior pixels are objects: class weight only.
  assert.equal(w(3, 2), 1, 'weight of an interior pixel is its class weight');
  // The isolated square's far-side outline is farther from a second object than the contact.
  assert.ok(w(3, 12) < w(3, 4), `outline of the isolated square (${w(3, 12)}) must weigh less than the contact (${w(3, 4)})`);
});

/** Probabilities H x W x 3 (background, interior, boundary) for `ids`: the target, softened. */
function probabilitiesOf(targets: Uint8Array, height: number, width: number, sure = 0.8): { data: Float32Array; height: number; width: number; channels: number } {
  const data = new Float32Array(height * width * 3);
  for (let i = 0; i < targets.length; i++) {
    for (let c = 0; c < 3; c++) data[i * 3 + c] = c === targets[i] ? sure : (1 - sure) / 2;
  }
  return { data, height, width, channels: 3 };
}

test('watershed from predicted interiors splits two touching objects and keeps an isolated one whole', () => {
  const { ids, height, width } = touchingSquares();
  const probs = probabilitiesOf(boundaryTargets(ids, height, width), height, width);
  const pp = defaultInstancePostprocess({ targets: 'boundary' });
  const inst = instancesFromProbabilities(probs, pp);
  assert.equal(inst.count, 3, `watershed on interiors: expected 3 objects, got ${inst.count}`);
  // Each true object is exactly one predicted object, whole (boundary pixels included).
  for (const id of [1, 2, 3]) {
    const got = new Set<number>();
    for (let i = 0; i < ids.length; i++) if (ids[i] === id) got.add(inst.labels[i]!);
    assert.equal(got.size, 1, `object ${id} is split into predicted ids ${[...got].join(', ')}`);
    assert.ok(!got.has(0), `object ${id} lost pixels to the background`);
  }
  const components = instancesFromProbabilities(probs, { ...pp, watershed: false });
  assert.equal(components.count, 2, `without the watershed the touching squares are one component: expected 2 objects, got ${components.count}`);
});

test('tuneInstancePostprocess picks the known best values and reports the start', () => {
  // Two-class probabilities: a bar of two touching objects with a dip (0.7) between two plateaus (0.95),
  // and a 2-pixel speck (0.9) that the truth does not have.
  const height = 1;
  const width = 14;
  const fg = [0, 0.95, 0.95, 0.95, 0.7, 0.95, 0.95, 0.95, 0, 0, 0.9, 0.9, 0, 0];
  const truth = Int32Array.from([0, 1, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0]);
  const data = new Float32Array(width * 2);
  fg.forEach((p, i) => {
    data[2 * i] = 1 - p;
    data[2 * i + 1] = p;
  });
  const start: InstancePostprocess = defaultInstancePostprocess({ targets: 'separated' });
  const grid = { foregroundThresholds: [null], watershed: [false, true], seedThresholds: [0.5, 0.8, 0.96], seedErosions: [0], minSizes: [0, 3] };
  const r = tuneInstancePostprocess([{ name: 'bar', probabilities: { data, height, width, channels: 2 }, truth }], start, grid);
  // Seeds >= 0.8 part the bar at the dip; 0.5 keeps it whole, 0.96 finds no seed. Min size 3 drops the speck.
  assert.deepEqual({ watershed: r.best.watershed, seedThreshold: r.best.seedThreshold, minSize: r.best.minSize }, { watershed: true, seedThreshold: 0.8, minSize: 3 }, 'tune: best post-processing');
  assert.equal(r.bestScore, 1, `tune: the best F1 is 1, got ${r.bestScore}`);
  // The start (components, no minimum size): the bar is one object matching neither half at IoU > 0.5? It overlaps
  // object 1 with IoU 4/7 (a match), object 2 unmatched, the speck a false positive: F1 = 2*1/(2*1+1+1) = 0.5.
  assert.equal(r.startScore, 0.5, `tune: start F1 ${r.startScore}`);
  assert.equal(r.rows.length, (1 + 3) * 2, 'tune: one row per (watershed, seed level, min size), a single level without the watershed');
  assert.equal(r.best.tuned?.metric, 'f1');
  assert.equal(r.best.foregroundThreshold, undefined, 'tune: the argmax (null) chosen stores no threshold');
});

test('tuneInstancePostprocess picks the foreground level that fits the objects, and predict-side instances use it', () => {
  // A blurred disc of radius 6 on 24 x 24: probability 0.95 inside radius 4, 0.6 in the ring 4..6, 0.2 beyond.
  // The truth is the radius-4 disc, so only a level between 0.6 and 0.95 gives IoU 1; the argmax (0.5) takes the ring too.
  const height = 24;
  const width = 24;
  const data = new Float32Array(height * width * 2);
  const truth = new Int32Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const r = Math.hypot(y - 12, x - 12);
      const p = r <= 4 ? 0.95 : r <= 6 ? 0.6 : 0.2;
      data[2 * (y * width + x)] = 1 - p;
      data[2 * (y * width + x) + 1] = p;
      if (r <= 4) truth[y * width + x] = 1;
    }
  }
  const probabilities = { data, height, width, channels: 2 };
  const start: InstancePostprocess = defaultInstancePostprocess({ targets: 'separated' });
  const grid = { foregroundThresholds: [null, 0.4, 0.7, 0.97], watershed: [false], seedThresholds: [0.9], seedErosions: [0], minSizes: [0] };
  const r = tuneInstancePostprocess([{ name: 'disc', probabilities, truth }], start, grid, 'dsb-ap');
  assert.equal(r.best.foregroundThreshold, 0.7, `tune: foreground level 0.7 (between the ring's 0.6 and the core's 0.95), got ${r.best.foregroundThreshold}`);
  assert.equal(r.bestScore, 1, `tune: IoU 1 at every DSB threshold with level 0.7, mAP ${r.bestScore}`);
  assert.ok(r.startScore < 1, `tune: the argmax start includes the ring (mAP < 1), got ${r.startScore}`);
  assert.deepEqual(r.rows.map((row) => row.foregroundThreshold), [null, 0.4, 0.7, 0.97], 'tune: one row per level, in grid order');
  // 0.97 is above every pixel: no object at all.
  assert.equal(r.rows[3]!.score, 0, `tune: level 0.97 finds nothing, score ${r.rows[3]!.score}`);
  const inst = instancesFromProbabilities(probabilities, r.best);
  let area = 0;
  for (const l of inst.labels) if (l !== 0) area++;
  let trueArea = 0;
  for (const l of truth) if (l !== 0) trueArea++;
  assert.equal(inst.count, 1, `instancesFromProbabilities with the tuned level: one object, got ${inst.count}`);
  assert.equal(area, trueArea, `instancesFromProbabilities with the tuned level: the object is the radius-4 disc (${trueArea} px), got ${area} px`);
});

test('withoutSmall drops objects under the size and keeps the rest', () => {
  const labels = Int32Array.from([1, 1, 1, 0, 2, 0, 3, 3]);
  assert.deepEqual([...withoutSmall({ labels, count: 3 }, 2)], [1, 1, 1, 0, 0, 0, 3, 3]);
});


test('the stored post-processing round-trips through unet.json and unet predict uses it unless overridden', async () => {
  await initBackend();
  const dir = await mkdtemp(join(tmpdir(), 'unet-postprocess-'));
  try {
    // A net that calls every pixel class 1: zero kernels, and the last bias favours class 1.
    const config = resolveConfig({ depth: 1, baseFilters: 2, classes: 2, inputChannels: 1, padding: 'same', dropout: 0 });
    const model = buildUNet(config, 16);
    for (const w of model.weights) {
      const v = w.read();
      w.write(tf.zerosLike(v));
    }
    const last = model.weights[model.weights.length - 1]!;
    last.write(tf.tensor1d([0, 5]));
    const stored: InstancePostprocess = { foregroundClasses: [1], watershed: false, seedClasses: [1], seedThreshold: 0.9, minSize: 1000 };
    await saveModel(join(dir, 'model'), model, makeMetadata({ config, tileSize: [16, 16], normalization: { kind: 'dtype' }, classNames: ['background', 'cell'], postprocess: { instances: stored } }));
    model.dispose();
    assert.deepEqual((await readModelMetadata(join(dir, 'model'))).postprocess?.instances, stored, 'unet.json keeps the post-processing');
    await writePng(join(dir, 'img.png'), { data: new Uint8Array(20 * 20).fill(100), height: 20, width: 20, channels: 1 });
    // Stored min size 1000 > 400 pixels: no object.
    const a = await runCli(['predict', '--model', join(dir, 'model'), '--out', join(dir, 'a'), '--outputs', 'instances', join(dir, 'img.png')]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /\(0 objects\)/, `predict must use the stored min size: ${a.stdout}`);
    const b = await runCli(['predict', '--model', join(dir, 'model'), '--out', join(dir, 'b'), '--outputs', 'instances', '--min-size', '0', join(dir, 'img.png')]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /\(1 objects\)/, `--min-size 0 overrides the stored value: ${b.stdout}`);
    const [inst] = await readImage(join(dir, 'b', 'img_instances.png'));
    assert.ok(inst!.data.every((v) => v === 1), 'the one object covers the image');
    assert.ok((await readFile(join(dir, 'model', 'unet.json'), 'utf8')).includes('"minSize": 1000'));
    // Every pixel has probability 0.9933 of class 1: a stored foreground level above it leaves no object,
    // --foreground-threshold overrides it, and argmax turns it off.
    await writeModelMetadata(join(dir, 'model'), { ...(await readModelMetadata(join(dir, 'model'))), postprocess: { instances: { ...stored, minSize: 0, foregroundThreshold: 0.995 } } });
    for (const [extra, objects] of [[[], 0], [['--foreground-threshold', '0.99'], 1], [['--foreground-threshold', 'argmax'], 1]] as const) {
      const out = join(dir, `level-${objects}-${extra.length}`);
      const r = await runCli(['predict', '--model', join(dir, 'model'), '--out', out, '--outputs', 'instances', ...extra, join(dir, 'img.png')]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`\\(${objects} objects\\)`), `predict ${extra.join(' ') || 'with the stored level 0.995'}: ${objects} object(s) expected: ${r.stdout}`);
    }
    const badLevel = await runCli(['predict', '--model', join(dir, 'model'), '--out', join(dir, 'bad'), '--outputs', 'instances', '--foreground-threshold', '1.5', join(dir, 'img.png')]);
    assert.equal(badLevel.code, 2, `--foreground-threshold 1.5 is a usage error: ${badLevel.stderr}`);
    assert.match(badLevel.stderr, /--foreground-threshold must be a probability in \[0, 1\) or argmax, got "1\.5"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unet train --targets boundary: 3 classes, a seeded hold-out, and the post-processing tuned into unet.json', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unet-targets-'));
  try {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'images'));
    await mkdir(join(dir, 'labels'));
    // Five 24x24 images, each with two touching discs (ids 1 and 2) and one apart (id 3).
    for (let k = 0; k < 5; k++) {
      const img = new Uint8Array(24 * 24);
      const lab = new Uint16Array(24 * 24);
      for (let y = 0; y < 24; y++) {
        for (let x = 0; x < 24; x++) {
          const i = y * 24 + x;
          const id = (x - 7 - k) ** 2 + (y - 8) ** 2 < 16 ? 1 : (x - 14 - k) ** 2 + (y - 8) ** 2 < 16 ? 2 : (x - 10) ** 2 + (y - 18) ** 2 < 9 ? 3 : 0;
          lab[i] = id;
          img[i] = id ? 200 : 40;
        }
      }
      await writePng(join(dir, 'images', `im${k}.png`), { data: img, height: 24, width: 24, channels: 1 });
      await writePng(join(dir, 'labels', `im${k}.png`), { data: lab, height: 24, width: 24, channels: 1 });
    }
    const common = ['train', '--images', join(dir, 'images'), '--labels', join(dir, 'labels'), '--label-mode', 'instances', '--targets', 'boundary', '--iterations', '3', '--seed', '2', '--depth', '1', '--filters', '2', '--padding', 'same', '--tile', '16', '--no-augment'];
    const bad = await runCli([...common, '--out', join(dir, 'bad'), '--classes', '2']);
    assert.equal(bad.code, 2, `--targets boundary with --classes 2 must be a usage error: ${bad.stderr}`);
    assert.match(bad.stderr, /--targets boundary trains 3 classes/);
    const r = await runCli([...common, '--out', join(dir, 'model')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /holding out 1 of 5 images \(seed 2\)/, `train must say what it holds out: ${r.stderr}`);
    assert.match(r.stderr, /post-processing tuned on 1 validation images/, r.stderr);
    const m = await readModelMetadata(join(dir, 'model'));
    assert.equal(m.config.classes, 3, 'boundary targets train 3 classes');
    assert.deepEqual(m.classNames, ['background', 'interior', 'boundary']);
    const pp = m.postprocess?.instances;
    assert.ok(pp?.tuned, `unet.json must record the tuned post-processing, got ${JSON.stringify(m.postprocess)}`);
    assert.deepEqual(pp.foregroundClasses, [1, 2]);
    assert.deepEqual(pp.seedClasses, [1]);
    assert.equal((pp.tuned as { images: number }).images, 1);
    assert.equal((m.training as { validationImages: string[] }).validationImages.length, 1, 'the held-out image is the validation set');
    assert.equal((m.training as { trainImages: string[] }).trainImages.length, 4, 'the other four train');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('holdoutNames: seeded, independent of the input order, at least one and never all', async () => {
  const { holdoutNames } = await import('../src/train/holdout.js');
  const names = Array.from({ length: 25 }, (_, i) => `img${i}`);
  const a = holdoutNames(names, 0.2, 7);
  assert.equal(a.size, 5, 'round(0.2 x 25) = 5 held out');
  assert.deepEqual([...holdoutNames([...names].reverse(), 0.2, 7)].sort(), [...a].sort(), 'the choice must not depend on the order the names come in');
  assert.notDeepEqual([...holdoutNames(names, 0.2, 8)].sort(), [...a].sort(), 'another seed, another choice');
  assert.equal(holdoutNames(['x', 'y'], 0.1, 1).size, 1, 'at least one');
  assert.equal(holdoutNames(['x', 'y'], 0.9, 1).size, 1, 'never all');
  assert.throws(() => holdoutNames(['x'], 0.1, 1), /need at least 2 images/);
});
