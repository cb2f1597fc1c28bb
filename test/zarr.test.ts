/**
 * OME-Zarr by region and chunk-parallel prediction: region reads equal whole-image
 * reads, region prediction equals whole-image prediction bit for bit, N jobs write the
 * bytes one job writes, reruns skip finished chunks, and the instance merge gives objects
 * across chunk corners one id. Independent readers: Debian python3-zarr for Zarr v2 /
 * NGFF 0.4, zarrita (a separate code path from our writer's metadata) for v3.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as zarr from 'zarrita';
import FileSystemStore from '@zarrita/storage/fs';
import { initBackend } from '../src/backend/index.js';
import { jobChunks, numberSets, parseChunkJob, UnionFind, uniteAcross } from '../src/infer/chunks.js';
import { instancesFromClassMask } from '../src/infer/instances.js';
import { predict, predictBands } from '../src/infer/predict.js';
import { unetPredictor, type TilePredictor } from '../src/infer/predictor.js';
import { normalizedSource, rasterSource, resolveNormalization } from '../src/infer/source.js';
import { downsampleLabels, finalizeOmeZarr, mergeInstances, predictOmeZarr, pyramidLevels } from '../src/infer/zarr-predict.js';
import { normalize } from '../src/io/normalize.js';
import type { Raster } from '../src/io/raster.js';
import { openOmeZarrImage, writeOmeZarrImage } from '../src/io/zarr.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { labelComponents } from '../src/util/components.js';
import { Rng } from '../src/util/rng.js';
import { pythonWith, skipUnless, storeDigest } from './helpers.js';

const CONFIG = resolveConfig({ depth: 2, baseFilters: 4, classes: 2, inputChannels: 1, padding: 'valid', dropout: 0 });
let dir = '';
let net: TilePredictor;
let disposeNet = (): void => undefined;

const noise = (rng: Rng, h: number, w: number, c = 1): Raster<Uint8Array> => ({ data: Uint8Array.from({ length: h * w * c }, () => rng.int(0, 255)), height: h, width: w, channels: c });

before(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'unet-zarr-'));
  const model = buildUNet(CONFIG, 64);
  initializeWeights(model, new Rng(3));
  const p = unetPredictor(model, CONFIG, 64);
  net = p;
  disposeNet = () => {
    p.dispose();
    model.dispose();
  };
});

after(async () => {
  disposeNet();
  await rm(dir, { recursive: true, force: true });
});


test('parseChunkJob and jobChunks: I/N blocks partition the chunks', () => {
  assert.deepEqual(parseChunkJob('2/8'), { index: 2, count: 8 });
  assert.throws(() => parseChunkJob('8/8'), /--chunks: expected I\/N with 0 <= I < N, got 8\/8/);
  assert.throws(() => parseChunkJob('a/2'), /--chunks/);
  for (const [total, n] of [[10, 4], [3, 5], [17, 17], [1, 1]] as const) {
    const all = Array.from({ length: n }, (_, i) => jobChunks(total, { index: i, count: n })).flat();
    assert.deepEqual(all, Array.from({ length: total }, (_, i) => i), `jobChunks(${total}, */${n}) must partition 0..${total - 1}`);
  }
});

test('numberSets numbers sets by their first pixel, whatever the union order, and drops small ones', () => {
  const size = [0, 1, 2, 1, 4, 1, 3];
  const first = [0, 50, 3, 9, 20, 7, 60];
  const a = new UnionFind(6);
  a.union(5, 2);
  a.union(6, 4);
  const b = new UnionFind(6);
  b.union(4, 6);
  b.union(2, 5);
  // Sets {2,5} (first 3), {3} (9), {4,6} (20), {1} (50).
  assert.deepEqual(Array.from(numberSets(a, size, first).ids), [0, 4, 1, 2, 3, 1, 3]);
  assert.deepEqual(Array.from(numberSets(b, size, first).ids), Array.from(numberSets(a, size, first).ids));
  const big = numberSets(a, size, first, 3);
  assert.deepEqual([Array.from(big.ids), big.count], [[0, 0, 1, 0, 2, 1, 2], 2], 'sets under 3 pixels dropped, the rest renumbered');
});

test('uniteAcross: 8-connectivity joins diagonals across a border (with the line offset), 4 does not', () => {
  for (const [connectivity, joined] of [[4, false], [8, true]] as const) {
    const u = new UnionFind(2);
    // b[0] lies next to a[1] (shift 1); a[2], diagonal to it, holds object 1.
    uniteAcross(u, [0, 0, 1, 0, 0], [2, 0], connectivity, 1);
    assert.equal(u.find(2) === u.find(1), joined, `${connectivity}-connectivity`);
  }
  const straight = new UnionFind(2);
  uniteAcross(straight, [0, 0, 1, 0, 0], [0, 2], 4, 1);
  assert.equal(straight.find(2), straight.find(1), 'b[1] next to a[2]: joined under 4-connectivity too');
});

test('downsampleLabels: the mode of each 2 x 2 block, ties to the first, edge blocks from what they have', () => {
  assert.deepEqual(Array.from(downsampleLabels(Uint8Array.of(0, 5, 5, 0, 0, 7), 2, 3)), [0, 5]);
  assert.deepEqual(Array.from(downsampleLabels(Uint32Array.of(9, 9, 1, 1, 2, 9, 1, 3, 4, 4, 4, 4), 3, 4)), [9, 1, 4, 4]);
  assert.equal(pyramidLevels(45, 70, 16), 4);
  assert.equal(pyramidLevels(16, 16, 16), 1);
});

test('predictBands on a region source, one region at a time, equals whole-image prediction bit for bit', async () => {
  const rng = new Rng(11);
  const raw = noise(rng, 70, 83);
  const image = normalize(raw, { kind: 'dtype' });
  const whole = await predict(image, net, { batchSize: 1 });
  const probs = whole.probabilities!;
  const source = normalizedSource(rasterSource(raw), { kind: 'dtype' });
  // Regions on and off the 4-px pooling grid, at borders and inside.
  for (const region of [{ top: 0, left: 0, height: 70, width: 83 }, { top: 16, left: 32, height: 32, width: 20 }, { top: 5, left: 61, height: 65, width: 22 }, { top: 69, left: 0, height: 1, width: 83 }]) {
    const got = new Float32Array(region.height * region.width * 2);
    let rows = 0;
    await predictBands(source, net, (band) => {
      assert.equal(band.left, region.left, 'band.left is the region\'s left');
      assert.equal(band.width, region.width);
      got.set(band.data, (band.top - region.top) * region.width * 2);
      rows += band.height;
    }, { region, batchSize: 1 });
    assert.equal(rows, region.height, 'bands partition the region rows');
    for (let y = 0; y < region.height; y++) {
      for (let x = 0; x < region.width; x++) {
        for (let k = 0; k < 2; k++) {
          const a = got[(y * region.width + x) * 2 + k]!;
          const b = probs.data[((region.top + y) * 83 + region.left + x) * 2 + k]!;
          if (a !== b) assert.fail(`predictBands region ${JSON.stringify(region)}: pixel (${region.top + y}, ${region.left + x}) class ${k} is ${a}, whole image ${b}`);
        }
      }
    }
  }
});

test("predictBands with 'gaussian' blending: a region equals the whole image bit for bit", async () => {
  // A 'same'-style stub (no margin) whose output depends on the whole tile, so overlapping tiles disagree and are blended.
  const contextual: TilePredictor = {
    inputShape: [16, 16],
    outputShape: [16, 16],
    channels: 1,
    classes: 2,
    alignment: 4,
    predictBatch(tiles, n) {
      const out = new Float32Array(n * 256 * 2);
      for (let b = 0; b < n; b++) {
        let mean = 0;
        for (let i = 0; i < 256; i++) mean += tiles[b * 256 + i]! / 256;
        for (let i = 0; i < 256; i++) {
          const v = 1 / (1 + Math.exp(-8 * (tiles[b * 256 + i]! - mean)));
          out[(b * 256 + i) * 2] = 1 - v;
          out[(b * 256 + i) * 2 + 1] = v;
        }
      }
      return Promise.resolve(out);
    },
  };
  const raw = noise(new Rng(21), 50, 61);
  const whole = await predict(normalize(raw, { kind: 'dtype' }), contextual, { batchSize: 1 });
  const source = normalizedSource(rasterSource(raw), { kind: 'dtype' });
  for (const region of [{ top: 8, left: 12, height: 20, width: 24 }, { top: 40, left: 44, height: 10, width: 17 }]) {
    const got = new Float32Array(region.height * region.width * 2);
    await predictBands(source, contextual, (band) => got.set(band.data, (band.top - region.top) * region.width * 2), { region, batchSize: 1 });
    for (let y = 0; y < region.height; y++) for (let x = 0; x < region.width; x++) {
      const a = got[(y * region.width + x) * 2 + 1]!;
      const b = whole.probabilities!.data[((region.top + y) * 61 + region.left + x) * 2 + 1]!;
      if (a !== b) assert.fail(`predictBands gaussian region ${JSON.stringify(region)}: pixel (${region.top + y}, ${region.left + x}) is ${a}, whole image ${b}`);
    }
  }
});

test('resolveNormalization: minmax and meanstd over bands equal the whole-image normalisation', async () => {
  const raw = noise(new Rng(2), 600, 7);
  for (const n of [{ kind: 'minmax' }, { kind: 'meanstd' }] as const) {
    const fixed = await resolveNormalization(rasterSource(raw), n);
    const region = await normalizedSource(rasterSource(raw), fixed).readRegion(0, 0, 600, 7);
    const whole = normalize(raw, n);
    let worst = 0;
    for (let i = 0; i < whole.data.length; i++) worst = Math.max(worst, Math.abs(whole.data[i]! - region.data[i]!));
    assert.ok(worst < 1e-6, `resolveNormalization ${n.kind}: differs from normalize by ${worst}`);
  }
  await assert.rejects(resolveNormalization(rasterSource(raw, 'x.zarr'), { kind: 'percentile', low: 1, high: 99 }), /x\.zarr: 'percentile' normalisation needs the whole image/);
});

for (const format of [2, 3] as const) {
  test(`OME-Zarr ${format === 2 ? 'NGFF 0.4 (Zarr v2)' : 'NGFF 0.5 (Zarr v3)'}: channel, z and level selection read by region`, async () => {
    const rng = new Rng(format);
    const planes = [noise(rng, 40, 50, 2), noise(rng, 40, 50, 2), noise(rng, 40, 50, 2)];
    const path = join(dir, `read-v${format}.ome.zarr`);
    await writeOmeZarrImage(path, planes, { format, chunk: 16, downsampled: 1 });
    const img = await openOmeZarrImage(path, { channel: 1, z: 2 });
    assert.deepEqual(img.axes, ['z', 'c', 'y', 'x']);
    assert.equal(img.info.ngffVersion, format === 2 ? '0.4' : '0.5');
    assert.deepEqual(img.planes, [{ t: 0, z: 2 }]);
    const r = await img.plane(0, 2).readRegion(7, 13, 20, 30);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 30; x++) assert.equal(r.data[y * 30 + x], planes[2]!.data[((7 + y) * 50 + 13 + x) * 2 + 1], `pixel ${y},${x}`);
    const all = await openOmeZarrImage(path, {});
    assert.equal(all.channels, 2, 'without --channel all channels are read');
    assert.equal(all.planes.length, 3, 'without --z all planes are predicted');
    const both = await all.plane(0, 1).readRegion(3, 4, 2, 2);
    assert.deepEqual(Array.from(both.data), [0, 1].flatMap((dy) => [0, 1].flatMap((dx) => [0, 1].map((c) => planes[1]!.data[((3 + dy) * 50 + 4 + dx) * 2 + c]!))), 'H x W x C interleaving');
    const l1 = await openOmeZarrImage(path, { level: 1, channel: 0, z: 0 });
    assert.deepEqual([l1.height, l1.width], [20, 25]);
    const px = await l1.plane(0, 0).readRegion(3, 4, 1, 1);
    assert.equal(px.data[0], planes[0]!.data[(6 * 50 + 8) * 2], 'level 1 pixel (3, 4) is level 0 pixel (6, 8)');
    await assert.rejects(openOmeZarrImage(path, { level: 2 }), /level 2 does not exist \(0\.\.1\)/);
    await assert.rejects(openOmeZarrImage(path, { z: 3 }), /z 3 is out of range/);
  });
}

/** A pointwise stub with alignment 4 (12 -> 8 tiles): class-1 probability = `foreground` of the input pixel. */
function pointwiseStub(foreground: (v: number) => number): TilePredictor {
  return {
    inputShape: [12, 12],
    outputShape: [8, 8],
    channels: 1,
    classes: 2,
    alignment: 4,
    predictBatch(tiles, n) {
      const out = new Float32Array(n * 64 * 2);
      for (let b = 0; b < n; b++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
        const v = foreground(tiles[b * 144 + (y + 2) * 12 + x + 2]!);
        out[(b * 64 + y * 8 + x) * 2] = 1 - v;
        out[(b * 64 + y * 8 + x) * 2 + 1] = v;
      }
      return Promise.resolve(out);
    },
  };
}

/** Class-1 probability = the input (clipped to [0, 1]), so the image draws the probability map. */
const passThrough = pointwiseStub((v) => Math.min(1, Math.max(0, v)));

/** Class 1 where the input is above 0.5 (objects are where the image is bright). */
const threshold = pointwiseStub((v) => (v > 0.5 ? 1 : 0));

describe('chunk-parallel prediction into OME-Zarr', () => {
  for (const format of [2, 3] as const) {
    test(`v${format}: 3 jobs write the bytes 1 job writes; equal to whole-image predict; reruns skip; an aborted job resumes to the same bytes`, async () => {
      const raw = noise(new Rng(40 + format), 45, 70);
      const opts = { outputs: ['mask', 'prob', 'instances'] as const, normalization: { kind: 'dtype' } as const, classNames: ['background', 'cell'], chunkSize: 16 };
      const one = join(dir, `one-v${format}.ome.zarr`);
      const three = join(dir, `three-v${format}.ome.zarr`);
      for (const p of [one, three]) await writeOmeZarrImage(p, [raw], { format, chunk: 32 });
      const r1 = await predictOmeZarr(one, {}, () => net, opts);
      assert.deepEqual([r1.chunks, r1.computed, r1.skipped], [15, 15, 0], '45 x 70 in 16 px chunks: 3 x 5 chunks');
      for (let i = 0; i < 3; i++) await predictOmeZarr(three, {}, () => net, { ...opts, job: { index: i, count: 3 } });
      await finalizeOmeZarr(one);
      await finalizeOmeZarr(three);
      assert.deepEqual(storeDigest(three), storeDigest(one), 'the store after 3 jobs + finalize equals the store after 1 job + finalize, file for file');

      // Equal to in-memory whole-image prediction.
      const whole = await predict(normalize(raw, { kind: 'dtype' }), net, { batchSize: 1 });
      const store = new FileSystemStore(one);
      const open = format === 2 ? zarr.open.v2 : zarr.open.v3;
      const maskArr = await open(zarr.root(store).resolve('labels/unet_mask/0'), { kind: 'array' });
      const mask = await zarr.get(maskArr, [null, null]);
      assert.deepEqual(Array.from(mask.data as Uint8Array), Array.from(whole.mask!.data), 'mask equals whole-image predict');
      const probArr = await open(zarr.root(store).resolve('unet_prob/0'), { kind: 'array' });
      const prob = await zarr.get(probArr, [1, null, null]);
      const fg = Float32Array.from({ length: 45 * 70 }, (_, i) => whole.probabilities!.data[i * 2 + 1]!);
      assert.deepEqual(Array.from(prob.data as Float32Array), Array.from(fg), 'class-1 probabilities equal whole-image predict bit for bit');
      const instArr = await open(zarr.root(store).resolve('labels/unet_instances/0'), { kind: 'array' });
      const inst = (await zarr.get(instArr, [null, null])).data as Uint32Array;
      const ref = instancesFromClassMask(whole.mask!.data, null, 45, 70, { foregroundClasses: [1], watershed: false, seedThreshold: 0.9, minSize: 0 });
      assert.deepEqual(Array.from(inst), Array.from(ref.labels), 'instance ids equal whole-image instances, id for id');
      const level1 = (await zarr.get(await open(zarr.root(store).resolve('labels/unet_mask/1'), { kind: 'array' }), [null, null])).data as Uint8Array;
      assert.deepEqual(Array.from(level1), Array.from(downsampleLabels(whole.mask!.data as Uint8Array, 45, 70)), 'mask level 1 is the 2 x 2 mode of level 0');

      // Rerun: nothing computed. Lost chunk: only it is recomputed, to the same bytes.
      const again = await predictOmeZarr(three, {}, () => net, { ...opts, job: { index: 1, count: 3 } });
      assert.deepEqual([again.computed, again.skipped], [0, 5]);
      await unlink(join(three, 'unet_work/unet/done/0.1.2.json'));
      await unlink(join(three, format === 2 ? 'labels/unet_mask/0/1/2' : 'labels/unet_mask/0/c/1/2'));
      const redo = await predictOmeZarr(three, {}, () => net, { ...opts, job: { index: 1, count: 3 } });
      assert.deepEqual([redo.computed, redo.skipped], [1, 4]);
      assert.deepEqual(storeDigest(three), storeDigest(one), 'recomputing a lost chunk restores the same bytes');

      // A job stopped after its second chunk, then rerun, ends with the same store.
      const killed = join(dir, `killed-v${format}.ome.zarr`);
      await writeOmeZarrImage(killed, [raw], { format, chunk: 32 });
      const ac = new AbortController();
      await assert.rejects(predictOmeZarr(killed, {}, () => net, { ...opts, signal: ac.signal, onChunk: (p) => (p.done === 2 ? ac.abort() : undefined) }), /aborted/);
      const resumed = await predictOmeZarr(killed, {}, () => net, opts);
      assert.deepEqual([resumed.computed, resumed.skipped], [13, 2]);
      await finalizeOmeZarr(killed);
      assert.deepEqual(storeDigest(killed), storeDigest(one), 'aborted + rerun equals one uninterrupted run');
    });
  }

  for (const [connectivity, minSize] of [[4, 0], [8, 0], [8, 10]] as const) {
    test(`merge-instances, ${connectivity}-connectivity, min size ${minSize}: objects across chunk edges and corners get the whole-image ids`, async () => {
      const H = 48;
      const W = 56;
      const img = new Uint8Array(H * W);
      const put = (y0: number, x0: number, y1: number, x1: number): void => {
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) img[y * W + x] = 255;
      };
      // Chunks of 16 px: borders at 16, 32 and 48 on both axes.
      put(12, 12, 20, 20); // across the corner of 4 chunks
      put(30, 1, 34, 40); // a bar across a horizontal border and two vertical ones
      put(40, 30, 48, 33); // across a vertical border, touching the image bottom
      put(2, 36, 10, 40); // inside one chunk
      put(33, 47, 47, 49); // across a vertical border
      put(15, 2, 16, 4); // 2 pixels, above the border at 16 ...
      img[16 * W + 4] = 255; // ... and one diagonally below it: one object under 8-connectivity
      // A diagonal line through the corner at (16, 48): 4-separate pixels, one 8-connected object.
      for (let k = 0; k < 8; k++) img[(12 + k) * W + 44 + k] = 255;
      const path = join(dir, `objects-${connectivity}-${minSize}.ome.zarr`);
      await writeOmeZarrImage(path, [{ data: img, height: H, width: W, channels: 1 }], { chunk: 16 });
      await predictOmeZarr(path, {}, () => threshold, { outputs: ['mask', 'instances'], normalization: { kind: 'dtype' }, classNames: ['bg', 'obj'], chunkSize: 16, job: { index: 0, count: 1 }, instances: { connectivity, minSize } });
      const merged = await mergeInstances(path);
      const arr = await zarr.open.v2(zarr.root(new FileSystemStore(path)).resolve('labels/unet_instances/0'), { kind: 'array' });
      const ids = (await zarr.get(arr, [null, null])).data as Uint32Array;
      const ref = instancesFromClassMask(Uint8Array.from(img, (v) => (v ? 1 : 0)), null, H, W, { foregroundClasses: [1], watershed: false, seedThreshold: 0.9, minSize }, connectivity);
      assert.equal(merged.objects[0], ref.count, `mergeInstances: ${merged.objects[0]} objects, whole image ${ref.count}`);
      assert.equal(ref.count, ({ '4-0': 15, '8-0': 7, '8-10': 5 } as Record<string, number>)[`${connectivity}-${minSize}`], 'the reference counts the objects this test is about');
      assert.deepEqual(Array.from(ids), Array.from(ref.labels), 'merged ids equal the whole-image ids, pixel for pixel');
      if (connectivity === 4) await assert.rejects(mergeInstances(path, {}, 'unet', { connectivity: 8 }), /labelled with 4-connectivity/);
      const labels = JSON.parse(await readFile(join(path, 'labels/.zattrs'), 'utf8')) as { labels: string[] };
      assert.deepEqual(labels.labels, ['unet_mask', 'unet_instances']);
    });
  }

  test('watershed across chunk borders and corners: touching objects stay apart, ids equal whole-image watershed; a halo too small is an error', async () => {
    const H = 48;
    const W = 56;
    const img = new Uint8Array(H * W);
    // A cell: rim value (foreground, no seed), interior value (a seed, p >= 0.9).
    const cell = (y0: number, x0: number, y1: number, x1: number, rim = 160, inner = 250): void => {
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) img[y * W + x] = y === y0 || y === y1 - 1 || x === x0 || x === x1 - 1 ? rim : inner;
    };
    cell(3, 9, 11, 16); // two cells touching at the vertical border x = 16
    cell(3, 16, 11, 23);
    for (const [y, x] of [[10, 26], [10, 32], [16, 26], [16, 32]] as const) cell(y, x, y + 6, x + 6); // four cells meeting at the corner (16, 32)
    cell(28, 41, 34, 49); // one cell across the borders y = 32 and x = 48
    cell(34, 41, 38, 49); // touching it from below
    cell(40, 10, 47, 21, 180, 180); // no seed at all: a foreground region of its own, across x = 16
    cell(24, 4, 26, 6, 250, 250); // 4 pixels, dropped by the min size
    const path = join(dir, 'watershed.ome.zarr');
    await writeOmeZarrImage(path, [{ data: img, height: H, width: W, channels: 1 }], { chunk: 16 });
    const instances = { watershed: true, seedThreshold: 0.9, minSize: 5, halo: 4, maxHalo: 8 };
    const opts = { outputs: ['mask', 'instances'] as const, normalization: { kind: 'dtype' } as const, classNames: ['bg', 'cell'], chunkSize: 16, instances };
    for (let i = 0; i < 3; i++) await predictOmeZarr(path, {}, () => passThrough, { ...opts, job: { index: i, count: 3 } });
    const done = await finalizeOmeZarr(path);
    const arr = await zarr.open.v2(zarr.root(new FileSystemStore(path)).resolve('labels/unet_instances/0'), { kind: 'array' });
    const ids = (await zarr.get(arr, [null, null])).data as Uint32Array;
    const whole = await predict(normalize({ data: img, height: H, width: W, channels: 1 }, { kind: 'dtype' }), passThrough, { batchSize: 1, outputs: { probabilities: false, foregroundClasses: [1] } });
    const ref = instancesFromClassMask(whole.mask!.data, whole.foreground!.data, H, W, { foregroundClasses: [1], watershed: true, seedThreshold: 0.9, minSize: 5 });
    assert.equal(ref.count, 9, 'whole image: 2 + 4 + 2 cells and the unseeded region (the 4-pixel cell dropped)');
    assert.ok(labelComponents(whole.mask!.data, H, W, 4).count < ref.count, 'the touching cells are single foreground components: adjacency would merge them');
    assert.deepEqual(done.objects, [ref.count]);
    assert.deepEqual(Array.from(ids), Array.from(ref.labels), 'chunked watershed ids equal the whole-image watershed ids, pixel for pixel');

    // A foreground level above the rims (160/255 = 0.63) makes objects of the interiors and the unseeded
    // region (180/255 = 0.71) only: chunked ids equal whole-image ids again, with and without the watershed.
    const fgLevel = 0.65;
    for (const watershed of [true, false]) {
      const leveled = join(dir, `level-${watershed}.ome.zarr`);
      await writeOmeZarrImage(leveled, [{ data: img, height: H, width: W, channels: 1 }], { chunk: 16 });
      for (let i = 0; i < 3; i++) await predictOmeZarr(leveled, {}, () => passThrough, { ...opts, instances: { ...instances, watershed, foregroundThreshold: fgLevel }, job: { index: i, count: 3 } });
      await finalizeOmeZarr(leveled);
      const a = await zarr.open.v2(zarr.root(new FileSystemStore(leveled)).resolve('labels/unet_instances/0'), { kind: 'array' });
      const got = (await zarr.get(a, [null, null])).data as Uint32Array;
      const refL = instancesFromClassMask(whole.mask!.data, whole.foreground!.data, H, W, { foregroundClasses: [1], watershed, seedThreshold: 0.9, minSize: 5, foregroundThreshold: fgLevel }, 4, whole.foreground!.data);
      let objectPixels = 0;
      for (const l of refL.labels) if (l) objectPixels++;
      let before = 0;
      for (const l of ref.labels) if (l) before++;
      assert.ok(objectPixels < before, `foreground level ${fgLevel} (watershed ${watershed}): fewer object pixels than the argmax (${objectPixels} vs ${before})`);
      assert.deepEqual(Array.from(got), Array.from(refL.labels), `foreground level ${fgLevel} (watershed ${watershed}): chunked ids equal whole-image ids`);
    }

    // Seeds eroded by 2 px vanish in these small cells (their 4-pixel-wide interiors), so touching
    // cells join: the chunked run must erode its seeds as the whole-image run does.
    const eroded = join(dir, 'eroded.ome.zarr');
    await writeOmeZarrImage(eroded, [{ data: img, height: H, width: W, channels: 1 }], { chunk: 16 });
    for (let i = 0; i < 3; i++) await predictOmeZarr(eroded, {}, () => passThrough, { ...opts, instances: { ...instances, seedErosion: 2 }, job: { index: i, count: 3 } });
    await finalizeOmeZarr(eroded);
    const e = await zarr.open.v2(zarr.root(new FileSystemStore(eroded)).resolve('labels/unet_instances/0'), { kind: 'array' });
    const refE = instancesFromClassMask(whole.mask!.data, whole.foreground!.data, H, W, { foregroundClasses: [1], watershed: true, seedThreshold: 0.9, seedErosion: 2, minSize: 5 });
    assert.ok(refE.count < ref.count, `seeds eroded by 2 px: touching cells join (${refE.count} objects against ${ref.count})`);
    assert.deepEqual(Array.from((await zarr.get(e, [null, null])).data as Uint32Array), Array.from(refE.labels), 'seed erosion: chunked ids equal whole-image ids');

    const tight = join(dir, 'watershed-tight.ome.zarr');
    await writeOmeZarrImage(tight, [{ data: img, height: H, width: W, channels: 1 }], { chunk: 16 });
    await assert.rejects(predictOmeZarr(tight, {}, () => passThrough, { ...opts, instances: { ...instances, maxHalo: 4 } }), /reaches beyond a 4-pixel halo/);
  });
});

test('a rerun asking for more outputs recomputes the chunks and keeps what was done; one with another tile is refused', async () => {
  const img = noise(new Rng(77), 20, 20);
  const path = join(dir, 'more.ome.zarr');
  await writeOmeZarrImage(path, [img], { chunk: 8 });
  const base = { normalization: { kind: 'dtype' } as const, classNames: ['bg', 'obj'], chunkSize: 8 };
  const a = await predictOmeZarr(path, {}, () => threshold, { ...base, outputs: ['mask'] });
  assert.deepEqual([a.computed, a.skipped], [9, 0]);
  const b = await predictOmeZarr(path, {}, () => threshold, { ...base, outputs: ['mask', 'instances'] });
  assert.deepEqual([b.computed, b.skipped], [9, 0], 'chunks done for mask only are computed again for instances');
  const merged = await mergeInstances(path);
  assert.equal(merged.objects[0], labelComponents(Uint8Array.from(img.data, (v) => (v / 255 > 0.5 ? 1 : 0)), 20, 20, 4).count);
  const c = await predictOmeZarr(path, {}, () => threshold, { ...base, outputs: ['instances'] });
  assert.deepEqual([c.computed, c.skipped], [0, 9]);
  const d = await predictOmeZarr(path, {}, () => threshold, { ...base, outputs: ['prob'] });
  assert.deepEqual([d.computed, d.skipped], [9, 0]);
  const after = await finalizeOmeZarr(path);
  assert.deepEqual(after.objects, merged.objects, "a prob-only rerun leaves the chunks' mask and instances done, their object data kept");
  const otherTile: TilePredictor = { ...threshold, inputShape: [16, 16], outputShape: [12, 12], predictBatch: () => Promise.reject(new Error('must not run')) };
  await assert.rejects(predictOmeZarr(path, {}, () => otherTile, { ...base, outputs: ['mask'] }), /ensureDocument: .*labels\/unet_mask\/\.zattrs exists with other contents/);
});

const python = pythonWith('zarr');

test('python3-zarr (independent reader) opens the NGFF 0.4 labels, their pyramid levels and the probabilities we write', { skip: skipUnless(python ? false : 'python3 with zarr not found (install Debian python3-zarr)') }, async () => {
  const raw = noise(new Rng(9), 37, 41);
  const path = join(dir, 'py.ome.zarr');
  await writeOmeZarrImage(path, [raw], { chunk: 16 });
  await predictOmeZarr(path, {}, () => net, { outputs: ['mask', 'prob', 'instances'], normalization: { kind: 'dtype' }, classNames: ['bg', 'cell'], chunkSize: 16, probDtype: 'uint16' });
  await finalizeOmeZarr(path);
  const whole = await predict(normalize(raw, { kind: 'dtype' }), net, { batchSize: 1 });
  const script = `
import json, sys, zarr
def mode2(a):
    # The next pyramid level, computed independently: the most frequent label of each 2 x 2 block, ties to the first.
    h, w = a.shape
    out = [[0] * ((w + 1) // 2) for _ in range((h + 1) // 2)]
    for y in range(0, h, 2):
        for x in range(0, w, 2):
            vals = [int(v) for v in a[y:y + 2, x:x + 2].ravel()]
            out[y // 2][x // 2] = max(vals, key=vals.count)
    return out
def pyramid(group):
    ds = group.attrs['multiscales'][0]['datasets']
    levels = [group[d['path']][:] for d in ds]
    return {'paths': [d['path'] for d in ds], 'scales': [d['coordinateTransformations'][0]['scale'] for d in ds],
            'shapes': [list(l.shape) for l in levels], 'modeOk': all(levels[k + 1].tolist() == mode2(levels[k]) for k in range(len(levels) - 1)),
            'top': levels[-1].ravel().tolist(), 'nonzero': [int((l != 0).sum()) for l in levels]}
root = zarr.open_group(sys.argv[1], mode='r')
labels = root['labels']
m = labels['unet_mask']
ms = m.attrs['multiscales'][0]
a = m[ms['datasets'][0]['path']]
p = root['unet_prob']['0']
i = labels['unet_instances']['0']
print(json.dumps({'labels': labels.attrs['labels'], 'imageLabel': m.attrs['image-label'], 'axes': [x['name'] for x in ms['axes']],
  'shape': list(a.shape), 'chunks': list(a.chunks), 'compressor': a.compressor.codec_id, 'mask': a[:].ravel().tolist(),
  'probDtype': str(p.dtype), 'prob1': p[1].ravel().tolist(), 'instDtype': str(i.dtype), 'instMax': int(i[:].max()),
  'maskPyramid': pyramid(m), 'instPyramid': pyramid(labels['unet_instances'])}))
`;
  const got = JSON.parse(execFileSync(python!, ['-c', script, path], { encoding: 'utf8' })) as Record<string, unknown>;
  assert.deepEqual(got.labels, ['unet_mask', 'unet_instances']);
  assert.deepEqual((got.imageLabel as { source: unknown }).source, { image: '../../' });
  assert.deepEqual(got.axes, ['y', 'x']);
  assert.deepEqual(got.shape, [37, 41]);
  assert.deepEqual(got.chunks, [16, 16]);
  assert.equal(got.compressor, 'blosc');
  assert.deepEqual(got.mask, Array.from(whole.mask!.data), 'python-zarr reads the mask predict() computes');
  assert.equal(got.probDtype, 'uint16');
  const q = Array.from({ length: 37 * 41 }, (_, k) => Math.round(Math.min(1, Math.max(0, whole.probabilities!.data[k * 2 + 1]!)) * 65535));
  assert.deepEqual(got.prob1, q, 'uint16-quantised class-1 probabilities');
  assert.equal(got.instDtype, 'uint32');
  for (const [key, pyr] of [['mask', got.maskPyramid], ['instances', got.instPyramid]] as const) {
    const p = pyr as { paths: string[]; scales: number[][]; shapes: number[][]; modeOk: boolean; nonzero: number[] };
    assert.deepEqual(p.paths, ['0', '1', '2'], `${key}: 37 x 41 in 16 px chunks halves twice`);
    assert.deepEqual(p.scales, [[1, 1], [2, 2], [4, 4]]);
    assert.deepEqual(p.shapes, [[37, 41], [19, 21], [10, 11]]);
    assert.equal(p.modeOk, true, `${key}: each level is the 2 x 2 mode of the one below (python's own computation)`);
  }

  // Big objects (the threshold stub on blobs), so that the upper levels hold labels too.
  const blobs = new Uint8Array(37 * 41);
  for (let y = 0; y < 37; y++) for (let x = 0; x < 41; x++) if ((y - 12) ** 2 + (x - 12) ** 2 < 64 || (y > 22 && x > 15 && x < 38)) blobs[y * 41 + x] = 255;
  const blobPath = join(dir, 'py-blobs.ome.zarr');
  await writeOmeZarrImage(blobPath, [{ data: blobs, height: 37, width: 41, channels: 1 }], { chunk: 16 });
  await predictOmeZarr(blobPath, {}, () => threshold, { outputs: ['mask', 'instances'], normalization: { kind: 'dtype' }, classNames: ['bg', 'obj'], chunkSize: 16 });
  await finalizeOmeZarr(blobPath);
  const blobGot = JSON.parse(execFileSync(python!, ['-c', script.split('\nroot =')[0] + `
root = zarr.open_group(sys.argv[1], mode='r')
print(json.dumps([pyramid(root['labels'][n]) for n in ['unet_mask', 'unet_instances']]))
`, blobPath], { encoding: 'utf8' })) as { modeOk: boolean; nonzero: number[] }[];
  for (const p of blobGot) {
    assert.equal(p.modeOk, true);
    assert.ok(p.nonzero.every((n) => n > 0), `every level holds labels (${p.nonzero.join(', ')} non-zero pixels)`);
  }});
