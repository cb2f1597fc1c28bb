/**
 * Big TIFFs in plain `predict`: a tiled TIFF (written by Debian python3-tifffile) is read band
 * by band, never as a whole plane, and the strip-written mask and probabilities equal
 * whole-image prediction bit for bit; the strip writer's files (classic and BigTIFF, pages
 * filled interleaved) read back in tifffile exactly.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initBackend } from '../src/backend/index.js';
import { predict } from '../src/infer/predict.js';
import { unetPredictor, type TilePredictor } from '../src/infer/predictor.js';
import { predictPagesByRegion, readsByRegion } from '../src/infer/region-predict.js';
import type { RegionSource } from '../src/infer/source.js';
import { predictFile } from '../src/infer/write-outputs.js';
import { readImage } from '../src/io/image.js';
import { makeMetadata } from '../src/io/model-format.js';
import { saveModel } from '../src/io/model-files.js';
import { normalize } from '../src/io/normalize.js';
import { openTiffRegions } from '../src/io/tiff-region.js';
import { TiffStripWriter } from '../src/io/tiff-stream.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { Rng } from '../src/util/rng.js';
import { pythonWith, runCli, skipUnless } from './helpers.js';

const python = pythonWith('tifffile, numpy');
const skip = skipUnless(python ? false : 'python3 with tifffile and numpy not found (Debian python3-tifffile)');
const CONFIG = resolveConfig({ depth: 2, baseFilters: 4, classes: 2, inputChannels: 1, padding: 'valid', dropout: 0 });
let dir = '';
let net: TilePredictor;
let dispose = (): void => undefined;

const SCRIPT = `
import sys, numpy as np, tifffile
d = sys.argv[1]
rng = np.random.default_rng(5)
a = rng.integers(0, 255, size=(150, 130), dtype=np.uint8)
tifffile.imwrite(d + '/tiled.tif', a, tile=(32, 48), compression='zlib')
tifffile.imwrite(d + '/strips.tif', a, rowsperstrip=16)
`;

before(async () => {
  if (!python) return;
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'unet-region-'));
  execFileSync(python, ['-c', SCRIPT, dir]);
  const model = buildUNet(CONFIG, 64);
  initializeWeights(model, new Rng(11));
  await saveModel(join(dir, 'model'), model, makeMetadata({ config: CONFIG, tileSize: [64, 64], normalization: { kind: 'dtype' }, classNames: ['background', 'cell'] }));
  const p = unetPredictor(model, CONFIG, 64);
  net = p;
  dispose = () => {
    p.dispose();
    model.dispose();
  };
});
after(async () => {
  dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('readsByRegion: tiled TIFFs yes, a small stripped one no', { skip }, async () => {
  for (const [name, want] of [['tiled.tif', true], ['strips.tif', false]] as const) {
    const t = await openTiffRegions(join(dir, name));
    assert.equal(readsByRegion(t), want, name);
    await t.close();
  }
});

test('a tiled TIFF predicted by region: no read covers the plane, mask and probabilities equal whole-image predict', { skip }, async () => {
  const file = join(dir, 'tiled.tif');
  const tiff = await openTiffRegions(file);
  const src = tiff.source(0, 0);
  const reads: [number, number, number, number][] = [];
  const watched: RegionSource = { ...src, name: src.name, readRegion: (t, l, h, w) => (reads.push([t, l, h, w]), src.readRegion(t, l, h, w)) };
  const out = join(dir, 'by-region');
  const written = await predictPagesByRegion(file, [watched], () => net, { outDir: out, outputs: ['mask', 'prob'], normalization: { kind: 'dtype' } });
  await tiff.close();
  assert.deepEqual(written, [join(out, 'tiled_mask.tif'), join(out, 'tiled_prob.tif')]);
  assert.ok(reads.length >= 3, `${reads.length} reads`);
  for (const [t, l, h, w] of reads) assert.ok(h < 150 || w < 130, `read ${t},${l} ${h} x ${w} covers the whole 150 x 130 plane`);

  const [page] = await readImage(file);
  const whole = await predict(normalize(page!, { kind: 'dtype' }), net, { batchSize: 1 });
  const [mask] = await readImage(join(out, 'tiled_mask.tif'));
  assert.ok(mask!.data instanceof Uint8Array);
  assert.deepEqual(Array.from(mask!.data), Array.from(whole.mask!.data), 'mask equals whole-image prediction');
  const probs = await readImage(join(out, 'tiled_prob.tif'));
  assert.equal(probs.length, 2);
  for (let k = 0; k < 2; k++) {
    const want = Float32Array.from({ length: 150 * 130 }, (_, i) => whole.probabilities!.data[i * 2 + k]!);
    assert.deepEqual(Array.from(probs[k]!.data), Array.from(want), `class ${k} probabilities bit for bit`);
  }
  const viaTifffile = execFileSync(python!, ['-c', 'import sys, tifffile; a = tifffile.imread(sys.argv[1]); print(a.shape, a.dtype, int(a.sum()))', join(out, 'tiled_mask.tif')], { encoding: 'utf8' });
  let ones = 0;
  for (const v of whole.mask!.data) ones += v;
  assert.equal(viaTifffile.trim(), `(150, 130) uint8 ${ones}`, 'tifffile reads the strip-written mask');
});

test('predictFile takes the region path for a tiled TIFF: _mask.tif, no overlay, instances refused', { skip }, async () => {
  const out = join(dir, 'file');
  const base = { outDir: out, normalization: { kind: 'dtype' } as const, classNames: ['bg', 'cell'], batchSize: 1 };
  const r = await predictFile(join(dir, 'tiled.tif'), net, { ...base, outputs: ['mask', 'overlay'] });
  assert.equal(r.byRegion, true);
  assert.deepEqual(r.written, [join(out, 'tiled_mask.tif')]);
  assert.match(r.notWritten![0]!, /overlay not written: .*tiled\.tif is read by region/);
  await assert.rejects(predictFile(join(dir, 'tiled.tif'), net, { ...base, outputs: ['instances'] }), /tiled\.tif is read by region .* --ome-zarr/);
  const small = await predictFile(join(dir, 'strips.tif'), net, { ...base, outputs: ['mask'] });
  assert.deepEqual(small.written, [join(out, 'strips_mask.png')], 'a small stripped TIFF is read whole, as before');
  assert.equal(existsSync(join(out, 'strips_mask.tif')), false);
});

test('TiffStripWriter: classic and BigTIFF, pages filled interleaved, partial strips; tifffile reads them exactly', { skip }, async () => {
  for (const bigTiff of [false, true]) {
    const path = join(dir, `w-${bigTiff}.tif`);
    const H = 37;
    const W = 23;
    const a = Uint16Array.from({ length: H * W }, (_, i) => (i * 37) % 65536);
    const b = Float32Array.from({ length: H * W }, (_, i) => i / 7);
    const w = await TiffStripWriter.create(path, [{ height: H, width: W, type: 'uint16' }, { height: H, width: W, type: 'float32' }], { rowsPerStrip: 8, bigTiff });
    // Bands of 5 then 3 rows: strips of 8 fill across appends; the last strip has 5 rows.
    for (let top = 0, k = 0; top < H; k++) {
      const rows = Math.min(k % 2 === 0 ? 5 : 3, H - top);
      await w.appendRows(0, a.subarray(top * W, (top + rows) * W), rows);
      await w.appendRows(1, b.subarray(top * W, (top + rows) * W), rows);
      top += rows;
    }
    assert.equal(existsSync(path), false, 'nothing under the final name before close');
    await w.close();
    const got = JSON.parse(execFileSync(python!, ['-c', 'import sys, json, tifffile; t = tifffile.TiffFile(sys.argv[1]); print(json.dumps([t.is_bigtiff] + [p.asarray().ravel().tolist() for p in t.pages]))', path], { encoding: 'utf8' })) as [boolean, number[], number[]];
    assert.equal(got[0], bigTiff);
    assert.deepEqual(got[1], Array.from(a));
    assert.deepEqual(got[2], Array.from(b));
    const ours = await readImage(path);
    assert.deepEqual(Array.from(ours[1]!.data), Array.from(b), 'our own reader too');
  }
});

test('unet predict TILED.tif --out DIR (no --ome-zarr): the region path, the whole-image mask', { skip }, async () => {
  const out = join(dir, 'cli');
  const r = await runCli(['predict', '--model', join(dir, 'model'), '--tile', '64', '--out', out, join(dir, 'tiled.tif')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /tiled_mask\.tif/);
  assert.match(r.stderr, /note: overlay not written/);
  // strips.tif holds the same pixels and is read whole: the same engine, the other path.
  const w = await runCli(['predict', '--model', join(dir, 'model'), '--tile', '64', '--outputs', 'mask', '--out', out, join(dir, 'strips.tif')]);
  assert.equal(w.code, 0, w.stderr);
  const [mask] = await readImage(join(out, 'tiled_mask.tif'));
  const [ref] = await readImage(join(out, 'strips_mask.png'));
  assert.deepEqual(Array.from(mask!.data), Array.from(ref!.data), 'region-path mask equals the whole-image mask of the same pixels');
});
