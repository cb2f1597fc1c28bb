/**
 * Probabilities of any network through unet-ts's instance post-processing: `unet tune --probs`
 * (the search of `unet tune` on maps on disk), `unet instances` (the chosen post-processing, then
 * `unet evaluate --mode instances`), and `unet weights --write-targets` (the training targets
 * unet train learns, for another framework to train on). experiments/nuclei/compare-torch.sh
 * scores the PyTorch reference this way.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadDataset } from '../src/io/dataset.js';
import { readImage, writeTiff } from '../src/io/image.js';
import { writePng } from '../src/io/png.js';
import { pairProbabilityFiles, readProbabilityMap } from '../src/infer/probability-files.js';
import { runCli } from './helpers.js';

const H = 20;
const W = 30;

/**
 * Two 10 x 10 objects touching along a vertical line (ids 1 and 2) and, in the probabilities
 * only, a 2 x 2 speck that is no object. Foreground probability: 1 inside the objects, 0.6 on the
 * two contact columns (a dip the watershed can part at seed levels 0.7 and up), 0.9 on the speck.
 */
function touchingCase(): { truth: Uint16Array; p: Float32Array } {
  const truth = new Uint16Array(H * W);
  const p = new Float32Array(H * W);
  for (let y = 5; y < 15; y++) {
    for (let x = 2; x < 22; x++) {
      truth[y * W + x] = x < 12 ? 1 : 2;
      p[y * W + x] = x === 11 || x === 12 ? 0.6 : 1;
    }
  }
  for (let y = 1; y < 3; y++) for (let x = 26; x < 28; x++) p[y * W + x] = 0.9;
  return { truth, p };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unet-probs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('readProbabilityMap: a 16-bit foreground map is the two classes [1 - p, p]; a K-page float TIFF is K classes', async () => {
  const png = join(dir, 'one_prob.png');
  await writePng(png, { data: Uint16Array.of(0, 65535, 32768), height: 1, width: 3, channels: 1 });
  const a = await readProbabilityMap(png);
  assert.equal(a.channels, 2);
  assert.deepEqual([...a.data].map((v) => Math.round(v * 1e4) / 1e4), [1, 0, 0, 1, 0.5, 0.5]);
  const tif = join(dir, 'three_prob.tif');
  await writeTiff(tif, [0.1, 0.3, 0.6].map((v) => ({ data: Float32Array.of(v, 1 - v), height: 1, width: 2, channels: 1 })));
  const b = await readProbabilityMap(tif);
  assert.equal(b.channels, 3);
  assert.deepEqual([...b.data].map((v) => Math.round(v * 1e4) / 1e4), [0.1, 0.3, 0.6, 0.9, 0.7, 0.4]);
  const bad = join(dir, 'bad_prob.tif');
  await writeTiff(bad, [{ data: Float32Array.of(0.5, 1.5), height: 1, width: 2, channels: 1 }]);
  await assert.rejects(readProbabilityMap(bad), /bad_prob\.tif: value 1\.5 at pixel \(1, 0\) is not a probability in \[0, 1\]/);
});

test('pairProbabilityFiles pairs by stem and names maps without labels and labels without maps', async () => {
  const probs = join(dir, 'pair-probs');
  const labels = join(dir, 'pair-labels');
  await mkdir(probs);
  await mkdir(labels);
  const r = { data: new Uint16Array(4), height: 2, width: 2, channels: 1 };
  await writePng(join(probs, 'a_prob.png'), r);
  await writePng(join(probs, 'b_prob.png'), r);
  await writePng(join(labels, 'a.png'), r);
  await writePng(join(labels, 'c.png'), r);
  await assert.rejects(pairProbabilityFiles(probs, labels), (e: Error) => /maps without a label: .*b_prob\.png/.test(e.message) && /labels without a map: .*c\.png/.test(e.message));
  await rm(join(probs, 'b_prob.png'));
  await rm(join(labels, 'c.png'));
  assert.deepEqual((await pairProbabilityFiles(probs, labels)).map((p) => [p.name, p.label]), [['a', join(labels, 'a.png')]]);
});

test('unet tune --probs finds the known best post-processing and unet instances applies it; the scores are unet evaluate\'s', async () => {
  const { truth, p } = touchingCase();
  const val = join(dir, 'val');
  const valLabels = join(dir, 'val-labels');
  const test_ = join(dir, 'test');
  const testLabels = join(dir, 'test-labels');
  for (const d of [val, valLabels, test_, testLabels]) await mkdir(d);
  // Validation maps as 16-bit foreground PNGs (what torch_reference.py writes), test maps as unet predict's 2-page float TIFF.
  await writePng(join(val, 'v1_prob.png'), { data: Uint16Array.from(p, (v) => Math.round(v * 65535)), height: H, width: W, channels: 1 });
  await writePng(join(valLabels, 'v1.png'), { data: truth, height: H, width: W, channels: 1 });
  await writeTiff(join(test_, 't1_prob.tif'), [Float32Array.from(p, (v) => 1 - v), p].map((data) => ({ data, height: H, width: W, channels: 1 })));
  await writePng(join(testLabels, 't1.png'), { data: truth, height: H, width: W, channels: 1 });

  const choice = join(dir, 'choice.json');
  const t = await runCli(['tune', '--probs', val, '--labels', valLabels, '--out', choice]);
  assert.equal(t.code, 0, t.stderr);
  const pp = JSON.parse(await readFile(choice, 'utf8')).instances;
  // The first grid entry with F1 1: the watershed parts the objects from seed level 0.7 (above the 0.6 dip), min size 5 drops the 4-pixel speck.
  assert.deepEqual({ watershed: pp.watershed, seedThreshold: pp.seedThreshold, minSize: pp.minSize }, { watershed: true, seedThreshold: 0.7, minSize: 5 }, `tune --probs chose ${JSON.stringify(pp)}`);
  assert.equal(pp.tuned.score, 1);
  assert.match(t.stdout, /^chosen: 1\.0000 \(argmax, watershed, seeds >= 0\.7, min size 5\)$/m);

  const out = join(dir, 'inst');
  const metrics = join(dir, 'metrics.json');
  const r = await runCli(['instances', '--probs', test_, '--out', out, '--postprocess', choice, '--evaluate', testLabels, '--json', metrics]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /t1_instances\.png \(2 objects\)/);
  const [inst] = await readImage(join(out, 't1_instances.png'));
  for (const id of [1, 2]) {
    const got = new Set<number>();
    for (let i = 0; i < truth.length; i++) if (truth[i] === id) got.add(inst!.data[i]!);
    assert.equal(got.size, 1, `object ${id} became predicted ids ${[...got].join(', ')}`);
  }
  const doc = JSON.parse(await readFile(metrics, 'utf8'));
  assert.equal(doc.mode, 'instances');
  assert.equal(doc.mean.f1, 1);
  assert.equal(doc.mean.dsbAP, 1);

  // The untuned start (connected components, no size filter) merges the two objects and keeps the speck.
  await writeFileJson(join(dir, 'components.json'), { instances: { ...pp, watershed: false, minSize: 0 } });
  const c = await runCli(['instances', '--probs', test_, '--out', join(dir, 'inst-cc'), '--postprocess', join(dir, 'components.json'), '--evaluate', testLabels, '--json', join(dir, 'cc.json')]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /t1_instances\.png \(2 objects\)/);
  assert.ok(JSON.parse(await readFile(join(dir, 'cc.json'), 'utf8')).mean.f1 < 1, 'connected components must score below the tuned choice');

  const bad = await runCli(['instances', '--probs', test_, '--out', join(dir, 'x'), '--postprocess', choice, '--model', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /give one of --postprocess FILE and --model DIR/);
  const mixed = await runCli(['tune', '--probs', val, '--labels', valLabels, '--out', choice, '--images', val]);
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /--images does not go with --probs/);
});

async function writeFileJson(path: string, value: unknown): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, JSON.stringify(value));
}

/** Folders PREFIX-labels and PREFIX-images holding the touching case as a.png (labels) and a blank image. */
async function touchingFolders(prefix: string): Promise<{ labels: string; images: string }> {
  const labels = join(dir, `${prefix}-labels`);
  const images = join(dir, `${prefix}-images`);
  await mkdir(labels);
  await mkdir(images);
  await writePng(join(labels, 'a.png'), { data: touchingCase().truth, height: H, width: W, channels: 1 });
  await writePng(join(images, 'a.png'), { data: new Uint8Array(H * W), height: H, width: W, channels: 1 });
  return { labels, images };
}

test('unet weights --write-targets writes the class targets unet train learns: a background line between touching objects', async () => {
  const { labels, images } = await touchingFolders('w');
  const out = join(dir, 'w-out');
  const r = await runCli(['weights', '--labels', labels, '--out', out, '--label-mode', 'instances', '--write-targets']);
  assert.equal(r.code, 0, r.stderr);
  const [targets] = await readImage(join(out, 'a.targets.png'));
  const [weights] = await readImage(join(out, 'a.weights.tif'));
  // What unet train loads for the same labels and options.
  const [sample] = await loadDataset(images, labels, { normalization: { kind: 'dtype' }, labelMode: { mode: 'instances', separate: true }, classes: 2, channels: 1, weightMap: { w0: 10, sigma: 5 } });
  assert.deepEqual([...targets!.data], [...sample!.labels.data], 'targets = the training labels');
  assert.deepEqual([...weights!.data], [...sample!.weights!.data], 'weights = the training weights');
  // The cut: one of the two contact columns is background in every object row, and objects stay foreground elsewhere.
  for (let y = 5; y < 15; y++) {
    const row = [...targets!.data.subarray(y * W + 2, y * W + 22)];
    assert.equal(row.filter((v) => v === 0).length, 1, `row ${y}: one background pixel between the objects, got ${row.join('')}`);
  }
  assert.equal(targets!.data[7 * W + 5], 1);
  assert.equal(targets!.data[0], 0);
});

test('unet weights --targets boundary writes the three-class targets unet train learns (no --classes needed) and refuses --classes 2', async () => {
  const { labels, images } = await touchingFolders('wb');
  const out = join(dir, 'wb-out');
  const r = await runCli(['weights', '--labels', labels, '--out', out, '--label-mode', 'instances', '--targets', 'boundary', '--sigma', '3', '--write-targets']);
  assert.equal(r.code, 0, r.stderr);
  const [targets] = await readImage(join(out, 'a.targets.png'));
  const [weights] = await readImage(join(out, 'a.weights.tif'));
  const [sample] = await loadDataset(images, labels, { normalization: { kind: 'dtype' }, labelMode: { mode: 'instances', targets: 'boundary' }, classes: 3, channels: 1, weightMap: { w0: 10, sigma: 3 } });
  assert.deepEqual([...targets!.data], [...sample!.labels.data], 'targets = the training labels');
  assert.deepEqual([...weights!.data], [...sample!.weights!.data], 'weights = the training weights');
  assert.deepEqual([...new Set(targets!.data)].sort(), [0, 1, 2], 'background, interior and boundary all occur');
  const bad = await runCli(['weights', '--labels', labels, '--out', join(dir, 'wb-bad'), '--label-mode', 'instances', '--targets', 'boundary', '--classes', '2']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--targets boundary trains 3 classes \(background, interior, boundary\), not --classes 2/);
});
