/**
 * The CLI glue (src/cli/args.ts): library and CLI defaults agree (the parsers without flags give
 * the library's constants, --help prints them), folder scans and stem pairing name the folder,
 * and every command takes --help and lists the shared options with one text.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_AUGMENT } from '../src/augment/augment.js';
import { DEFAULT_ELASTIC } from '../src/augment/elastic.js';
import { initBackend } from '../src/backend/index.js';
import {
  AUGMENT_FLAGS_HELP, augmentOptionsFrom, CLASSES_HELP, classesOption, CONNECTIVITY_HELP, connectivityOption, HelpRequested, LABEL_MODE_HELP, labelModeFromOptions,
  MAX_PIXELS_HELP, MEMORY_HELP, memoryBytesOption, MODEL_HELP, NORMALIZE_HELP, normalizationOption, WEIGHT_MAP_HELP, weightMapOptions,
} from '../src/cli/args.js';
import { evaluationOptions, EVALUATE_HELP } from '../src/cli/commands/evaluate.js';
import { isBundledModelName, PREDICT_HELP, predictRunOptions, resolveModelDir } from '../src/cli/commands/predict.js';
import { TRAIN_HELP, trainLoopOptions } from '../src/cli/commands/train.js';
import { TUNE_HELP } from '../src/cli/commands/tune.js';
import { WEIGHTS_HELP } from '../src/cli/commands/weights.js';
import { COMMANDS } from '../src/cli/registry.js';
import { EVALUATE_DEFAULTS, pairPredictions } from '../src/eval/evaluate.js';
import { evaluationModeFor, headlineScores } from '../src/eval/folds.js';
import { DEFAULT_INSTANCE_OPTIONS } from '../src/infer/instances.js';
import { DEFAULT_PREDICT_BATCH, predict } from '../src/infer/predict.js';
import { DEFAULT_TILE_MEMORY_BYTES, type TilePredictor } from '../src/infer/predictor.js';
import { DEFAULT_PROBABILITY_FORMAT } from '../src/infer/write-outputs.js';
import { collectImages, DEFAULT_CONNECTIVITY, DEFAULT_LABEL_MODE, listImages, pairByStem } from '../src/io/dataset.js';
import { DEFAULT_NORMALIZATION } from '../src/io/normalize.js';
import { DEFAULT_MAX_PIXELS } from '../src/io/raster.js';
import { DEFAULT_WEIGHT_MAP } from '../src/loss/weight-map.js';
import { isbiThresholds } from '../src/metrics/isbi.js';
import { PAPER_CONFIG } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { DEFAULT_KEEP_LAST } from '../src/train/checkpoint-files.js';
import { DEFAULT_HOLDOUT_FRACTION } from '../src/train/holdout.js';
import { train, TRAIN_DEFAULTS } from '../src/train/train.js';
import { Rng } from '../src/util/rng.js';
import { runCli, syntheticSample } from './helpers.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unet-glue-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The "(default)" at the end of FLAG's help line. */
function helpDefault(help: string, flag: string): string {
  const line = help.split('\n').find((l) => l.startsWith(`  ${flag} `));
  assert.ok(line, `no help line for ${flag} in:\n${help}`);
  const m = /\(([^()]*)\)\s*$/.exec(line);
  assert.ok(m, `help line of ${flag} ends without a (default): ${line}`);
  return m[1]!;
}

test('unet train without flags gets the library training defaults, and --help prints them', () => {
  assert.deepEqual(trainLoopOptions({}), {
    optimizer: TRAIN_DEFAULTS.optimizer,
    learningRate: TRAIN_DEFAULTS.learningRate,
    momentum: TRAIN_DEFAULTS.momentum,
    batchSize: TRAIN_DEFAULTS.batchSize,
    validateEvery: TRAIN_DEFAULTS.validateEvery,
    checkpointEvery: TRAIN_DEFAULTS.checkpointEvery,
    keepLast: DEFAULT_KEEP_LAST,
    holdout: DEFAULT_HOLDOUT_FRACTION,
    tileSampling: TRAIN_DEFAULTS.tileSampling,
    lrSchedule: TRAIN_DEFAULTS.lrSchedule,
  });
  // The values a user gets: periodic validation and checkpoints in the library as in the CLI.
  assert.equal(TRAIN_DEFAULTS.validateEvery, 100);
  assert.equal(TRAIN_DEFAULTS.checkpointEvery, 100);
  assert.equal(helpDefault(TRAIN_HELP, '--validate-every N'), String(TRAIN_DEFAULTS.validateEvery));
  assert.equal(helpDefault(TRAIN_HELP, '--batch N'), String(TRAIN_DEFAULTS.batchSize));
  assert.equal(helpDefault(TRAIN_HELP, '--lr X'), String(TRAIN_DEFAULTS.learningRate));
  assert.equal(helpDefault(TRAIN_HELP, '--momentum X'), String(TRAIN_DEFAULTS.momentum));
  assert.equal(helpDefault(TRAIN_HELP, '--optimizer NAME'), TRAIN_DEFAULTS.optimizer);
  assert.equal(helpDefault(TRAIN_HELP, '--tile-sampling S'), TRAIN_DEFAULTS.tileSampling);
  assert.equal(helpDefault(TRAIN_HELP, '--lr-schedule S'), TRAIN_DEFAULTS.lrSchedule);
  assert.equal(trainLoopOptions({ 'lr-schedule': 'poly' }).lrSchedule, 'poly');
  assert.throws(() => trainLoopOptions({ 'lr-schedule': 'cosine' }), /--lr-schedule must be one of constant, poly, got "cosine"/);
  assert.match(TRAIN_HELP, new RegExp(`--checkpoint-every N every N steps \\(${TRAIN_DEFAULTS.checkpointEvery}\\); the last --keep N are kept \\(${DEFAULT_KEEP_LAST}\\)`));
  assert.match(TRAIN_HELP, new RegExp(`for validation, 'best' and \\(instances\\) tuning   \\(${DEFAULT_HOLDOUT_FRACTION}\\)`));
  assert.throws(() => trainLoopOptions({ optimizer: 'rmsprop' }), /--optimizer must be sgd or adam, got "rmsprop"/);
  assert.throws(() => trainLoopOptions({ holdout: '1.5' }), /--holdout must be a fraction in \(0, 1\), got 1.5/);
});

test('train() without validateEvery validates (after the last step), as unet train does', async () => {
  await initBackend();
  const sample = syntheticSample();
  const model = buildUNet({ depth: 2, baseFilters: 4 }, 60);
  initializeWeights(model, new Rng(1));
  try {
    const s = await train(model, [sample], { iterations: 2, seed: 1 }, [sample]);
    assert.deepEqual(s.validation.map((v) => v.iteration), [2], 'one validation, after the last step (the default is 100, not 0 = never)');
  } finally {
    model.dispose();
  }
});

test('unet predict without flags gets the library prediction defaults, and predict() batches one tile', async () => {
  const r = predictRunOptions({});
  assert.equal(r.batch, DEFAULT_PREDICT_BATCH);
  assert.equal(DEFAULT_PREDICT_BATCH, 1);
  assert.equal(r.memoryBytes, DEFAULT_TILE_MEMORY_BYTES);
  assert.equal(r.probFormat, DEFAULT_PROBABILITY_FORMAT);
  assert.deepEqual(r.outputs, ['mask', 'overlay']);
  assert.equal(helpDefault(PREDICT_HELP, '--batch N'), String(DEFAULT_PREDICT_BATCH));
  assert.equal(helpDefault(PREDICT_HELP, '--memory MB'), String(DEFAULT_TILE_MEMORY_BYTES / 2 ** 20));
  assert.equal(helpDefault(PREDICT_HELP, '--prob-format F'), DEFAULT_PROBABILITY_FORMAT);
  assert.equal(helpDefault(PREDICT_HELP, '--seed-threshold P'), `stored, else ${DEFAULT_INSTANCE_OPTIONS.seedThreshold}`);
  assert.equal(helpDefault(TUNE_HELP, '--memory MB'), String(DEFAULT_TILE_MEMORY_BYTES / 2 ** 20));
  assert.deepEqual(predictRunOptions({ evaluate: 'labels', mode: 'instances' }).outputs, ['mask', 'overlay', 'instances']);
  assert.throws(() => predictRunOptions({ batch: '0' }), /--batch must be at least 1, got 0/);

  // The library without batchSize: every forward pass gets one tile (it was 4).
  const calls: number[] = [];
  const identity: TilePredictor = {
    inputShape: [8, 8], outputShape: [8, 8], channels: 1, classes: 1, alignment: 1,
    async predictBatch(tiles: Float32Array, n: number): Promise<Float32Array> {
      calls.push(n);
      return tiles.slice(0, n * 64);
    },
  };
  const image = { data: new Float32Array(20 * 20).map((_, i) => i / 400), height: 20, width: 20, channels: 1 };
  const out = await predict(image, identity, { blend: 'crop', outputs: { probabilities: true, mask: false } });
  assert.deepEqual(out.probabilities!.data, image.data);
  assert.ok(calls.length > 1 && calls.every((n) => n === DEFAULT_PREDICT_BATCH), `batches ${calls.join(',')}`);
});

test('unet evaluate without flags gets EVALUATE_DEFAULTS and the ISBI sweep, and --help prints them', () => {
  const o = evaluationOptions({});
  assert.equal(o.mode, EVALUATE_DEFAULTS.mode);
  assert.equal(o.predBoundary, EVALUATE_DEFAULTS.predBoundary);
  assert.equal(o.truthBoundary, EVALUATE_DEFAULTS.truthBoundary);
  assert.equal(o.thin, EVALUATE_DEFAULTS.thin);
  assert.equal(o.warpingThreshold, EVALUATE_DEFAULTS.warpingThreshold);
  assert.equal(o.classIndex, EVALUATE_DEFAULTS.classIndex);
  assert.deepEqual(o.thresholds, isbiThresholds());
  assert.match(EVALUATE_HELP, /--mode M {14}membrane \| instances \| classes {3}\(membrane\)/);
  assert.match(EVALUATE_HELP, /\(0:1:0\.1; 8-bit/);
  assert.match(EVALUATE_HELP, new RegExp(`at T \\(default ${EVALUATE_DEFAULTS.warpingThreshold}\\)`));
  assert.throws(() => evaluationOptions({ thresholds: '1:0:0.1' }), /--thresholds 1:0:0.1: needs STEP > 0 and MAX >= MIN/);
});

test('shared option parsers give the library defaults when the flag is absent, and their help says so', () => {
  assert.deepEqual(labelModeFromOptions({}), DEFAULT_LABEL_MODE);
  assert.equal(connectivityOption(undefined), DEFAULT_CONNECTIVITY);
  assert.deepEqual(weightMapOptions({}), { w0: DEFAULT_WEIGHT_MAP.w0, sigma: DEFAULT_WEIGHT_MAP.sigma });
  assert.deepEqual(normalizationOption(undefined), DEFAULT_NORMALIZATION);
  assert.equal(classesOption(undefined), PAPER_CONFIG.classes);
  assert.equal(memoryBytesOption(undefined), DEFAULT_TILE_MEMORY_BYTES);
  const aug = augmentOptionsFrom({});
  assert.deepEqual(aug.elastic, { std: DEFAULT_ELASTIC.std, gridSize: DEFAULT_ELASTIC.gridSize });
  assert.equal(aug.interpolation, DEFAULT_AUGMENT.interpolation);
  assert.equal(helpDefault(WEIGHT_MAP_HELP, '--w0 X'), String(DEFAULT_WEIGHT_MAP.w0));
  assert.equal(helpDefault(WEIGHT_MAP_HELP, '--sigma X'), String(DEFAULT_WEIGHT_MAP.sigma));
  assert.equal(helpDefault(CONNECTIVITY_HELP, '--connectivity 4|8'), String(DEFAULT_CONNECTIVITY));
  assert.equal(helpDefault(CLASSES_HELP, '--classes N'), String(PAPER_CONFIG.classes));
  assert.equal(helpDefault(MAX_PIXELS_HELP, '--max-pixels N'), `${DEFAULT_MAX_PIXELS} = 2^28`);
  assert.equal(helpDefault(MODEL_HELP, '--depth N'), String(PAPER_CONFIG.depth));
  assert.equal(helpDefault(AUGMENT_FLAGS_HELP, '--elastic-std X'), String(DEFAULT_ELASTIC.std));
  assert.equal(helpDefault(NORMALIZE_HELP, '--normalize SPEC'), 'dtype');
  assert.throws(() => normalizationOption('range:5,1'), /--normalize: parseNormalization: "range:5,1" needs MIN,MAX with MAX > MIN/);
  assert.throws(() => weightMapOptions({ sigma: '0' }), /--sigma must be > 0, got 0/);
  assert.throws(() => connectivityOption('6'), /--connectivity must be 4 or 8, got 6/);
});

test('listImages / collectImages: image extensions of one folder, sorted; errors name the folder', async () => {
  const d = join(dir, 'scan');
  await mkdir(join(d, 'sub.png'), { recursive: true });
  for (const n of ['b.TIF', 'a.png', 'c.jpeg', '.hidden.png', 'notes.txt', 'd.tiff.bak']) await writeFile(join(d, n), '');
  assert.deepEqual(await listImages(d, 'test'), [join(d, 'a.png'), join(d, 'b.TIF'), join(d, 'c.jpeg'), join(d, 'sub.png')]);
  const empty = join(dir, 'empty');
  await mkdir(empty);
  await assert.rejects(listImages(empty, 'evaluate --truth'), new RegExp(`^Error: evaluate --truth: ${empty} holds no images \\(looked for \\.png, \\.jpg, \\.jpeg, \\.tif, \\.tiff\\)$`));
  await assert.rejects(listImages(join(dir, 'nope'), 'dataset images'), new RegExp(`dataset images: cannot read folder ${join(dir, 'nope')} \\(ENOENT\\)`));
  // Files stay as given (any name), folders expand in place.
  assert.deepEqual(await collectImages([join(d, 'notes.txt'), d], 'predict'), [join(d, 'notes.txt'), join(d, 'a.png'), join(d, 'b.TIF'), join(d, 'c.jpeg'), join(d, 'sub.png')]);
  await assert.rejects(collectImages([join(dir, 'missing.png')], 'predict'), new RegExp(`predict: ${join(dir, 'missing.png')} does not exist`));
  await assert.rejects(collectImages([empty], 'predict'), new RegExp(`predict: ${empty} holds no images`));
});

test('stem pairing: a.png pairs with a.tif; clashing stems and unmatched names are refused by name', async () => {
  const root = join(dir, 'pair');
  const images = join(root, 'images');
  const labels = join(root, 'labels');
  await mkdir(images, { recursive: true });
  await mkdir(labels, { recursive: true });
  for (const n of ['a.png', 'b.png']) await writeFile(join(images, n), '');
  for (const n of ['a.tif', 'b.png']) await writeFile(join(labels, n), '');
  assert.deepEqual(await pairByStem(images, labels), [
    { image: join(images, 'a.png'), label: join(labels, 'a.tif'), name: 'a' },
    { image: join(images, 'b.png'), label: join(labels, 'b.png'), name: 'b' },
  ]);
  await writeFile(join(labels, 'b.tif'), '');
  await assert.rejects(pairByStem(images, labels), new RegExp(`dataset labels: ${join(labels, 'b.png')} and ${join(labels, 'b.tif')} have the same stem "b", but labels are matched by stem; keep one`));
  await rm(join(labels, 'b.tif'));
  await writeFile(join(images, 'c.png'), '');
  await assert.rejects(pairByStem(images, labels), /do not match by file name; images without a label: .*c\.png/);
  // evaluate's pairing scans with the same function: the empty folder is named with its flag.
  const empty = join(root, 'empty');
  await mkdir(empty);
  await assert.rejects(pairPredictions(empty, labels, { mode: 'membrane' }), new RegExp(`evaluate --pred: ${empty} holds no images`));
});

test('fold scores: the evaluation mode of a label mode, and the headline scores of an evaluation', () => {
  assert.equal(evaluationModeFor('binary'), 'membrane');
  assert.equal(evaluationModeFor('instances'), 'instances');
  assert.equal(evaluationModeFor('classes'), 'classes');
  assert.deepEqual(headlineScores({ mode: 'instances', mean: { image: 'mean', f1: 0.8, tp: 3, seg: Number.NaN } }), { f1: 0.8 });
  assert.deepEqual(headlineScores({ mode: 'membrane', mean: { vRand: 0.1 }, stack: { vRand: 0.9, vInfo: 0.95, warping: { warpingError: 3e-4 } } }), { vRand: 0.9, vInfo: 0.95, warpingError: 3e-4 });
});

/** Whether `command` knows `flag`: an unknown flag fails parsing before --help is seen. */
async function accepts(command: string, flag: string, value: string | null): Promise<boolean> {
  try {
    await COMMANDS[command]!.run([flag, ...(value === null ? [] : [value]), '--help']);
  } catch (e) {
    if (e instanceof HelpRequested) return true;
    if ((e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return false;
    throw e;
  }
  assert.fail(`${command} ${flag} --help ran instead of asking for help`);
}

test('every command takes --help and -h (its own help text), before any other check', async () => {
  for (const [name, c] of Object.entries(COMMANDS)) {
    for (const flag of ['--help', '-h']) {
      await assert.rejects(c.run([flag]), (e: unknown) => e instanceof HelpRequested && e.help === c.help, `${name} ${flag}`);
    }
  }
  // Through main: help on stdout, exit 0; an unknown flag is still a usage error.
  const r = await runCli(['weights', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${WEIGHTS_HELP}\n`);
  const bad = await runCli(['weights', '--w1', '3', '--help']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unknown option '--w1'/);
});

test('every command that takes a shared option lists it with the same help text', async () => {
  // flag, a value (null: boolean), the shared help text, the commands expected to take it.
  const shared: [string, string | null, string, string[]][] = [
    ['--max-pixels', '5', MAX_PIXELS_HELP, ['augment', 'evaluate', 'predict', 'train', 'weights']],
    ['--normalize', 'dtype', NORMALIZE_HELP, ['augment', 'train']],
    ['--w0', '3', WEIGHT_MAP_HELP, ['train', 'weights']],
    ['--label-mode', 'binary', LABEL_MODE_HELP, ['augment', 'train', 'weights']],
    ['--elastic-std', '3', AUGMENT_FLAGS_HELP, ['augment', 'train']],
    ['--memory', '64', MEMORY_HELP, ['predict', 'tune']],
    ['--depth', '2', MODEL_HELP, ['info', 'train']],
  ];
  for (const [flag, value, help, expected] of shared) {
    const takers: string[] = [];
    for (const name of Object.keys(COMMANDS)) if (await accepts(name, flag, value)) takers.push(name);
    assert.deepEqual(takers.sort(), expected, `commands taking ${flag}`);
    for (const name of takers) assert.ok(COMMANDS[name]!.help.includes(help), `unet ${name} --help lists ${flag} with the shared text`);
  }
  // --classes: the shared line wherever it means the model's classes; evaluate's --classes
  // counts the classes of the label images (default: largest value + 1) and says so.
  const classes: string[] = [];
  for (const name of Object.keys(COMMANDS)) if (await accepts(name, '--classes', '2')) classes.push(name);
  assert.deepEqual(classes.sort(), ['augment', 'evaluate', 'info', 'predict', 'train', 'weights']);
  for (const name of ['augment', 'info', 'train', 'weights']) assert.ok(COMMANDS[name]!.help.includes(CLASSES_HELP), `unet ${name} --help: ${CLASSES_HELP}`);
  assert.match(COMMANDS.evaluate!.help, /--classes N {11}number of classes \(default: largest value \+ 1\)/);
  // --connectivity: the shared line where it is about the label images' objects (train, weights);
  // predict's and merge-instances' is about the predicted objects, and says so.
  const connectivity: string[] = [];
  for (const name of Object.keys(COMMANDS)) if (await accepts(name, '--connectivity', '4')) connectivity.push(name);
  assert.deepEqual(connectivity.sort(), ['merge-instances', 'predict', 'train', 'weights']);
  for (const name of ['train', 'weights']) assert.ok(COMMANDS[name]!.help.includes(CONNECTIVITY_HELP), `unet ${name} --help: ${CONNECTIVITY_HELP}`);
  assert.match(COMMANDS.predict!.help, /--connectivity 4\|8 +pixel neighbourhood of objects \(components and watershed\)/);
  assert.match(COMMANDS['merge-instances']!.help, /--connectivity 4\|8 +must be the predict jobs' --connectivity/);
});

test('bundled model names are the table\'s own names only: Object properties such as toString are folders to look for', () => {
  assert.ok(isBundledModelName('nuclei') && isBundledModelName('isbi'));
  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    assert.equal(isBundledModelName(name), false, `isBundledModelName('${name}')`);
    assert.throws(() => resolveModelDir(name), new RegExp(`--model ${name}: no such folder, and not a bundled model`), `resolveModelDir('${name}')`);
  }
  assert.match(resolveModelDir('nuclei'), /models[/\\]nuclei-fluo$/);
});
