/** Training curves (src/report/curves.ts), the report (src/report/report.ts), unet train's curves.svg/png and unet report. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { decodePng, writePng } from '../src/io/png.js';
import { binned, curvesSpec, rasterizeSvg, renderSvg, runningMean } from '../src/report/curves.js';
import { historyFromMetadata, trainingReport } from '../src/report/report.js';
import { readModelMetadata } from '../src/io/model-files.js';
import { syntheticSample } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'unet-curves-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

/** Fraction of pixels that are not (near) white, and the number of distinct colours, of an RGBA/RGB/gray PNG. */
function ink(png: Uint8Array): { width: number; height: number; inked: number; colours: number } {
  const r = decodePng(png);
  const c = r.channels;
  let inked = 0;
  const colours = new Set<number>();
  for (let i = 0; i < r.width * r.height; i++) {
    const px = [0, 1, 2].map((k) => r.data[i * c + Math.min(k, c - 1)]!);
    if (px.some((v) => v < 200)) inked++;
    colours.add(((px[0]! >> 4) << 8) | ((px[1]! >> 4) << 4) | (px[2]! >> 4));
  }
  return { width: r.width, height: r.height, inked: inked / (r.width * r.height), colours: colours.size };
}

test('binned and runningMean: the worked examples', () => {
  assert.deepEqual(binned([1, 2, 3, 4], 1, 1, 2), [{ step: 2, value: 1.5 }, { step: 4, value: 3.5 }]);
  assert.deepEqual(binned([5, 6], 1, 10), [{ step: 1, value: 5 }, { step: 11, value: 6 }]);
  assert.deepEqual(runningMean([1, 3, 5], 2), [1, 2, 4]);
  assert.throws(() => runningMean([1], 0), /runningMean: window must be a positive integer, got 0/);
  assert.throws(() => curvesSpec({ losses: [] }), /curvesSpec: the history has no training losses/);
  assert.throws(() => curvesSpec({ losses: [1, NaN] }), /curvesSpec: training loss 1 is NaN/);
});

test('renderSvg / rasterizeSvg: the curves have axes, titles and ink; a 2000-step history stays small', async () => {
  const losses = Array.from({ length: 2000 }, (_, i) => 0.7 * Math.exp(-i / 300) + 0.1 + 0.03 * Math.sin(i));
  const svg = await renderSvg(curvesSpec({ losses, validation: [{ iteration: 1000, loss: 0.3, metric: 0.6 }, { iteration: 2000, loss: 0.2, metric: 0.7 }], metricName: 'Dice', learningRate: 0.001 }));
  assert.match(svg, /^<svg /);
  const axes = svg.match(/role-axis"/g) ?? [];
  assert.ok(axes.length >= 6, `renderSvg: expected x and y axes on 3 panels, found ${axes.length} axis groups`);
  for (const title of ['step', 'loss', 'Dice', 'learning rate', 'validation loss']) assert.ok(svg.includes(`>${title}<`), `renderSvg: no "${title}" text in the SVG`);
  assert.ok(svg.length < 400_000, `renderSvg: SVG of ${svg.length} bytes; binning should bound it`);
  const png = rasterizeSvg(svg);
  const s = ink(png);
  assert.ok(s.width >= 640 && s.height >= 500, `rasterizeSvg: PNG is ${s.width}x${s.height}`);
  assert.ok(s.inked > 0.01 && s.inked < 0.5, `rasterizeSvg: ${(s.inked * 100).toFixed(2)}% of pixels inked (blank or flooded)`);
  assert.ok(s.colours >= 4, `rasterizeSvg: only ${s.colours} colours (lines not drawn in colour?)`);
});

test('unet train writes curves.svg and curves.png; unet report prints the summary and writes the plots', async () => {
  const images = join(dir, 'images');
  const labels = join(dir, 'labels');
  await mkdir(images);
  await mkdir(labels);
  const sample = syntheticSample();
  await writePng(join(images, 'a.png'), { ...sample.image, data: Uint8Array.from(sample.image.data, (v) => Math.round(v * 255)) });
  await writePng(join(labels, 'a.png'), { ...sample.labels, data: Uint8Array.from(sample.labels.data, (v) => v * 255) });
  const out = join(dir, 'model');
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'train', '--images', images, '--labels', labels, '--val-images', images, '--val-labels', labels,
    '--out', out, '--iterations', '4', '--seed', '1', '--depth', '2', '--filters', '4', '--tile', '60', '--validate-every', '2', '--checkpoint-every', '2'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['curves.svg', 'curves.png']) assert.ok(existsSync(join(out, f)), `unet train: no ${f} in the model folder`);
  assert.match(await readFile(join(out, 'curves.svg'), 'utf8'), />validation loss</);
  assert.ok(ink(await readFile(join(out, 'curves.png'))).inked > 0.01);

  const metadata = await readModelMetadata(out);
  const h = historyFromMetadata(metadata)!;
  assert.equal(h.lossStride, 10);
  assert.deepEqual(h.validation!.map((v) => v.iteration), [2, 4]);
  assert.match(trainingReport(metadata, out), /^steps: 4, /m);

  const plots = join(dir, 'plots');
  const rep = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'report', out, '--out', plots], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(rep.status, 0, rep.stderr);
  assert.match(rep.stdout, /^architecture: depth 2, 4 base filters/m);
  assert.match(rep.stdout, /^validation loss: 2: \d\.\d{4}, 4: \d\.\d{4} \(best/m);
  assert.ok(existsSync(join(plots, 'curves.png')));
  const none = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'report', join(dir, 'missing')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /missing/);
});

test('unet report takes a bundled model by name and writes its plots in the current folder, not into the package', async () => {
  const here = join(dir, 'report-here');
  await mkdir(here);
  const listed = readdirSync(join(ROOT, 'models', 'nuclei-fluo')).sort();
  // tsx by its resolved URL: the child runs in another folder, where a bare 'tsx' would not resolve.
  const rep = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, 'report', 'nuclei'], { cwd: here, encoding: 'utf8', timeout: 120_000 });
  assert.equal(rep.status, 0, rep.stderr);
  assert.match(rep.stdout, /^architecture: depth 4, 16 base filters/m);
  assert.match(rep.stdout, /^curves: \S*curves\.svg \S*curves\.png$/m);
  for (const f of ['curves.svg', 'curves.png']) assert.ok(existsSync(join(here, f)), `unet report nuclei: no ${f} in the current folder`);
  assert.deepEqual(readdirSync(join(ROOT, 'models', 'nuclei-fluo')).sort(), listed, 'unet report nuclei changed the bundled model folder');
});

test('trainingReport: how predict will run the model, the stored objects and the TTA choice with their scores', async () => {
  const stored = await readModelMetadata(join(ROOT, 'models', 'nuclei-fluo'));
  const pp = { foregroundClasses: [1], watershed: true, seedClasses: [1], seedThreshold: 0.9, minSize: 50, foregroundThreshold: 0.7, tuned: { metric: 'f1', images: 43, score: 0.86443 } };
  const metadata = { ...stored, postprocess: { instances: pp }, inference: { tta: true, tuned: { metric: 'f1', images: 43, plain: 0.84903, tta: 0.86443, minGain: 0.005 } } };
  const report = trainingReport(metadata, 'nuclei');
  assert.match(report, /^objects: foreground > 0\.7, watershed, seeds >= 0\.9, min size 50 \(tuned: f1 0\.8644 on 43 validation image\(s\)\)$/m, report);
  assert.match(report, /^test-time augmentation: on by default \(f1 0\.8644 with it, 0\.8490 without, on 43 validation image\(s\)\)$/m, report);
  const plain = trainingReport({ ...metadata, postprocess: undefined, inference: undefined }, 'x');
  assert.doesNotMatch(plain, /^(objects|test-time augmentation):/m, 'trainingReport: no lines for what the model does not store');
});
