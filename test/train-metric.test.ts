/**
 * The task's metric during training (src/train/validation-metric.ts, issue 14 §4): known values on
 * constant predictions, the history and progress carry it, `best` follows it, and it draws no
 * randomness (same weights with and without it).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { makeMetadata } from '../src/io/model-format.js';
import { defaultInstancePostprocess } from '../src/infer/instances.js';
import { resolveConfig } from '../src/model/config.js';
import { buildUNet } from '../src/model/unet.js';
import { CheckpointStore } from '../src/train/checkpoint-files.js';
import { train, type TrainProgress, type TrainState } from '../src/train/train.js';
import type { TrainingSample } from '../src/train/tiles.js';
import { bestValidation, evaluateLoss, evaluateMetric, evaluateValidation, isBetterValidation, metricForLabelMode, weightedCrossEntropyOfProbabilities, type ValidationMetric } from '../src/train/validation-metric.js';
import { validationSummary, validationText } from '../src/cli/progress.js';
import { Rng } from '../src/util/rng.js';
import { readModelMetadata } from '../src/io/model-files.js';
import { runCli, writeSyntheticFolders } from './helpers.js';
import { historyFromMetadata, trainingReport } from '../src/report/report.js';

before(async () => {
  await initBackend();
});

const CONFIG = { depth: 1, baseFilters: 4 } as const;
const TILE = 44; // depth 1, valid: output 28

/** A size x size image of `discs` bright discs (ids 1..n) on a dark background, with noise; disc pixels weigh 2. */
function discSample(name: string, seed: number, size = 40, discs = 4): TrainingSample {
  const H = size;
  const W = size;
  const rng = new Rng(seed);
  const ids = new Int32Array(H * W);
  for (let k = 1; k <= discs; k++) {
    const cy = rng.int(6, H - 7);
    const cx = rng.int(6, W - 7);
    const r = rng.int(3, 6);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((y - cy) ** 2 + (x - cx) ** 2 <= r * r && ids[y * W + x] === 0) ids[y * W + x] = k;
  }
  const image = new Float32Array(H * W);
  const labels = new Uint8Array(H * W);
  for (let i = 0; i < H * W; i++) {
    labels[i] = ids[i]! > 0 ? 1 : 0;
    image[i] = 0.2 + 0.6 * labels[i]! + 0.05 * rng.normal();
  }
  const weights = Float32Array.from(labels, (l) => (l ? 2 : 1));
  return { name, image: { data: image, height: H, width: W, channels: 1 }, labels: { data: labels, height: H, width: W, channels: 1 }, weights: { data: weights, height: H, width: W, channels: 1 }, instances: ids };
}

/** A U-Net whose logits are `bias` at every pixel (final 1x1 kernel zeroed): a constant prediction. */
function constantModel(bias: readonly number[]): tfl.LayersModel {
  const model = buildUNet({ ...CONFIG, classes: bias.length }, TILE, { seed: 1 });
  const out = model.getLayer('out_conv');
  const [kernel] = out.getWeights();
  out.setWeights([tf.zerosLike(kernel!), tf.tensor1d([...bias])]);
  return model;
}

test('evaluateMetric: known scores of constant predictions for each kind', async () => {
  const H = 40;
  const W = 40;
  // One object over the left 60 % of the image: a prediction of "everything is one object" matches it at IoU 0.6.
  const ids = new Int32Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < 24; x++) ids[y * W + x] = 7;
  const labels = Uint8Array.from(ids, (v) => (v > 0 ? 1 : 0));
  const sample: TrainingSample = { name: 'half', image: { data: new Float32Array(H * W), height: H, width: W, channels: 1 }, labels: { data: labels, height: H, width: W, channels: 1 }, instances: ids };
  const allForeground = constantModel([0, 10]);
  const inst = await evaluateMetric(allForeground, [sample], { kind: 'instances', postprocess: defaultInstancePostprocess({}) });
  assert.equal(inst.name, 'F1@0.5');
  assert.equal(inst.value, 1, 'one predicted object at IoU 0.6 with the one true object: F1 1');
  // DSB mAP: matched at thresholds 0.5 and 0.55 (IoU 0.6 > t), not at 0.6 .. 0.95: 2 of 10.
  assert.ok(Math.abs(inst.scores.dsbAP! - 0.2) < 1e-12, `dsbAP ${inst.scores.dsbAP}`);
  assert.equal(inst.images, 1);
  // Mean IoU: class 0 is never predicted (IoU 0), class 1 everywhere (IoU 0.6).
  const iou = await evaluateMetric(allForeground, [sample], { kind: 'mean-iou' });
  assert.ok(Math.abs(iou.value - 0.3) < 1e-12, `mean IoU ${iou.value}`);
  // V_rand: two cells (columns 0-19 and 21-39, a membrane column 20 between) predicted as one
  // segment. Restricted to the truth's cell pixels, with cell fractions a and b:
  // V_rand = 2 (a^2 + b^2) / (1 + a^2 + b^2).
  const twoCells = new Uint8Array(H * W).fill(1);
  for (let y = 0; y < H; y++) twoCells[y * W + 20] = 0;
  const cells: TrainingSample = { ...sample, labels: { data: twoCells, height: H, width: W, channels: 1 } };
  const vr = await evaluateMetric(allForeground, [cells], { kind: 'vrand', interiorClass: 1 });
  const a = 20 / 39;
  const b = 19 / 39;
  const want = (2 * (a * a + b * b)) / (1 + a * a + b * b);
  assert.ok(Math.abs(vr.value - want) < 1e-9, `V_rand ${vr.value}, expected ${want}`);
  const nothing = constantModel([10, 0]);
  assert.equal((await evaluateMetric(nothing, [sample], { kind: 'instances', postprocess: defaultInstancePostprocess({}) })).value, 0, 'no predicted object: F1 0');
  await assert.rejects(evaluateMetric(nothing, [{ ...sample, instances: undefined } as TrainingSample], { kind: 'instances', postprocess: defaultInstancePostprocess({}) }), /half has no instance ids/);
  await assert.rejects(evaluateMetric(nothing, [sample], { kind: 'vrand', interiorClass: 2 }), /interiorClass 2 is not one of the model's classes 0\.\.1/);
  for (const m of [allForeground, nothing]) m.dispose();
});

test('weightedCrossEntropyOfProbabilities: -w log p of the label class, pixels outside [0, K) count but add nothing', () => {
  const one = weightedCrossEntropyOfProbabilities(Float32Array.of(0.25, 0.75), 2, [1], Float32Array.of(2));
  assert.ok(Math.abs(one.sum - 2 * -Math.log(0.75)) < 1e-6 && one.pixels === 1, `doc example: ${JSON.stringify(one)}`);
  const three = weightedCrossEntropyOfProbabilities(Float32Array.of(0.5, 0.5, 0.1, 0.9, 1, 0), 2, [0, 1, 7]);
  assert.ok(Math.abs(three.sum - (-Math.log(0.5) - Math.log(0.9))) < 1e-6, `label 7 adds nothing: ${three.sum}`);
  assert.equal(three.pixels, 3, 'weightedCrossEntropyOfProbabilities: the out-of-range pixel still counts in the mean');
  const zero = weightedCrossEntropyOfProbabilities(Float32Array.of(1, 0), 2, [1]);
  assert.ok(Number.isFinite(zero.sum) && Math.abs(zero.sum - 87.336544) < 1e-4, `a zero probability is the smallest float32 one: ${zero.sum}`);
  assert.throws(() => weightedCrossEntropyOfProbabilities(Float32Array.of(0.5, 0.5), 2, [0, 1]), /2 probabilities for 2 pixels of 2 classes/);
});

test('evaluateValidation: loss and metric from one prediction; the loss of a constant prediction is known', async () => {
  const sample = discSample('d', 4);
  // Logits [0, ln 3] everywhere: p = (0.25, 0.75). Background pixels weigh 1 and add -log 0.25,
  // disc pixels weigh 2 and add -2 log 0.75.
  const model = constantModel([0, Math.log(3)]);
  const pass = await evaluateValidation(model, [sample], { kind: 'instances', postprocess: defaultInstancePostprocess({}) });
  const labels = sample.labels.data;
  let fg = 0;
  for (const v of labels) fg += v;
  const want = ((labels.length - fg) * -Math.log(0.25) + fg * 2 * -Math.log(0.75)) / labels.length;
  assert.ok(Math.abs(pass.loss - want) < 1e-5, `evaluateValidation: loss ${pass.loss}, expected ${want}`);
  assert.equal(pass.metric?.name, 'F1@0.5');
  assert.deepEqual(pass.metric?.scores, (await evaluateMetric(model, [sample], { kind: 'instances', postprocess: defaultInstancePostprocess({}) })).scores, 'the metric is the one evaluateMetric gives');
  assert.ok(Math.abs((await evaluateLoss(model, [sample])) - want) < 1e-5, 'evaluateLoss: the same loss without a metric');
  model.dispose();
});

test('metricForLabelMode, isBetterValidation, bestValidation: the metric decides when there is one, the loss otherwise', () => {
  assert.deepEqual(metricForLabelMode({ mode: 'binary', invert: true }), { kind: 'vrand', interiorClass: 0 });
  assert.deepEqual(metricForLabelMode({ mode: 'binary', invert: false }), { kind: 'vrand', interiorClass: 1 });
  assert.deepEqual(metricForLabelMode({ mode: 'classes' }), { kind: 'mean-iou' });
  assert.equal(metricForLabelMode({ mode: 'instances', targets: 'boundary' }).kind, 'instances');
  const h = [{ iteration: 1, loss: 0.3, metric: 0.6 }, { iteration: 2, loss: 0.5, metric: 0.8 }, { iteration: 3, loss: 0.2, metric: 0.8 }];
  assert.equal(bestValidation(h)!.iteration, 2, 'highest metric, the earlier of a tie, though step 3 has the lower loss');
  assert.equal(bestValidation(h.map(({ iteration, loss }) => ({ iteration, loss })))!.iteration, 3, 'without metrics: the lowest loss');
  assert.equal(isBetterValidation({ iteration: 2, loss: 0.1, metric: NaN }, { iteration: 1, loss: 0.2, metric: 0.5 }), true, 'a NaN metric falls back to the loss');
  assert.equal(bestValidation([]), null);
});

/**
 * A run of the tiny net on disc images, validated every `every` steps on two 28 x 28 images (one
 * output tile each: the test stays fast on a loaded machine).
 */
async function run(seed: number, metric: ValidationMetric | undefined, iterations: number, every: number, onProgress?: (p: TrainProgress) => void, store?: CheckpointStore): Promise<{ weights: number[][]; summary: Awaited<ReturnType<typeof train>> }> {
  const trainSet = [discSample('a', 1), discSample('b', 2), discSample('c', 3)];
  const valSet = [discSample('v1', 11, 28, 3), discSample('v2', 12, 28, 3)];
  const model = buildUNet(CONFIG, TILE, { seed });
  const metadata = makeMetadata({ config: resolveConfig(CONFIG), tileSize: [TILE, TILE], normalization: { kind: 'dtype' } });
  const summary = await train(
    model,
    trainSet,
    {
      iterations,
      seed,
      optimizer: 'adam',
      learningRate: 0.003,
      validateEvery: every,
      ...(metric ? { validationMetric: metric } : {}),
      ...(onProgress ? { onProgress } : {}),
      ...(store ? { checkpointEvery: every, onCheckpoint: async (c) => void (await store.write(model, c, metadata)) } : {}),
    },
    valSet,
  );
  const weights = model.getWeights().map((t) => Array.from(t.dataSync()));
  model.dispose();
  return { weights, summary };
}

const INSTANCE_METRIC: ValidationMetric = { kind: 'instances', postprocess: defaultInstancePostprocess({}) };

test('train with a validation metric: history, progress and summary carry it; best checkpoint is its maximum', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'unet-metric-'));
  try {
    const seen: TrainProgress[] = [];
    const store = new CheckpointStore(join(root, 'checkpoints'), { keepLast: 1 });
    // 60 steps: the tiny net starts finding discs after about 30 (F1 > 0), so the F1 varies.
    const { summary } = await run(5, INSTANCE_METRIC, 60, 10, (p) => seen.push(p), store);
    t.diagnostic(`history: ${summary.validation.map((v) => `${v.iteration}: loss ${v.loss.toFixed(4)} F1 ${v.metric!.toFixed(3)} mAP ${v.scores!.dsbAP!.toFixed(3)}`).join('; ')}; validation ${summary.validationSeconds.toFixed(2)} s, metric ${summary.metricSeconds.toFixed(2)} s of ${summary.seconds.toFixed(2)} s`);
    assert.deepEqual(summary.validation.map((v) => v.iteration), [10, 20, 30, 40, 50, 60]);
    for (const v of summary.validation) {
      assert.ok(v.metric! >= 0 && v.metric! <= 1, `F1 ${v.metric} at step ${v.iteration}`);
      assert.deepEqual(Object.keys(v.scores!).sort(), ['dsbAP', 'f1', 'precision', 'recall']);
      assert.equal(v.scores!.f1, v.metric);
    }
    assert.equal(summary.metricName, 'F1@0.5');
    assert.ok(summary.metricSeconds > 0 && summary.metricSeconds <= summary.validationSeconds && summary.validationSeconds < summary.seconds, 'metric time within validation time within training time');
    // Progress: the metric exactly on the validation steps, equal to the history's.
    const withMetric = seen.filter((p) => p.metric);
    assert.deepEqual(withMetric.map((p) => p.iteration), [10, 20, 30, 40, 50, 60]);
    withMetric.forEach((p, k) => {
      assert.equal(p.metric!.value, summary.validation[k]!.metric);
      assert.equal(p.metric!.images, 2);
      assert.ok(p.validationSeconds! >= p.metric!.seconds);
    });
    assert.ok(seen.filter((p) => !p.metric).every((p) => p.validationLoss === undefined), 'no metric on steps without validation');
    assert.ok(new Set(summary.validation.map((v) => v.metric)).size > 1, 'the F1 changes during training');
    // best: the maximum F1 of the history (the earliest of equals), in the summary, the store and on disk.
    const top = Math.max(...summary.validation.map((v) => v.metric!));
    const bestStep = summary.validation.find((v) => v.metric === top)!.iteration;
    assert.equal(summary.best!.iteration, bestStep);
    assert.equal(store.best!.iteration, bestStep);
    const onDisk = JSON.parse(await readFile(join(root, 'checkpoints', 'best', 'state.json'), 'utf8')) as TrainState;
    assert.equal(onDisk.iteration, bestStep, 'best/ holds the checkpoint of the highest F1');
    assert.equal(onDisk.metricName, 'F1@0.5');
    const byLoss = summary.validation.reduce((a, b) => (b.loss < a.loss ? b : a)).iteration;
    t.diagnostic(`best by F1: step ${bestStep}; by loss it would be step ${byLoss}`);
    // The CLI's lines from these numbers.
    assert.match(validationText(summary.validation[0]!.loss, withMetric[0]!.metric, true), /^ val \d\.\d{4} F1@0\.5 \d\.\d{3} mAP \d\.\d{3} \(held-out\)$/);
    assert.match(validationSummary(summary, store.best, 'out/checkpoints/best'), new RegExp(`^validation took \\d+\\.\\d s of \\d+\\.\\d s \\(\\d+ %\\) in 6 runs \\(loss and F1@0\\.5 from one prediction of each image\\); best F1@0\\.5 ${top.toFixed(3).replace('.', '\\.')} at step ${bestStep} -> out/checkpoints/best$`));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('CheckpointStore: best by the metric where loss and metric disagree, and a new store keeps the bar from disk', async () => {
  const root = await mkdtemp(join(tmpdir(), 'unet-metric-best-'));
  try {
    const model = buildUNet(CONFIG, TILE, { seed: 1 });
    const metadata = makeMetadata({ config: resolveConfig(CONFIG), tileSize: [TILE, TILE], normalization: { kind: 'dtype' } });
    const state = (iteration: number, loss: number, metric: number): TrainState => ({
      iteration, iterations: 10, seed: 1, rng: new Rng(1).state(), dropoutRng: new Rng(2).state(), losses: [], validation: [{ iteration, loss, metric }],
      optimizer: 'sgd', learningRate: 0.001, momentum: 0.99, batchSize: 1, seconds: 0,
    });
    const store = new CheckpointStore(root, { keepLast: 1 });
    // Step 2 has the highest F1 and the highest loss; step 3 the lowest loss.
    for (const [it, loss, metric] of [[1, 0.3, 0.6], [2, 0.5, 0.8], [3, 0.2, 0.7]] as const) await store.write(model, { state: state(it, loss, metric), optimizerWeights: [], reason: 'interval' }, metadata);
    const bestState = async (): Promise<number> => (JSON.parse(await readFile(join(root, 'best', 'state.json'), 'utf8')) as TrainState).iteration;
    assert.equal(await bestState(), 2, 'best is the highest metric, not the lowest loss');
    const resumed = new CheckpointStore(root, { keepLast: 1 });
    await resumed.write(model, { state: state(4, 0.1, 0.75), optimizerWeights: [], reason: 'interval' }, metadata);
    assert.equal(await bestState(), 2, 'a resumed store compares with the best on disk');
    assert.equal(resumed.best!.iteration, 2);
    await resumed.write(model, { state: state(5, 0.9, 0.85), optimizerWeights: [], reason: 'end' }, metadata);
    assert.equal(await bestState(), 5);
    model.dispose();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('train: the metric draws no randomness (same weights with and without it; same seed twice, same weights and scores)', async () => {
  const a = await run(7, INSTANCE_METRIC, 6, 3);
  const b = await run(7, INSTANCE_METRIC, 6, 3);
  const off = await run(7, undefined, 6, 3);
  assert.deepEqual(a.weights, b.weights, 'same seed with the metric: same weights');
  assert.deepEqual(a.summary.validation, b.summary.validation, 'and the same history');
  assert.deepEqual(a.weights, off.weights, 'the metric on or off: the same weights');
  assert.deepEqual(a.summary.validation.map((v) => v.loss), off.summary.validation.map((v) => v.loss));
  assert.ok(off.summary.validation.every((v) => v.metric === undefined) && off.summary.metricName === undefined);
});

test('unet train: the metric in the progress lines, the end summary and unet.json; --no-metric, --tile-sampling and --lr-schedule', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unet-metric-cli-'));
  try {
    const { images, labels } = await writeSyntheticFolders(dir, ['a', 'b']);
    await mkdir(join(dir, 'val'));
    const val = await writeSyntheticFolders(join(dir, 'val'), ['v']);
    const common = ['train', '--images', images, '--labels', labels, '--val-images', val.images, '--val-labels', val.labels, '--iterations', '4', '--seed', '1', '--depth', '1', '--filters', '2', '--tile', '44', '--no-augment', '--validate-every', '2', '--checkpoint-every', '2'];
    const r = await runCli([...common, '--out', join(dir, 'm')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /validation every 2 steps on 1 validation image: loss and V_rand .* 'best' checkpoint by V_rand/);
    assert.match(r.stderr, /^2\/4 loss \d\.\d{4} val \d\.\d{4} V_rand \d\.\d{3} ETA/m, 'the progress line at a validation step carries the metric');
    assert.match(r.stderr, /validation took \d+\.\d s of \d+\.\d s \(\d+ %\) in 2 runs \(loss and V_rand from one prediction of each image\); best V_rand \d\.\d{3} at step [24] -> /);
    const t = (await readModelMetadata(join(dir, 'm'))).training as { validation: { metric?: number }[]; metricName: string; tileSampling: string; metricSeconds: number };
    assert.equal(t.metricName, 'V_rand');
    assert.equal(t.tileSampling, 'uniform');
    assert.ok(t.validation.length === 2 && t.validation.every((v) => typeof v.metric === 'number'), JSON.stringify(t.validation));
    assert.ok(t.metricSeconds > 0);
    const report = trainingReport(await readModelMetadata(join(dir, 'm')), 'm');
    assert.match(report, /^V_rand: 2: \d\.\d{3}, 4: \d\.\d{3} \(best \d\.\d{3} at step [24]; \d+\.\d s computing it\)$/m, report);
    assert.equal(historyFromMetadata(await readModelMetadata(join(dir, 'm')))!.metricName, 'V_rand', 'the curves name the metric');
    assert.equal((t as unknown as { lrSchedule: string }).lrSchedule, 'constant');
    const off = await runCli([...common, '--out', join(dir, 'off'), '--no-metric', '--tile-sampling', 'inside', '--lr-schedule', 'poly']);
    assert.equal(off.code, 0, off.stderr);
    assert.doesNotMatch(off.stderr, /V_rand/);
    assert.match(off.stderr, /best validation loss \d\.\d{4} at step [24]/);
    const t2 = (await readModelMetadata(join(dir, 'off'))).training as { validation: { metric?: number }[]; tileSampling: string; lrSchedule: string; argv: string[] };
    assert.equal(t2.tileSampling, 'inside');
    assert.equal(t2.lrSchedule, 'poly', 'unet.json records the schedule');
    assert.ok(t2.validation.every((v) => v.metric === undefined));
    const bad = await runCli([...common, '--out', join(dir, 'bad'), '--tile-sampling', 'grid']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--tile-sampling must be one of uniform, clamped, inside, got "grid"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('holdoutCount: instances from 2 images on; binary and class labels by default only when the fraction is an image', async () => {
  const { holdoutCount } = await import('../src/train/holdout.js');
  assert.equal(holdoutCount({ mode: 'binary', images: 25, fraction: 0.1, asked: false }), 3, 'round(0.1 x 25)');
  assert.equal(holdoutCount({ mode: 'binary', images: 10, fraction: 0.1, asked: false }), 1, 'ten images: one is 10%');
  assert.equal(holdoutCount({ mode: 'classes', images: 9, fraction: 0.1, asked: false }), 0, 'nine images: one would be more than 10%');
  assert.equal(holdoutCount({ mode: 'binary', images: 9, fraction: 0.1, asked: true }), 1, '--holdout given: as asked');
  assert.equal(holdoutCount({ mode: 'binary', images: 4, fraction: 0.5, asked: false }), 2, 'a default-free fraction that is 2 images');
  assert.equal(holdoutCount({ mode: 'instances', images: 2, fraction: 0.1, asked: false }), 1, 'instances tune on what is held out');
  assert.equal(holdoutCount({ mode: 'instances', images: 1, fraction: 0.1, asked: false }), 0, 'one image is never held out');
  assert.throws(() => holdoutCount({ mode: 'binary', images: 5, fraction: 1, asked: true }), /holdoutCount: fraction must be in \(0, 1\), got 1/);
});

test('unet train with binary labels and no validation images: holds out 10% (seeded) and scores V_rand on them; fewer than 10 images are not cut', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unet-holdout-binary-'));
  try {
    const names = Array.from({ length: 10 }, (_, i) => `s${i}`);
    const { images, labels } = await writeSyntheticFolders(dir, names);
    const common = ['train', '--images', images, '--labels', labels, '--iterations', '2', '--seed', '3', '--depth', '1', '--filters', '2', '--tile', '44', '--no-augment', '--validate-every', '2'];
    const r = await runCli([...common, '--out', join(dir, 'm')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /holding out 1 of 10 images \(seed 3\) for validation; /, r.stderr);
    assert.match(r.stderr, /9 training and 1 validation images/, r.stderr);
    assert.match(r.stderr, /validation every 2 steps on 1 held-out training image: loss and V_rand/, r.stderr);
    const t = (await readModelMetadata(join(dir, 'm'))).training as { trainImages: string[]; validationImages: string[]; validation: { metric?: number }[]; metricName: string };
    assert.equal(t.validationImages.length, 1);
    assert.deepEqual([...t.trainImages, ...t.validationImages].sort(), names, 'every image trains or validates, none both');
    assert.equal(t.metricName, 'V_rand');
    assert.ok(t.validation.length === 1 && typeof t.validation[0]!.metric === 'number', JSON.stringify(t.validation));
    const r2 = await runCli([...common, '--out', join(dir, 'm2')]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(((await readModelMetadata(join(dir, 'm2'))).training as { validationImages: string[] }).validationImages, t.validationImages, 'the same seed holds out the same image');
    // A resumed run keeps the hold-out its checkpoint recorded (here edited to another image), not today's draw.
    const res = join(dir, 'res');
    const first = await runCli([...common, '--out', res, '--checkpoint-every', '1']);
    assert.equal(first.code, 0, first.stderr);
    await rm(join(res, 'checkpoints', 'iter-0000002'), { recursive: true });
    const other = names.find((n) => !t.validationImages.includes(n))!;
    const ckMeta = join(res, 'checkpoints', 'iter-0000001', 'unet.json');
    const meta = JSON.parse(await readFile(ckMeta, 'utf8')) as { training: { validationImages: string[] } };
    meta.training.validationImages = [other];
    await writeFile(ckMeta, JSON.stringify(meta));
    const resumed = await runCli(['train', '--resume', res]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming .* at iteration 1/, resumed.stderr);
    const after = (await readModelMetadata(res)).training as { trainImages: string[]; validationImages: string[] };
    assert.deepEqual(after.validationImages, [other], 'the checkpoint\'s hold-out');
    assert.ok(!after.trainImages.includes(other) && after.trainImages.length === 9, JSON.stringify(after.trainImages));
    const off = await runCli([...common, '--out', join(dir, 'off'), '--no-holdout']);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stderr, /10 training and 0 validation images/, off.stderr);

    await mkdir(join(dir, 'few'));
    const few = await writeSyntheticFolders(join(dir, 'few'), ['a', 'b', 'c']);
    const fewArgs = ['train', '--images', few.images, '--labels', few.labels, '--iterations', '1', '--seed', '3', '--depth', '1', '--filters', '2', '--tile', '44', '--no-augment'];
    const small = await runCli([...fewArgs, '--out', join(dir, 'small')]);
    assert.equal(small.code, 0, small.stderr);
    assert.match(small.stderr, /no validation: 3 images are too few to hold out 10% of them; --holdout F/, small.stderr);
    assert.match(small.stderr, /3 training and 0 validation images/, small.stderr);
    const asked = await runCli([...fewArgs, '--out', join(dir, 'asked'), '--holdout', '0.3']);
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(asked.stderr, /holding out 1 of 3 images \(seed 3\) for validation; /, asked.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
