/**
 * Seed erosion: watershed seeds shrunk by a disc so that two touching objects whose probability
 * never dips between them (a "peanut") still get a seed each; the search finds it, unet.json keeps
 * it, and predict applies it.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkInstancePostprocess, makeMetadata, parseMetadata, type InstancePostprocess } from '../src/io/model-format.js';
import { readImage } from '../src/io/image.js';
import { writePng } from '../src/io/png.js';
import { describeInstancePostprocess, erodeByDisc, instanceLabels, instancesFromProbabilities } from '../src/infer/instances.js';
import type { TilePredictor } from '../src/infer/predictor.js';
import { predictFile } from '../src/infer/write-outputs.js';
import { resolveConfig } from '../src/model/config.js';
import { tuneInstancePostprocess } from '../src/train/tune.js';
import { runCli } from './helpers.js';

const H = 24;
const W = 40;

/**
 * Two discs of radius 6 whose centres are 10 px apart (touching through a 7 px wide neck), split in
 * the truth by the line x = 15, and a disc of radius 2 apart: probability 0.95 on every object
 * pixel (no dip at the contact), 0.05 elsewhere.
 */
function peanut(): { p: Float32Array; mask: Uint8Array; truth: Int32Array } {
  const p = new Float32Array(H * W).fill(0.05);
  const mask = new Uint8Array(H * W);
  const truth = new Int32Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const a = Math.hypot(y - 12, x - 10) <= 6;
      const b = Math.hypot(y - 12, x - 20) <= 6;
      const c = Math.hypot(y - 12, x - 34) <= 2;
      if (!(a || b || c)) continue;
      const i = y * W + x;
      p[i] = 0.95;
      mask[i] = 1;
      truth[i] = c ? 3 : x < 15 ? 1 : 2;
    }
  }
  return { p, mask, truth };
}

function twoClass(p: Float32Array): Float32Array {
  const data = new Float32Array(p.length * 2);
  p.forEach((v, i) => {
    data[2 * i] = 1 - v;
    data[2 * i + 1] = v;
  });
  return data;
}

test('erodeByDisc keeps the pixels farther than the radius from a 0 pixel (the doc example)', () => {
  const m = Uint8Array.of(1, 1, 0, 1, 1);
  erodeByDisc(m, 1, 5, 1);
  assert.deepEqual([...m], [1, 0, 0, 0, 1]);
});

test('seed erosion splits touching discs the probability does not separate, and loses no object or pixel', () => {
  const { p, mask } = peanut();
  const plain = instanceLabels(mask, H, W, { probability: p, seedThreshold: 0.9 });
  assert.equal(plain.count, 2, `instanceLabels without erosion: the peanut is one object (plus the small disc), got ${plain.count}`);
  const eroded = instanceLabels(mask, H, W, { probability: p, seedThreshold: 0.9, seedErosion: 4 });
  assert.equal(eroded.count, 3, `instanceLabels with seeds eroded by 4 px: two discs and the small one, got ${eroded.count}`);
  for (let i = 0; i < mask.length; i++) assert.equal(eroded.labels[i] !== 0, mask[i] === 1, `pixel ${i}: the flood must label exactly the object pixels`);
  // The small disc's seed vanishes under the erosion; its region keeps an id of its own.
  assert.notEqual(eroded.labels[12 * W + 34], 0, 'the radius-2 disc keeps its object');
  assert.notEqual(eroded.labels[12 * W + 8], eroded.labels[12 * W + 22], 'the two big discs get different ids');
  assert.throws(() => instanceLabels(mask, H, W, { probability: p, seedErosion: -1 }), /instanceLabels: seedErosion must be >= 0 pixels, got -1/);
});

test('the search finds the erosion, and the chosen post-processing round-trips through unet.json', () => {
  const { p, truth } = peanut();
  const probabilities = { data: twoClass(p), height: H, width: W, channels: 2 };
  const start: InstancePostprocess = { foregroundClasses: [1], watershed: false, seedClasses: [1], seedThreshold: 0.9, minSize: 0 };
  const grid = { foregroundThresholds: [null], watershed: [false, true], seedThresholds: [0.5, 0.9], seedErosions: [0, 1, 4], minSizes: [0] };
  const r = tuneInstancePostprocess([{ name: 'peanut', probabilities, truth }], start, grid);
  assert.equal(r.best.seedErosion, 4, `tune: seeds eroded by 4 px split the peanut, got ${JSON.stringify(r.best)}`);
  assert.equal(r.bestScore, 1, `tune: F1 1 with the erosion, got ${r.bestScore}`);
  // Stage 1: components + 2 seed levels; stage 2: radii 1 and 4 for the two watershed settings found (each seed level and the one below it, deduplicated).
  assert.equal(r.rows.length, 1 + 2 + 2 * 2, `tune: rows of both stages, got ${r.rows.length}`);
  assert.equal(describeInstancePostprocess(r.best), 'argmax, watershed, seeds >= 0.5 eroded 4 px, min size 0');
  const inst = instancesFromProbabilities(probabilities, r.best);
  assert.equal(inst.count, 3, `instancesFromProbabilities with the chosen erosion: 3 objects, got ${inst.count}`);
  const config = resolveConfig({ depth: 1, baseFilters: 2, classes: 2, padding: 'same' });
  const meta = parseMetadata(JSON.parse(JSON.stringify(makeMetadata({ config, tileSize: [16, 16], normalization: { kind: 'dtype' }, postprocess: { instances: r.best } }))), 'unet.json');
  assert.equal(meta.postprocess?.instances?.seedErosion, 4, 'unet.json keeps the seed erosion');
  for (const bad of [-1, 40, '2']) {
    assert.throws(() => checkInstancePostprocess({ ...start, watershed: true, seedErosion: bad }, 2, 'm/unet.json'), /m\/unet\.json: postprocess\.instances\.seedErosion must be a number of pixels in \[0, 32\], got/, `seedErosion ${JSON.stringify(bad)} must be refused`);
  }
});

test('predict applies the seed erosion it is given (predictFile), and unet predict refuses a bad --seed-erosion', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unet-erosion-'));
  try {
    const { p } = peanut();
    await writePng(join(dir, 'peanut.png'), { data: Uint8Array.from(p, (v) => Math.round(v * 255)), height: H, width: W, channels: 1 });
    // A pointwise stub model: class-1 probability = the pixel's normalised value.
    const stub: TilePredictor = {
      inputShape: [8, 8], outputShape: [8, 8], channels: 1, classes: 2, alignment: 1,
      predictBatch: (tiles) => Promise.resolve(twoClass(Float32Array.from(tiles))),
    };
    const run = async (seedErosion: number): Promise<number> => {
      const out = join(dir, `e${seedErosion}`);
      const r = await predictFile(join(dir, 'peanut.png'), () => stub, {
        outDir: out, outputs: ['instances'], normalization: { kind: 'dtype' }, classNames: ['bg', 'cell'],
        watershed: true, instanceOptions: { seedThreshold: 0.9, seedErosion, minSize: 0 },
      });
      const [inst] = await readImage(join(out, 'peanut_instances.png'));
      assert.equal(Math.max(...inst!.data), r.instanceCounts![0], 'the written ids count the objects');
      return r.instanceCounts![0]!;
    };
    assert.equal(await run(0), 2, 'predictFile without erosion: the peanut stays one object');
    assert.equal(await run(4), 3, 'predictFile with --seed-erosion 4: the peanut is split');
    const bad = await runCli(['predict', '--model', 'nuclei', '--out', join(dir, 'bad'), '--outputs', 'instances', '--seed-erosion=-2', join(dir, 'peanut.png')]);
    assert.equal(bad.code, 2, `--seed-erosion -2 is a usage error: ${bad.stderr}`);
    assert.match(bad.stderr, /--seed-erosion must be a number of pixels from 0 to 32, got -2/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unet tune --seed-erosions searches the erosion (the default search does not); bad radii are refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unet-erosion-tune-'));
  try {
    const { p, truth } = peanut();
    await mkdir(join(dir, 'probs'));
    await mkdir(join(dir, 'labels'));
    // The foreground probability of a two-class network as a 16-bit PNG, and the instance ids.
    await writePng(join(dir, 'probs', 'peanut_prob.png'), { data: Uint16Array.from(p, (v) => Math.round(v * 65535)), height: H, width: W, channels: 1 });
    await writePng(join(dir, 'labels', 'peanut.png'), { data: Uint16Array.from(truth), height: H, width: W, channels: 1 });
    const tune = async (extra: string[]): Promise<InstancePostprocess> => {
      const out = join(dir, `choice-${extra.length}.json`);
      const r = await runCli(['tune', '--probs', join(dir, 'probs'), '--labels', join(dir, 'labels'), '--out', out, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(await readFile(out, 'utf8')) as { instances: InstancePostprocess }).instances;
    };
    assert.equal((await tune([])).seedErosion, undefined, 'the default search leaves the seeds as they are');
    const eroded = await tune(['--seed-erosions', '4']);
    assert.equal(eroded.seedErosion, 4, `--seed-erosions 4 finds the erosion that splits the peanut: ${JSON.stringify(eroded)}`);
    const bad = await runCli(['tune', '--probs', join(dir, 'probs'), '--labels', join(dir, 'labels'), '--out', join(dir, 'x.json'), '--seed-erosions', '2,zero']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--seed-erosions: "zero" is not a radius in pixels in \(0, 32\]/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
