/**
 * Test-time augmentation chosen on validation images: `unet tune` (and the end of instance
 * training) compares the post-processing search with and without the 8 flips/rotations, keeps TTA
 * only when it pays (ttaPays), stores the choice in unet.json ("inference"), and `unet predict`
 * uses it by default (--tta / --no-tta override).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initBackend } from '../src/backend/index.js';
import { makeMetadata, parseMetadata, type ModelMetadata } from '../src/io/model-format.js';
import { loadModel, readModelMetadata, saveModel } from '../src/io/model-files.js';
import { writePng } from '../src/io/png.js';
import { resolveConfig } from '../src/model/config.js';
import { buildUNet } from '../src/model/unet.js';
import { TTA_MIN_GAIN, ttaPays, tuneOnFiles } from '../src/train/tune-files.js';
import { runCli } from './helpers.js';

const CONFIG = resolveConfig({ depth: 1, baseFilters: 4, classes: 2, inputChannels: 1, padding: 'same', dropout: 0 });
const SIZE = 24;
let dir = '';

before(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'unet-tta-choice-'));
  // A seeded, untrained net: not equivariant under flips, so TTA changes its probabilities.
  const model = buildUNet(CONFIG, 16, { seed: 5 });
  await saveModel(join(dir, 'model'), model, makeMetadata({ config: CONFIG, tileSize: [16, 16], normalization: { kind: 'dtype' }, classNames: ['background', 'cell'] }));
  model.dispose();
  for (const sub of ['images', 'labels']) await mkdir(join(dir, sub));
  // Three images, each with two touching discs and one apart, placed off-centre so that flips move them.
  for (let k = 0; k < 3; k++) {
    const img = new Uint8Array(SIZE * SIZE);
    const lab = new Uint16Array(SIZE * SIZE);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const i = y * SIZE + x;
        const id = (x - 6 - k) ** 2 + (y - 7) ** 2 < 16 ? 1 : (x - 13 - k) ** 2 + (y - 7) ** 2 < 16 ? 2 : (x - 9) ** 2 + (y - 18) ** 2 < 9 ? 3 : 0;
        lab[i] = id;
        img[i] = id ? 180 + ((x * 7 + y * 3) % 40) : 30 + ((x * 5 + y) % 30);
      }
    }
    await writePng(join(dir, 'images', `im${k}.png`), { data: img, height: SIZE, width: SIZE, channels: 1 });
    await writePng(join(dir, 'labels', `im${k}.png`), { data: lab, height: SIZE, width: SIZE, channels: 1 });
  }
});
after(() => rm(dir, { recursive: true, force: true }));

const pairs = (): { image: string; label: string; name: string }[] =>
  [0, 1, 2].map((k) => ({ image: join(dir, 'images', `im${k}.png`), label: join(dir, 'labels', `im${k}.png`), name: `im${k}` }));

test('ttaPays: TTA is kept only for a gain of at least TTA_MIN_GAIN', () => {
  assert.equal(ttaPays(0.85, 0.857), true);
  assert.equal(ttaPays(0.85, 0.853), false);
  assert.equal(ttaPays(0.85, 0.85 + TTA_MIN_GAIN), true, 'ttaPays: a gain of exactly the minimum pays');
  assert.equal(ttaPays(0.9, 0.8), false, 'ttaPays: a loss never pays');
  assert.equal(ttaPays(0.5, 0.51, 0.02), false, 'ttaPays: the minimum gain is a parameter');
});

test("tuneOnFiles 'auto' is the 'off' or the 'on' search, whichever ttaPays picks, with both scores", async () => {
  const { model, metadata } = await loadModel(join(dir, 'model'));
  try {
    const off = await tuneOnFiles(model, metadata, pairs(), { tta: 'off' });
    const on = await tuneOnFiles(model, metadata, pairs(), { tta: 'on' });
    const auto = await tuneOnFiles(model, metadata, pairs());
    assert.deepEqual([off.tta, on.tta], [false, true]);
    assert.deepEqual(off.scores, { plain: off.bestScore });
    assert.deepEqual(on.scores, { tta: on.bestScore });
    assert.deepEqual(auto.scores, { plain: off.bestScore, tta: on.bestScore }, 'tuneOnFiles auto: the scores of both searches');
    const pick = ttaPays(off.bestScore, on.bestScore);
    assert.equal(auto.tta, pick, `tuneOnFiles auto: tta ${auto.tta} for plain ${off.bestScore} and tta ${on.bestScore}`);
    assert.deepEqual(auto.best, pick ? on.best : off.best, 'tuneOnFiles auto: the post-processing tuned for the chosen arm');
    // The two arms scored different probabilities: every row of the search must not coincide.
    assert.notDeepEqual(off.rows.map((r) => r.score), on.rows.map((r) => r.score), 'tuneOnFiles: the TTA arm must predict with the 8 transforms');
  } finally {
    model.dispose();
  }
});

test('unet tune stores the TTA choice; unet predict uses it by default, --no-tta and --tta override', async () => {
  const model = join(dir, 'model');
  const t = await runCli(['tune', '--model', model, '--images', join(dir, 'images'), '--labels', join(dir, 'labels'), '--tta', 'on']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /test-time augmentation: on \(as asked\)/, t.stdout);
  const m = await readModelMetadata(model);
  assert.equal(m.inference?.tta, true, `unet tune --tta on: unet.json inference ${JSON.stringify(m.inference)}`);
  assert.deepEqual([(m.inference?.tuned as { metric?: string }).metric, (m.inference?.tuned as { images?: number }).images], ['f1', 3]);

  const image = join(dir, 'images', 'im0.png');
  const prob = async (out: string, ...extra: string[]): Promise<Buffer> => {
    const r = await runCli(['predict', '--model', model, '--out', join(dir, out), '--outputs', 'prob', ...extra, image]);
    assert.equal(r.code, 0, r.stderr);
    if (extra.length === 0) assert.match(r.stderr, /test-time augmentation \(the model's tuned choice; --no-tta for one pass\)/, r.stderr);
    return readFile(join(dir, out, 'im0_prob.tif'));
  };
  const stored = await prob('default');
  const asked = await prob('tta', '--tta');
  const plain = await prob('plain', '--no-tta');
  assert.ok(stored.equals(asked), 'unet predict: the stored choice (TTA) gives the --tta probabilities');
  assert.ok(!stored.equals(plain), 'unet predict --no-tta: one pass, other probabilities than TTA');
  const both = await runCli(['predict', '--model', model, '--out', join(dir, 'both'), '--tta', '--no-tta', image]);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /--tta and --no-tta contradict each other/);

  const auto = await runCli(['tune', '--model', model, '--images', join(dir, 'images'), '--labels', join(dir, 'labels'), '--dry-run']);
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(auto.stdout, /test-time augmentation: (on|off) \(best \d\.\d{4} with it, \d\.\d{4} without; kept when it gains >= 0\.005\)/, auto.stdout);
  assert.deepEqual((await readModelMetadata(model)).inference, m.inference, 'unet tune --dry-run leaves unet.json as it is');
  const bad = await runCli(['tune', '--model', model, '--images', join(dir, 'images'), '--labels', join(dir, 'labels'), '--tta', 'maybe']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--tta must be auto, on, off, got "maybe"/);
});

test('parseMetadata refuses an inference entry without a boolean tta, naming the file', async () => {
  const good = JSON.parse(await readFile(join(dir, 'model', 'unet.json'), 'utf8')) as ModelMetadata;
  assert.throws(() => parseMetadata({ ...good, inference: { tta: 'yes' } }, 'x/unet.json'), /x\/unet\.json: inference\.tta must be true or false, got "yes"/);
  assert.throws(() => parseMetadata({ ...good, inference: null }, 'x/unet.json'), /inference\.tta must be true or false/);
  assert.equal(parseMetadata({ ...good, inference: { tta: false } }, 'x/unet.json').inference?.tta, false);
});
