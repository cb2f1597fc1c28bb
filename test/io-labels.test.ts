/**
 * Labels and outputs from the outside world (issue 13 §6, §4): 1-bit and 0/1 label masks train
 * on their foreground, all-background labels warn, >65,535 instances are written, clashing
 * output names are refused and a refused input leaves no output folder.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { binaryThreshold, DEFAULT_LABEL_MODE, loadDataset, prepareLabels } from '../src/io/dataset.js';
import { readImage } from '../src/io/image.js';
import { encodePng } from '../src/io/png.js';
import type { TilePredictor } from '../src/infer/predictor.js';
import { checkOutputStems, predictFile } from '../src/infer/write-outputs.js';
import { png } from './corpus-builders.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unet-labels-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const image = (h: number, w: number): Uint8Array => encodePng({ data: Uint8Array.from({ length: h * w }, (_, i) => (i * 13) % 256), height: h, width: w, channels: 1 });

async function dataset(name: string, label: Uint8Array): Promise<{ images: string; labels: string }> {
  const images = join(dir, name, 'images');
  const labels = join(dir, name, 'labels');
  await mkdir(images, { recursive: true });
  await mkdir(labels, { recursive: true });
  await writeFile(join(images, 'x.png'), image(2, 8));
  await writeFile(join(labels, 'x.png'), label);
  return { images, labels };
}

const opts = { normalization: { kind: 'dtype' }, labelMode: DEFAULT_LABEL_MODE, classes: 2, channels: 1 } as const;
const expected = [1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0];

test('1-bit label PNGs and 0/1 labels train on their foreground under the default threshold 127', async () => {
  const oneBit = await dataset('one-bit', png(8, 2, 1, 0, [[0b10110001], [0b01001110]]));
  const zeroOne = await dataset('zero-one', encodePng({ data: Uint8Array.from(expected), height: 2, width: 8, channels: 1 }));
  const full = await dataset('full', encodePng({ data: Uint8Array.from(expected, (v) => v * 255), height: 2, width: 8, channels: 1 }));
  for (const [what, d] of [['1-bit PNG', oneBit], ['0/1 8-bit PNG', zeroOne], ['0/255 8-bit PNG', full]] as const) {
    const [sample] = await loadDataset(d.images, d.labels, opts);
    assert.deepEqual([...sample!.labels.data], expected, `${what}: class 1 where the mask is set`);
    // unet weights uses the same rule: the objects of the weight map are the foreground components.
    const raw = (await readImage(join(d.labels, 'x.png')))[0]!;
    const { labels, weights } = prepareLabels(raw, { ...opts, weightMap: { w0: 10, sigma: 5 } }, what);
    assert.deepEqual([...labels.data], expected, `${what}: prepareLabels`);
    assert.ok(weights!.data.some((w) => w > 1), `${what}: border weights between objects`);
  }
  // The 0/1 rule only applies where every value is 0 or 1; otherwise the threshold rules.
  assert.equal(binaryThreshold({ data: Uint8Array.of(0, 1, 2), height: 1, width: 3, channels: 1 }, 127), 127);
  assert.equal(binaryThreshold({ data: Uint8Array.of(0, 1), height: 1, width: 2, channels: 1 }, 127), 0);
});

test('labels that are all background after thresholding are reported through onWarning, naming the file', async () => {
  const d = await dataset('dark', encodePng({ data: new Uint8Array(16).fill(100), height: 2, width: 8, channels: 1 }));
  const warnings: string[] = [];
  await loadDataset(d.images, d.labels, { ...opts, onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /dark\/labels\/x\.png: every pixel is background \(binary labels, foreground = value > 127; largest value 100\)/);
  const ok: string[] = [];
  await loadDataset(...Object.values(await dataset('ok', encodePng({ data: Uint8Array.from(expected), height: 2, width: 8, channels: 1 }))) as [string, string], { ...opts, onWarning: (m) => ok.push(m) });
  assert.deepEqual(ok, []);
});

/** Probability of class 1 = the normalised input value, per pixel. */
const pointwise: TilePredictor = {
  inputShape: [64, 64],
  outputShape: [64, 64],
  channels: 1,
  classes: 2,
  alignment: 1,
  predictBatch: async (tiles, n) => {
    const out = new Float32Array(n * 64 * 64 * 2);
    for (let i = 0; i < n * 64 * 64; i++) [out[2 * i], out[2 * i + 1]] = [1 - tiles[i]!, tiles[i]!];
    return out;
  },
};

test('predictFile writes more than 65,535 instances as a 32-bit TIFF', async () => {
  // A checkerboard: every foreground pixel is its own 4-connected object, 66,560 of them.
  const h = 256;
  const w = 520;
  const board = Uint8Array.from({ length: h * w }, (_, i) => (((i % w) + Math.floor(i / w)) % 2 ? 255 : 0));
  const file = join(dir, 'board.png');
  await writeFile(file, encodePng({ data: board, height: h, width: w, channels: 1 }));
  const out = join(dir, 'board-out');
  const r = await predictFile(file, pointwise, { outDir: out, outputs: ['instances'], normalization: { kind: 'dtype' }, classNames: ['bg', 'fg'] });
  assert.deepEqual(r.instanceCounts, [h * w / 2]);
  assert.deepEqual(r.written, [join(out, 'board_instances.tif')]);
  const [ids] = await readImage(join(out, 'board_instances.tif'));
  assert.ok(ids!.data instanceof Int32Array, 'signed 32-bit ids');
  assert.equal(new Set(ids!.data).size, h * w / 2 + 1, 'distinct ids and background');
  for (let i = 0; i < board.length; i++) if ((board[i] === 0) !== (ids!.data[i] === 0)) assert.fail(`pixel ${i}: id ${ids!.data[i]} for value ${board[i]}`);
});

test('a refused input creates no output folder; inputs with the same stem are refused naming both', async () => {
  const rgb = join(dir, 'rgb.png');
  await writeFile(rgb, encodePng({ data: new Uint8Array(8 * 8 * 3), height: 8, width: 8, channels: 3 }));
  const out = join(dir, 'never');
  await assert.rejects(predictFile(rgb, pointwise, { outDir: out, outputs: ['mask'], normalization: { kind: 'dtype' }, classNames: ['bg', 'fg'] }), /rgb\.png has 3 channel\(s\), the model takes 1/);
  assert.equal(existsSync(out), false, 'no empty output folder');
  assert.throws(() => checkOutputStems(['d/same.png', 'd/same.jpg', 'a/x.png', 'b/x.png', 'd/other.tif']), /predict: d\/same\.png and d\/same\.jpg have the same stem "same"; a\/x\.png and b\/x\.png have the same stem "x", so their outputs .* would overwrite each other/);
  assert.throws(() => checkOutputStems(['a.png', 'a.png']), /a\.png is given twice/);
  checkOutputStems(['a.png', 'b.png', 'a_mask.tif']);
});
