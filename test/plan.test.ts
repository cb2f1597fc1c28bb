/** Dataset fingerprint and plan (src/plan), unet plan and unet train --plan / planless unet train. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { detectLabelMode, fingerprintFromRasters, parsePlan, plannedTile, planFromFingerprint, planTrainArgs } from '../src/plan/plan.js';
import { parseDuration, withoutFlag, withoutPlannedTargets } from '../src/cli/commands/plan.js';
import { writePng } from '../src/io/png.js';
import { mkdir } from 'node:fs/promises';
import { isValidInputSize, minValidInputSize, outputSize } from '../src/model/size.js';
import { writeSyntheticFolders } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'unet-plan-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });
const cli = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });

test('detectLabelMode: binary, touching instances, class indices', () => {
  assert.equal(detectLabelMode([Uint8Array.of(0, 255, 255, 0)], [[2, 2]]), 'binary');
  assert.equal(detectLabelMode([Uint8Array.of(1, 2, 0, 3)], [[2, 2]]), 'instances');
  assert.equal(detectLabelMode([Uint8Array.of(1, 0, 2, 1)], [[2, 2]]), 'classes', 'class 1 in two places');
  const many = Uint16Array.from({ length: 100 }, (_, i) => (i % 2 ? 0 : 1 + (i >> 1)));
  assert.equal(detectLabelMode([many], [[10, 10]]), 'instances', '50 separate ids are instances');
});

test('fingerprintFromRasters: sizes, intensities, class balance, objects and touching fraction', () => {
  // 6 x 8 instance map: objects 1 and 2 touch, object 3 is apart; image intensities 10..57.
  const label = Uint16Array.from([
    1, 1, 2, 2, 0, 0, 0, 0,
    1, 1, 2, 2, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 3, 3, 0,
    0, 0, 0, 0, 0, 3, 3, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
  ]);
  const image = Uint16Array.from({ length: 48 }, (_, i) => 10 + i);
  const fp = fingerprintFromRasters([{ image: { data: image, height: 6, width: 8, channels: 1 }, label: { data: label, height: 6, width: 8, channels: 1 } }]);
  assert.equal(fp.labels.mode, 'instances');
  assert.equal(fp.dtype, 'uint16');
  assert.deepEqual(fp.sizes.median, [6, 8]);
  assert.equal(fp.intensity.min, 10);
  assert.equal(fp.intensity.max, 57);
  assert.equal(fp.objects.count, 3);
  assert.equal(fp.objects.medianArea, 4);
  assert.equal(fp.objects.touchingFraction, 2 / 3);
  assert.deepEqual(fp.labels.classFractions, [36 / 48, 12 / 48]);
  assert.throws(() => fingerprintFromRasters([{ image: { data: image, height: 6, width: 8, channels: 1 }, label: { data: label.slice(0, 40), height: 5, width: 8, channels: 1 }, name: 'x' }]),
    /fingerprintFromRasters: x: image 6x8 but label 5x8/);
});

test('plannedTile: the fewest output windows per axis, then the smallest tile that covers the side in them', () => {
  const spec = { depth: 4, padding: 'valid' } as const;
  // side -> [tile, windows]: 256 (DSB 2018) 2 x 132; 512 (ISBI 2012) 3 x 180; 1040 5 x 212; 228 fits one 412 tile's output, 229 needs 2 x 116.
  for (const [side, tile] of [[256, 316], [512, 364], [1040, 396], [228, 412], [229, 300], [40, 236]] as const) {
    const got = plannedTile(side, spec);
    assert.equal(got, tile, `plannedTile(${side}): expected ${tile}, got ${got}`);
    const windows = Math.ceil(side / outputSize(412, spec));
    assert.ok(windows * outputSize(got, spec) >= side, `plannedTile(${side}): ${windows} windows of output ${outputSize(got, spec)} cover the side`);
    const smaller = got - 16;
    assert.ok(smaller < minValidInputSize(spec) || windows * outputSize(smaller, spec) < side, `plannedTile(${side}): the next smaller tile ${smaller} needs more windows`);
  }
  assert.equal(plannedTile(48, { depth: 2, padding: 'valid' }), 88);
  assert.throws(() => plannedTile(0, spec), /plannedTile: side must be a positive integer, got 0/);
});

test('planFromFingerprint: tile, normalisation, weights and steps follow the data and the probe', () => {
  const base = fingerprintFromRasters([{ image: { data: Uint8Array.from({ length: 512 * 512 }, (_, i) => i % 256), height: 512, width: 512, channels: 1 },
    label: { data: Uint8Array.from({ length: 512 * 512 }, (_, i) => ((i >> 5) % 2 && ((i >> 14) % 2) ? 255 : 0)), height: 512, width: 512, channels: 1 } }]);
  const p = planFromFingerprint(base, { budgetSeconds: 600, secondsPerStep: 0.5 });
  assert.equal(p.depth, 4);
  assert.equal(p.tile, 364, 'plannedTile: 512 px in 3 windows of output 180');
  assert.ok(isValidInputSize(p.tile, { depth: p.depth, padding: 'valid' }));
  assert.equal(p.normalize, 'dtype');
  assert.equal(p.iterations, 1080, '90% of 600 s at 0.5 s/step');
  assert.equal(p.validateEvery, 108);
  assert.equal(planFromFingerprint(base).iterations, 1000, 'no probe');
  // 16-bit data using a small part of the range: percentile normalisation; small images: shallower net.
  const small = fingerprintFromRasters([{ image: { data: Uint16Array.from({ length: 48 * 48 }, (_, i) => 100 + (i % 50)), height: 48, width: 48, channels: 1 },
    label: { data: Uint8Array.from({ length: 48 * 48 }, (_, i) => (i < 100 ? 1 : 0)), height: 48, width: 48, channels: 1 } }]);
  const q = planFromFingerprint(small);
  assert.equal(q.normalize, 'percentile:0.5,99.5');
  assert.equal(q.depth, 2);
  assert.ok(isValidInputSize(q.tile, { depth: 2, padding: 'valid' }), `tile ${q.tile}`);
  assert.equal(q.w0, 0, 'one object per image: no border term');
  assert.deepEqual(planTrainArgs(q).slice(0, 4), ['--depth', '2', '--filters', '16']);
  assert.throws(() => planFromFingerprint(small, { secondsPerStep: 0 }), /planFromFingerprint: secondsPerStep must be > 0, got 0/);
  assert.deepEqual(parsePlan({ plan: q }, 'p.json'), q);
  assert.throws(() => parsePlan({ plan: { ...q, tile: 'big' } }, 'p.json'), /p\.json: plan\.tile must be an integer >= 1, got "big"/);
  assert.equal(parseDuration('30m'), 1800);
  assert.equal(parseDuration('1.5h'), 5400);
  assert.equal(parseDuration('90'), 90);
  assert.throws(() => parseDuration('soon'), /--budget must look like 30m/);
});

test('unet plan writes plan.json; unet train --plan trains with it; unet train without architecture flags plans and says so', async () => {
  const { images, labels } = await writeSyntheticFolders(dir);
  const planFile = join(dir, 'plan.json');
  const p = cli('plan', '--images', images, '--labels', labels, '--budget', '2m', '--out', planFile, '--probe-steps', '1');
  assert.equal(p.status, 0, String(p.stderr));
  assert.match(String(p.stdout), /^labels: binary, 2 distinct values/m);
  assert.match(String(p.stdout), /iterations \d+: 90% of the 2\.0 min budget at [\d.]+ s\/step \(probe\)/);
  const doc = JSON.parse(await readFile(planFile, 'utf8'));
  assert.equal(doc.fingerprint.images, 2);
  assert.equal(doc.plan.depth, 2);
  assert.ok(doc.probe.secondsPerStep > 0);

  const out = join(dir, 'model');
  const t = cli('train', '--plan', planFile, '--images', images, '--labels', labels, '--out', out, '--seed', '1', '--iterations', '2', '--filters', '4');
  assert.equal(t.status, 0, String(t.stderr));
  assert.match(String(t.stderr), /^unet train: plan .*plan\.json: --depth 2 --filters 16/m);
  const meta = JSON.parse(await readFile(join(out, 'unet.json'), 'utf8'));
  assert.equal(meta.config.depth, 2);
  assert.equal(meta.config.baseFilters, 4, 'a flag given after --plan overrides it');
  assert.equal(meta.training.iterations, 2);
  assert.equal(meta.training.argv.includes('--plan'), false, 'the stored command (for --resume) holds the plan\'s flags, not the file');

  const auto = cli('train', '--images', images, '--labels', labels, '--out', join(dir, 'auto'), '--seed', '1', '--iterations', '1');
  assert.equal(auto.status, 0, String(auto.stderr));
  assert.match(String(auto.stderr), /no architecture flags given, so planned from the data .*--depth 2 --filters 16 --padding valid --tile \d+/);
  await writeFile(join(dir, 'bad.json'), JSON.stringify({ plan: { ...doc.plan, depth: 0 } }));
  const bad = cli('train', '--plan', join(dir, 'bad.json'), '--images', images, '--labels', labels, '--out', join(dir, 'bad'), '--seed', '1');
  assert.equal(bad.status, 1);
  assert.match(String(bad.stderr), /bad\.json: plan\.depth must be an integer >= 1, got 0/);
});

/** A 64 x 64 instance map: pairs of touching 10 x 10 squares (ids 1..8) on a 4 x 2 grid. */
function touchingPairs(): Uint16Array {
  const ids = new Uint16Array(64 * 64);
  let id = 0;
  for (let gy = 0; gy < 4; gy++) {
    for (let gx = 0; gx < 2; gx++) {
      id++;
      for (let y = gy * 16 + 3; y < gy * 16 + 13; y++) for (let x = gx * 32 + 3; x < gx * 32 + 23; x++) ids[y * 64 + x] = x < gx * 32 + 13 ? id : id + 100;
    }
  }
  return ids;
}

test('instance labels are planned with boundary targets (3 classes, no --classes flag); old plans and --no-separate keep two classes', () => {
  const ids = touchingPairs();
  const fp = fingerprintFromRasters([{ image: { data: Uint8Array.from(ids, (v) => (v ? 200 : 20)), height: 64, width: 64, channels: 1 }, label: { data: ids, height: 64, width: 64, channels: 1 } }]);
  assert.equal(fp.labels.mode, 'instances');
  const p = planFromFingerprint(fp);
  assert.equal(p.targets, 'boundary', 'planFromFingerprint: instance labels get boundary targets');
  assert.equal(p.classes, 3);
  const args = planTrainArgs(p);
  assert.ok(args.join(' ').includes('--label-mode instances --targets boundary'), args.join(' '));
  assert.ok(!args.includes('--classes'), `instance plans leave the classes to the targets: ${args.join(' ')}`);
  assert.equal(p.lrSchedule, 'poly', 'planFromFingerprint: instance labels get the poly learning-rate schedule');
  assert.ok(args.join(' ').includes('--lr-schedule poly'), `planTrainArgs: instance plans pass --lr-schedule poly: ${args.join(' ')}`);
  assert.deepEqual(parsePlan(JSON.parse(JSON.stringify({ plan: p })), 'p.json'), p, 'parsePlan: a written plan reads back the same');
  const old: Record<string, unknown> = { ...p, classes: 2 };
  delete old.targets;
  delete old.lrSchedule;
  assert.equal(parsePlan({ plan: old }, 'old.json').targets, 'separated', 'a plan file without targets meant the two-class target');
  assert.equal(parsePlan({ plan: old }, 'old.json').lrSchedule, 'constant', 'a plan file without lrSchedule meant the constant rate');
  assert.throws(() => parsePlan({ plan: { ...p, lrSchedule: 'cosine' } }, 'p.json'), /p\.json: plan\.lrSchedule must be one of constant, poly, got "cosine"/);
  assert.throws(() => parsePlan({ plan: { ...p, targets: 'contour' } }, 'p.json'), /p\.json: plan\.targets must be one of separated, boundary, got "contour"/);
  assert.deepEqual(withoutPlannedTargets(['--targets', 'boundary', '--w0', '10'], ['--no-separate']), ['--w0', '10']);
  assert.deepEqual(withoutPlannedTargets(['--targets', 'boundary'], ['--seed', '1']), ['--targets', 'boundary']);
  assert.deepEqual(withoutFlag(['--plan', 'p.json', '--seed', '1', '--plan=q.json'], 'plan'), ['--seed', '1']);
  const binary = planFromFingerprint(fingerprintFromRasters([{ image: { data: new Uint8Array(64 * 64), height: 64, width: 64, channels: 1 }, label: { data: Uint8Array.from(ids, (v) => (v ? 255 : 0)), height: 64, width: 64, channels: 1 } }]));
  assert.equal(binary.targets, null, 'binary labels have no instance targets');
  assert.equal(binary.lrSchedule, 'constant', 'planFromFingerprint: binary labels keep the paper\'s constant rate');
  assert.ok(planTrainArgs(binary).join(' ').includes('--lr-schedule constant'), planTrainArgs(binary).join(' '));
});

test('planless unet train on instance labels trains three classes; --no-separate or --targets separated two', async () => {
  const root = join(dir, 'instances');
  await mkdir(join(root, 'images'), { recursive: true });
  await mkdir(join(root, 'labels'), { recursive: true });
  const ids = touchingPairs();
  for (const name of ['a', 'b']) {
    await writePng(join(root, 'images', `${name}.png`), { data: Uint8Array.from(ids, (v) => (v ? 200 : 20)), height: 64, width: 64, channels: 1 });
    await writePng(join(root, 'labels', `${name}.png`), { data: ids, height: 64, width: 64, channels: 1 });
  }
  for (const [extra, classes] of [[[], 3], [['--no-separate'], 2], [['--targets', 'separated'], 2]] as const) {
    const out = join(root, `model-${classes}-${extra.length}`);
    const r = cli('train', '--images', join(root, 'images'), '--labels', join(root, 'labels'), '--out', out, '--seed', '1', '--iterations', '1', '--no-holdout', ...extra);
    assert.equal(r.status, 0, String(r.stderr));
    const meta = JSON.parse(await readFile(join(out, 'unet.json'), 'utf8'));
    assert.equal(meta.config.classes, classes, `planless train ${extra.join(' ') || '(no flags)'}: ${classes} classes, got ${meta.config.classes}`);
    assert.match(meta.training.command, /--lr-schedule poly/, `planless train on instance labels decays the rate: ${meta.training.command}`);
  }
  const constant = join(root, 'model-constant');
  const r = cli('train', '--images', join(root, 'images'), '--labels', join(root, 'labels'), '--out', constant, '--seed', '1', '--iterations', '1', '--no-holdout', '--lr-schedule', 'constant');
  assert.equal(r.status, 0, String(r.stderr));
  const command: string = JSON.parse(await readFile(join(constant, 'unet.json'), 'utf8')).training.command;
  assert.ok(command.endsWith('--lr-schedule constant'), `a --lr-schedule given by the user comes after the plan's and wins: ${command}`);
});
