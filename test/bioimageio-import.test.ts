/**
 * Running other people's U-Nets: a real third-party bioimage.io package
 * (../shared/specs/bioimageio/example-unet2d_nuclei_broad, a PyTorch U-Net exported to ONNX)
 * reproduces its own test_output.npy, runs a 1024 x 1024 image tile by tile in agreement with
 * one whole-image pass, and runs from the CLI; packages unet-ts cannot honour are refused,
 * naming the field; the pre/postprocessing steps match small hand-computed examples.
 *
 * Needs onnxruntime-node (npm), the package under ../shared/specs and, for the 1024 image,
 * ../shared/data (DSB 2018).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { zipSync } from 'fflate';
import { applyProcessing, openPackage, packageSpec, percentileSorted, tileSizeFor } from '../src/io/bioimageio.js';
import { asFloat32, openPackageRunner, predictWithPackage, runPackageTest } from '../src/infer/bioimageio-predict.js';
import { loadOrt, ortLoadError } from '../src/infer/ort-engine.js';
import { readImage } from '../src/io/image.js';
import { readPng } from '../src/io/png.js';
import { toModelChannels } from '../src/io/raster.js';
import { DSB, maxAbsDiff, skipUnless, skipWithoutSharedData } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGE = fileURLToPath(new URL('../../shared/specs/bioimageio/example-unet2d_nuclei_broad', import.meta.url));
const ort = await loadOrt();
const ortSkip = skipUnless(ort ? false : `onnxruntime-node not loadable (${ortLoadError()}); run npm ci`);
const pkgSkip = ortSkip || skipUnless(existsSync(join(PACKAGE, 'bioimageio.yaml')) ? false : `${PACKAGE} not found (../shared/specs/bioimageio)`);
const tmp = await mkdtemp(join(tmpdir(), 'unet-bioimageio-'));
after(async () => rm(tmp, { recursive: true, force: true }));

describe('example-unet2d_nuclei_broad (third-party package)', { skip: pkgSkip }, () => {
  test('reproduces its test_output.npy to 1e-4 after its sigmoid', async () => {
    const runner = await openPackageRunner(PACKAGE);
    try {
      assert.deepEqual(runner.spec.halo, [32, 32]);
      assert.deepEqual(runner.spec.postprocessing.map((s) => s.id), ['sigmoid', 'ensure_dtype']);
      const { output, expected } = await runPackageTest(runner);
      assert.deepEqual([output.height, output.width, output.channels], [512, 512, 1]);
      const diff = maxAbsDiff(output.data, expected.data);
      assert.ok(diff <= 1e-4, `test_output.npy: max abs diff ${diff} > 1e-4`);
    } finally {
      await runner.release();
    }
  });

  test('a 1024 x 1024 DSB image tiled (512 tiles, halo 32) agrees with one whole-image pass in the interior', { skip: skipWithoutSharedData() }, async () => {
    const manifest = readFileSync(join(DSB, 'manifest.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const id = manifest.find((r) => r[2] === '1024' && r[3] === '1024')?.[0];
    assert.ok(id, 'manifest.csv lists a 1024 x 1024 image');
    const raw = toModelChannels((await readImage(join(DSB, 'images', `${id}.png`)))[0]!, 1, id);
    const image = asFloat32(raw);
    const runner = await openPackageRunner(PACKAGE);
    const whole = await openPackageRunner(PACKAGE, { anySize: true });
    try {
      const tiled = await predictWithPackage(runner, image);
      // The reference: one pass of the graph over the whole (preprocessed) image, no tiles, no halo.
      const pre = applyProcessing(image, runner.spec.preprocessing);
      const values = await whole.predictor([1024, 1024], false).predictBatch(pre.data, 1);
      const big = applyProcessing({ data: values, height: 1024, width: 1024, channels: 1 }, runner.spec.postprocessing);
      // Interior: at least one halo from the image border, where the whole pass sees zero padding and tiles see mirrored context.
      const halo = 32;
      let maxDiff = 0;
      let maskDiffers = 0;
      for (let y = halo; y < 1024 - halo; y++) {
        for (let x = halo; x < 1024 - halo; x++) {
          const i = y * 1024 + x;
          maxDiff = Math.max(maxDiff, Math.abs(tiled.data[i]! - big.data[i]!));
          if (tiled.data[i]! > 0.5 !== big.data[i]! > 0.5) maskDiffers++;
        }
      }
      // Not bit-identical: the net's receptive field is wider than the declared halo of 32, so tile
      // borders still see a little of their zero padding (measured: 0.003).
      assert.ok(maxDiff <= 0.01, `tiled vs whole-image pass: max abs diff ${maxDiff} > 0.01 in the interior`);
      assert.equal(maskDiffers, 0, `tiled vs whole-image pass: ${maskDiffers} mask pixels differ in the interior`);
    } finally {
      await runner.release();
      await whole.release();
    }
  });

  test('the same package as a .zip gives the same description and test tensors', async () => {
    const files = Object.fromEntries(readdirSync(PACKAGE).map((f) => [f, new Uint8Array(readFileSync(join(PACKAGE, f)))]));
    const zip = join(tmp, 'nuclei.zip');
    await writeFile(zip, zipSync(files, { level: 0 }));
    const [a, b] = [await openPackage(PACKAGE), await openPackage(zip)];
    assert.deepEqual(packageSpec(b.description), packageSpec(a.description));
    assert.deepEqual(await b.readFile('test_input.npy'), new Uint8Array(await a.readFile('test_input.npy')));
  });

  test('unet predict --model PACKAGE writes mask, probabilities and overlay', async () => {
    const out = join(tmp, 'cli');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'predict', '--model', PACKAGE, '--outputs', 'mask,prob,overlay', '--out', out, join(PACKAGE, 'test_input.png')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /bioimage.io package "UNet 2D Nuclei Broad"/);
    const mask = await readPng(join(out, 'test_input_mask.png'));
    const fg = Array.from(mask.data).filter((v) => v === 1).length / mask.data.length;
    assert.ok(fg > 0.02 && fg < 0.6, `foreground fraction ${fg} of the nuclei mask is implausible`);
    assert.ok(existsSync(join(out, 'test_input_prob.tif')) && existsSync(join(out, 'test_input_overlay.png')));
    const bad = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'predict', '--model', PACKAGE, '--outputs', 'instances', '--out', out, join(PACKAGE, 'test_input.png')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /"instances" is not available for a bioimage.io package/);
  });
});

describe('packageSpec refuses what it cannot run, naming the field', { skip: skipUnless(existsSync(join(PACKAGE, 'bioimageio.yaml')) ? false : `${PACKAGE} not found`) }, () => {
  const base = async (): Promise<Record<string, unknown>> => structuredClone((await openPackage(PACKAGE)).description);
  type T = { inputs: { axes: Record<string, unknown>[]; preprocessing: { id: string }[] }[]; weights: Record<string, unknown> };
  test('a z axis (3D)', async () => {
    const d = (await base()) as unknown as T;
    d.inputs[0]!.axes.push({ type: 'space', id: 'z', size: 16 });
    assert.throws(() => packageSpec(d as never, 'p.yaml'), /p.yaml: inputs\[0\]\.axes\[4\] is the space axis 'z': 3D models are not supported/);
  });
  test('an unknown preprocessing step', async () => {
    const d = (await base()) as unknown as T;
    d.inputs[0]!.preprocessing[1]!.id = 'stardist_magic';
    assert.throws(() => packageSpec(d as never, 'p.yaml'), /p.yaml: inputs\[0\]\.preprocessing\[1\]\.id is 'stardist_magic', which unet-ts does not implement/);
  });
  test('torchscript-only weights', async () => {
    const d = (await base()) as unknown as T;
    delete d.weights.onnx;
    delete d.weights.pytorch_state_dict;
    assert.throws(() => packageSpec(d as never, 'p.yaml'), /p.yaml: weights has torchscript but no onnx entry/);
  });
  test('format_version 0.4', async () => {
    const d = await base();
    d.format_version = '0.4.10';
    assert.throws(() => packageSpec(d, 'p.yaml'), /p.yaml: format_version is "0.4.10"; supported: 0.5.x/);
  });
});

describe('applyProcessing (bioimage.io steps) on small examples', () => {
  const r = (data: number[], channels = 1): { data: Float32Array; height: number; width: number; channels: number } => ({ data: Float32Array.from(data), height: 1, width: data.length / channels, channels });
  const close = (a: Float32Array, b: number[], what: string): void => assert.ok(maxAbsDiff(a, b) < 1e-6, `${what}: got [${Array.from(a).join(', ')}], expected [${b.join(', ')}]`);
  test('zero_mean_unit_variance: (x - mean) / (std + 1e-6), jointly or per channel', () => {
    // [1, 3]: mean 2, std 1.
    close(applyProcessing(r([1, 3]), [{ id: 'zero_mean_unit_variance', kwargs: {} }]).data, [-1 / (1 + 1e-6), 1 / (1 + 1e-6)], 'joint');
    // Two channels, per channel over y and x: channel 0 = [0, 2], channel 1 = [10, 30].
    const perChannel = applyProcessing(r([0, 10, 2, 30], 2), [{ id: 'zero_mean_unit_variance', kwargs: { axes: ['y', 'x'], eps: 0 } }]).data;
    close(perChannel, [-1, -1, 1, 1], 'per channel');
  });
  test('fixed_zero_mean_unit_variance, scale_linear and clip with per-channel values', () => {
    close(applyProcessing(r([4, 4], 2), [{ id: 'fixed_zero_mean_unit_variance', kwargs: { mean: [2, 0], std: [2, 4], axis: 'channel', eps: 0 } }]).data, [1, 1], 'fixed mean/std');
    close(applyProcessing(r([1, 1], 2), [{ id: 'scale_linear', kwargs: { gain: [2, 3], offset: 1, axis: 'channel' } }]).data, [3, 4], 'scale_linear');
    close(applyProcessing(r([-5, 0.5, 9]), [{ id: 'clip', kwargs: { min: 0, max: 1 } }]).data, [0, 0.5, 1], 'clip');
  });
  test('scale_range with numpy-style linear percentiles, binarize, sigmoid, ensure_dtype', () => {
    // Percentiles 0 and 100 of [0, 10, 20, 30, 40]: 0 and 40; 25th: 10 (linear interpolation).
    assert.equal(percentileSorted(Float64Array.of(0, 10, 20, 30, 40), 25), 10);
    assert.equal(percentileSorted(Float64Array.of(0, 10), 75), 7.5);
    close(applyProcessing(r([0, 10, 20, 30, 40]), [{ id: 'scale_range', kwargs: { min_percentile: 25, max_percentile: 75, eps: 0 } }]).data, [-0.5, 0, 0.5, 1, 1.5], 'scale_range');
    close(applyProcessing(r([0.2, 0.7]), [{ id: 'binarize', kwargs: { threshold: 0.5 } }]).data, [0, 1], 'binarize');
    close(applyProcessing(r([0, Math.log(3)]), [{ id: 'sigmoid', kwargs: {} }]).data, [0.5, 0.75], 'sigmoid');
    close(applyProcessing(r([-3.4, 3.6, 300]), [{ id: 'ensure_dtype', kwargs: { dtype: 'uint8' } }]).data, [0, 4, 255], 'ensure_dtype uint8');
  });
  test('tileSizeFor: the smallest allowed size covering image + halo, capped', () => {
    assert.equal(tileSizeFor({ min: 64, step: 16 }, 500, 32, 1024), 576);
    assert.equal(tileSizeFor({ min: 64, step: 16 }, 5000, 32, 1024), 1024);
    assert.equal(tileSizeFor({ fixed: 512 }, 1024, 32, 1024), 512);
  });
});
