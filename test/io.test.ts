import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import jpeg from 'jpeg-js';
import { decodeImage, encodeTiff, sniffFormat } from '../src/io/image-codecs.js';
import { readImage, writeImage, writeTiff } from '../src/io/image.js';
import { makeRaster, type Raster } from '../src/io/raster.js';
import { DSB, ISBI, skipWithoutSharedData } from './helpers.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unet-io-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The DSB ids the tests use: two gray fluorescence, one RGB histology, one 1024x1024 brightfield. */
export const DSB_IDS = [
  '00071198d059ba7f5914a526d124d28e6d010c92466da21d4a04cd5413362552',
  '003cee89357d9fe13516167fd67b609a164651b21934585648c740d2c3d86dc1',
  '00ae65c1c6631ae6f2be1a449902976e6eb8483bf6b0740d00530220832c6d3e',
  '08275a5b1c2dfcd739e8c4888a5ee2d29f83eccfa75185404ced1dc0866ea992',
];

test('reads every ISBI 2012 file and the DSB 2018 subset used by the tests', { skip: skipWithoutSharedData() }, async () => {
  for (const sub of ['images', 'labels', 'test_images']) {
    const files = (await readdir(`${ISBI}${sub}`)).filter((f) => f.endsWith('.png'));
    assert.equal(files.length, 30, `${sub} holds 30 PNGs`);
    for (const f of files) {
      const [r, ...rest] = await readImage(`${ISBI}${sub}/${f}`);
      assert.equal(rest.length, 0);
      assert.ok(r!.data instanceof Uint8Array && r!.height === 512 && r!.width === 512 && r!.channels === 1, `${sub}/${f}`);
      if (sub === 'labels') assert.ok(r!.data.every((v) => v === 0 || v === 255), `${f} is binary {0, 255}`);
    }
  }
  const manifest = (await readFile(`${DSB}manifest.csv`, 'utf8')).split('\n').slice(1).map((l) => l.split(','));
  for (const id of DSB_IDS) {
    const row = manifest.find((r) => r[0] === id)!;
    const [img] = await readImage(`${DSB}images/${id}.png`);
    const [lab] = await readImage(`${DSB}labels/${id}.png`);
    assert.deepEqual([img!.height, img!.width, img!.channels], [Number(row[2]), Number(row[3]), Number(row[4])], `${id} image shape`);
    assert.ok(lab!.data instanceof Uint16Array && lab!.channels === 1, `${id}: 16-bit single-channel instance map`);
    assert.equal(new Set(lab!.data).size - 1, Number(row[5]), `${id}: instance count from the manifest`);
  }
});

test('16-bit PNG round trip through writeImage / readImage', async () => {
  const data = Uint16Array.from({ length: 7 * 5 }, (_, i) => (i * 1871) % 65536);
  const path = join(dir, 'ids.png');
  await writeImage(path, makeRaster(data, 7, 5, 1));
  const [back] = await readImage(path);
  assert.ok(back!.data instanceof Uint16Array);
  assert.deepEqual(back, makeRaster(data, 7, 5, 1));
});

test('multi-page TIFF round trip: uint8, uint16, float32 and RGB', async () => {
  const cases: Raster[][] = [
    [0, 1, 2].map((k) => makeRaster(Uint8Array.from({ length: 12 }, (_, i) => (i * 20 + k) % 256), 3, 4, 1)),
    [0, 1].map((k) => makeRaster(Uint16Array.from({ length: 12 }, (_, i) => i * 5000 + k), 4, 3, 1)),
    [0, 1, 2, 3].map((k) => makeRaster(Float32Array.from({ length: 6 }, (_, i) => Math.fround(i / 7 - k * 1e-3)), 2, 3, 1)),
    [makeRaster(Uint8Array.from({ length: 2 * 2 * 3 }, (_, i) => i * 10), 2, 2, 3), makeRaster(Uint8Array.from({ length: 2 * 2 * 3 }, (_, i) => 250 - i), 2, 2, 3)],
  ];
  for (const [k, pages] of cases.entries()) {
    const path = join(dir, `stack${k}.tif`);
    await writeTiff(path, pages);
    const back = await readImage(path);
    assert.equal(back.length, pages.length, `case ${k}: page count`);
    back.forEach((b, i) => {
      assert.equal(b.data.constructor, pages[i]!.data.constructor, `case ${k} page ${i}: sample type`);
      assert.deepEqual(b, pages[i], `case ${k} page ${i}`);
    });
  }
  // writeImage with .tif writes one page; float data refuses PNG.
  const prob = makeRaster(Float32Array.of(0, 0.25, 0.5, 1), 2, 2, 1);
  await writeImage(join(dir, 'p.tif'), prob);
  assert.deepEqual(await readImage(join(dir, 'p.tif')), [prob]);
  await assert.rejects(writeImage(join(dir, 'p.png'), prob), /PNG holds 8- or 16-bit integers, got Float32Array; write a \.tif/);
  assert.throws(() => encodeTiff([makeRaster(new Uint8Array(4), 2, 2, 1), makeRaster(new Uint16Array(4), 2, 2, 1)]), /page 2 is Uint16Array x 1 but page 1 is Uint8Array x 1/);
  assert.throws(() => encodeTiff([makeRaster(new Int32Array(4), 2, 2, 1)]), /cannot write Int32Array samples to TIFF; use Uint8Array, Uint16Array or Float32Array/);
});

test('JPEG: gray content reads as one channel, colour as RGB', async () => {
  const w = 16;
  const h = 8;
  const rgba = new Uint8Array(w * h * 4);
  for (let p = 0; p < w * h; p++) rgba.set([p * 2, p * 2, p * 2, 255], p * 4);
  const grayPath = join(dir, 'gray.jpg');
  await writeFile(grayPath, jpeg.encode({ data: rgba, width: w, height: h }, 100).data);
  const [g] = await readImage(grayPath);
  assert.equal(sniffFormat(await readFile(grayPath)), 'jpeg');
  assert.deepEqual([g!.height, g!.width, g!.channels], [h, w, 1]);
  assert.ok(Math.abs(g!.data[100]! - 200) <= 3, `lossy gray value ${g!.data[100]} near 200`);
  for (let p = 0; p < w * h; p++) rgba.set([255, 0, p], p * 4);
  const colourPath = join(dir, 'colour.jpg');
  await writeFile(colourPath, jpeg.encode({ data: rgba, width: w, height: h }, 100).data);
  const [c] = await readImage(colourPath);
  assert.deepEqual([c!.height, c!.width, c!.channels], [h, w, 3]);
  assert.ok(c!.data[0]! > 240 && c!.data[1]! < 15, 'red stays red');
});

test('clear errors for truncated, empty and unknown files', async () => {
  const png = await readFile(join(dir, 'ids.png'));
  const tif = await readFile(join(dir, 'stack1.tif'));
  const jpg = await readFile(join(dir, 'colour.jpg'));
  for (const [name, bytes] of [['cut.png', png.subarray(0, png.length - 30)], ['cut.tif', tif.subarray(0, 40)], ['cut.jpg', jpg.subarray(0, 200)]] as const) {
    const path = join(dir, name);
    await writeFile(path, bytes);
    await assert.rejects(readImage(path), (e: Error) => {
      assert.ok(e.message.startsWith(path), `message names the file: ${e.message}`);
      assert.match(e.message, /not a readable (PNG|TIFF|JPEG)|truncated/);
      return true;
    });
  }
  await writeFile(join(dir, 'empty.png'), new Uint8Array(0));
  await assert.rejects(readImage(join(dir, 'empty.png')), /empty\.png: not a PNG, JPEG or TIFF file \(first bytes: none, the file is empty\)/);
  assert.throws(() => decodeImage(Uint8Array.of(1, 2, 3, 4), 'x.bmp'), /x\.bmp: not a PNG, JPEG or TIFF file \(first bytes: 01 02 03 04\)/);
  await assert.rejects(readImage(join(dir, 'missing.png')), /readImage: cannot read .*missing\.png \(ENOENT\)/);
});
