import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { labelObjects, loadDataset, pairByStem, type LoadDatasetOptions } from '../src/io/dataset.js';
import { readImage, writeImage, writeTiff } from '../src/io/image.js';
import { makeRaster, type Raster } from '../src/io/raster.js';
import { DSB, ISBI, skipWithoutSharedData } from './helpers.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unet-dataset-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ISBI_OPTS: LoadDatasetOptions = {
  normalization: { kind: 'dtype' },
  labelMode: { mode: 'binary', threshold: 127, invert: true },
  classes: 2,
  channels: 1,
  weightMap: { w0: 10, sigma: 5 },
};

function crop(r: Raster, size: number): Raster {
  const out = new (r.data.constructor as new (n: number) => Uint8Array)(size * size * r.channels);
  for (let y = 0; y < size; y++) for (let x = 0; x < size * r.channels; x++) out[y * size * r.channels + x] = r.data[y * r.width * r.channels + x]!;
  return makeRaster(out, size, size, r.channels);
}

async function folder(name: string): Promise<string> {
  const p = join(dir, name);
  await mkdir(p, { recursive: true });
  return p;
}

test('clear errors: a folder with no images, unmatched names, a label of different size, duplicate stems', async () => {
  const empty = await folder('empty');
  const imgs = await folder('imgs');
  const labs = await folder('labs');
  await assert.rejects(loadDataset(empty, labs, ISBI_OPTS), /dataset images: .*empty holds no images \(looked for \.png, \.jpg, \.jpeg, \.tif, \.tiff\)/);
  await writeImage(join(imgs, 'a.png'), makeRaster(new Uint8Array(16), 4, 4, 1));
  await writeImage(join(imgs, 'b.png'), makeRaster(new Uint8Array(16), 4, 4, 1));
  await writeImage(join(labs, 'a.png'), makeRaster(new Uint8Array(20), 5, 4, 1));
  await writeImage(join(labs, 'c.tif'), makeRaster(new Uint8Array(16), 4, 4, 1));
  await assert.rejects(pairByStem(imgs, labs), /images without a label: .*b\.png; labels without an image: .*c\.tif/);
  await rm(join(labs, 'c.tif'));
  await writeImage(join(labs, 'b.tif'), makeRaster(new Uint8Array(16), 4, 4, 1));
  await assert.rejects(loadDataset(imgs, labs, ISBI_OPTS), /dataset: .*labs\/a\.png is 5x4 but .*imgs\/a\.png is 4x4/);
  await writeImage(join(labs, 'b.png'), makeRaster(new Uint8Array(16), 4, 4, 1));
  await assert.rejects(pairByStem(imgs, labs), /labs\/b\.png and .*labs\/b\.tif have the same stem "b"/);
});

test('TIFF stack pairs: pages matched in order, page-count mismatch reported', { skip: skipWithoutSharedData() }, async () => {
  const images: Raster[] = [];
  const labels: Raster[] = [];
  for (const k of ['00', '01', '02']) {
    images.push(crop((await readImage(`${ISBI}images/train_${k}.png`))[0]!, 96));
    labels.push(crop((await readImage(`${ISBI}labels/train_${k}.png`))[0]!, 96));
  }
  await writeTiff(join(dir, 'train-volume.tif'), images);
  await writeTiff(join(dir, 'train-labels.tif'), labels);
  const samples = await loadDataset(join(dir, 'train-volume.tif'), join(dir, 'train-labels.tif'), ISBI_OPTS);
  assert.deepEqual(samples.map((s) => s.name), ['train-volume_0', 'train-volume_1', 'train-volume_2']);
  for (const [k, s] of samples.entries()) {
    assert.equal(s.image.data[5], Math.fround(images[k]!.data[5]! / 255));
    // invert: membrane (0) is class 1.
    for (let i = 0; i < 96 * 96; i++) assert.equal(s.labels.data[i], labels[k]!.data[i] === 0 ? 1 : 0);
    // Weight map present, >= w_c everywhere, and the border term shows on membranes between cells.
    const w = s.weights!.data;
    assert.equal(w.length, 96 * 96);
    const maxMembrane = Math.max(...w.filter((_, i) => s.labels.data[i] === 1));
    assert.ok(maxMembrane > 5, `membrane weights reach ${maxMembrane}`);
  }
  await writeTiff(join(dir, 'two-labels.tif'), labels.slice(0, 2));
  await assert.rejects(loadDataset(join(dir, 'train-volume.tif'), join(dir, 'two-labels.tif'), ISBI_OPTS), /train-volume\.tif has 3 pages but .*two-labels\.tif has 2; image and label stacks must have the same page count/);
  await assert.rejects(loadDataset(join(dir, 'train-volume.tif'), dir, ISBI_OPTS), /train-volume\.tif is a file but .* is not; give two folders or two stack files/);
});

test('instance labels (DSB 2018, 16-bit): classes = id > 0 after cutting lines between touching nuclei', { skip: skipWithoutSharedData() }, async () => {
  // 00071198...: 256x256 fluorescence with 27 nuclei.
  const id = '00071198d059ba7f5914a526d124d28e6d010c92466da21d4a04cd5413362552';
  const imgs = await folder('dsb-images');
  const labs = await folder('dsb-labels');
  await copyFile(`${DSB}images/${id}.png`, join(imgs, `${id}.png`));
  await copyFile(`${DSB}labels/${id}.png`, join(labs, `${id}.png`));
  const opts: LoadDatasetOptions = { normalization: { kind: 'dtype' }, labelMode: { mode: 'instances' }, classes: 2, channels: 1, weightMap: {} };
  const [s] = await loadDataset(imgs, labs, opts);
  const raw = (await readImage(`${DSB}labels/${id}.png`))[0]!;
  const ids = labelObjects(raw, { mode: 'instances' }, 'raw');
  let cut = 0;
  let touching = 0;
  for (let i = 0; i < ids.length; i++) {
    assert.equal(s!.labels.data[i], ids[i]! > 0 ? 1 : 0);
    if (raw.data[i]! > 0 && ids[i] === 0) cut++;
    if (i % raw.width + 1 < raw.width && raw.data[i]! > 0 && raw.data[i + 1]! > 0 && raw.data[i + 1] !== raw.data[i]) touching++;
  }
  assertNoTouching(ids, raw.height, raw.width, 'DSB 00071198');
  assert.equal(new Set(ids).size - 1, 27, 'every nucleus survives the separation');
  assert.ok(s!.weights!.data.some((v) => v > 2), 'border term present');
  const noSep = labelObjects(raw, { mode: 'instances', separate: false }, 'raw');
  assert.deepEqual(noSep, Int32Array.from(raw.data));
  // Pixels are cut exactly when nuclei touch.
  assert.equal(cut > 0, touching > 0, `${cut} pixels cut, ${touching} horizontal contacts`);
});

/** Separated objects never touch: no pixel has one of its 8 neighbours in another object. */
function assertNoTouching(ids: ArrayLike<number>, h: number, w: number, what: string): void {
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const a = ids[y * w + x]!;
      if (a === 0) continue;
      for (const [dy, dx] of [[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1]] as const) {
        const [ny, nx] = [y + dy, x + dx];
        if (ny < 0 || ny >= h || nx < 0 || nx >= w) continue;
        const b = ids[ny * w + nx]!;
        assert.ok(b === 0 || b === a, `${what}: object ${a} at (${y}, ${x}) touches object ${b} at (${ny}, ${nx}) (8-neighbours) after separation`);
      }
    }
  }
}

test('instance labels: objects touching only diagonally, or side by side, are cut apart under the 8-neighbourhood', () => {
  // 1 1 0 0      Objects 1 and 2 meet at a corner (diagonal only); 3 touches 2 along a side.
  // 1 1 0 0
  // 0 0 2 2
  // 0 0 2 2
  // 0 0 3 3
  // 0 0 3 3
  const raw = makeRaster(Uint16Array.of(1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 3, 3, 0, 0, 3, 3), 6, 4, 1);
  const ids = labelObjects(raw, { mode: 'instances' }, 'corner.png');
  assertNoTouching(ids, 6, 4, 'corner.png');
  assert.ok(ids.some((v) => v === 1) && ids.some((v) => v === 2) && ids.some((v) => v === 3), `every object keeps pixels: ${[...ids].join(' ')}`);
  assert.notDeepEqual(ids, Int32Array.from(raw.data), 'the diagonal contact was cut');
});

test('instance labels: negative or fractional ids are refused with the file and pixel', async () => {
  const r = makeRaster(Float32Array.of(0, 1, 2.5, 3), 2, 2, 1);
  assert.throws(() => labelObjects(r, { mode: 'instances' }, 'f.tif'), /labels: f\.tif has value 2\.5 at pixel \(0, 1\); instance labels must be integers >= 0/);
});
