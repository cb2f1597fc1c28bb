/**
 * End-to-end test of the web app (web/) in a real browser: Debian's Chromium driven by
 * playwright-core. It serves the built app (web/dist, rebuilt when older than its
 * sources) on 127.0.0.1, opens it with a small seeded model given by URL, uploads an
 * ISBI 2012 slice, waits for the worker's overlap-tile segmentation, downloads the mask
 * from the page and compares it with `unet predict` (the CLI, in Node) on the same image
 * with the same model. Also checks that the page requested nothing outside its origin,
 * and saves a screenshot into the OS temp folder (path printed); docs/web-screenshot.png
 * is written when missing or when UNET_WEB_SCREENSHOT=1 (so test runs leave git clean).
 * UNET_WEB_E2E_MODEL=DIR uses that saved model folder instead of the seeded one
 * (e.g. a trained model, for a screenshot that shows membranes).
 *
 * Skips (visibly) without /usr/bin/chromium (CI: apt-get install chromium) or without
 * the shared ISBI data.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeTiff, encodeTiff } from '../src/io/image-codecs.js';
import { tensor1d } from '@tensorflow/tfjs-core';
import { buildUNet, decodePng, initBackend, initializeWeights, makeMetadata, normalize as normalizeImage, predict, Rng, saveModel, unetPredictor, withTestTimeAugmentation } from '../src/index.js';
import { ISBI, skipUnless, skipWithoutSharedData } from './helpers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = join(ROOT, 'web', 'dist');
const CHROMIUM = '/usr/bin/chromium';
const IMAGE = join(ISBI, 'images', 'train_00.png');
const SCREENSHOT = join(ROOT, 'docs', 'web-screenshot.png');
const STACK_SIZE = 160;

const skip =
  skipUnless(existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: install Debian's Chromium (apt-get install chromium) to run the browser test`) ||
  skipWithoutSharedData();

/** Newest modification time under `path` (files only). */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((n) => newest(join(path, n))));
}

/** web/dist, built now when missing or older than web/ or src/ sources. */
async function ensureBuild(): Promise<string> {
  const built = existsSync(join(DIST, 'index.html')) ? statSync(join(DIST, 'index.html')).mtimeMs : 0;
  const sources = Math.max(newest(join(ROOT, 'web', 'src')), newest(join(ROOT, 'web', 'index.html')), newest(join(ROOT, 'web', 'vite.config.ts')), newest(join(ROOT, 'src')));
  if (built >= sources) return 'reused web/dist';
  await run(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(ROOT, 'web', 'vite.config.ts'), '--logLevel', 'warn'], { cwd: ROOT, maxBuffer: 1 << 24 });
  return 'built web/dist';
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
};

/** Static files of web/dist, plus /models/test/ from `modelDir`. */
function serve(modelDir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [base, rel] = url.startsWith('/models/test/') ? [modelDir, url.slice('/models/test/'.length)] : [DIST, url.slice(1) || 'index.html'];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base.endsWith(sep) ? base : base + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Intersection over union of the pixels that are non-zero in `a` and in `b`. */
function foregroundIoU(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] !== 0;
    const y = b[i] !== 0;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? 1 : inter / union;
}

test('web app: segmentation in Chromium agrees with unet predict in Node', { skip, timeout: 300_000 }, async () => {
  const started = Date.now();
  const tmp = await mkdtemp(join(tmpdir(), 'unet-web-e2e-'));
  const shot = join(tmpdir(), 'unet-web-e2e-screenshot.png');
  const { chromium } = await import('playwright-core');
  let server: Server | null = null;
  try {
    await initBackend();
    let modelDir = process.env.UNET_WEB_E2E_MODEL ?? '';
    if (!modelDir) {
      // A small seeded U-Net (valid padding, depth 2, 8 filters): deterministic and quick on a CPU.
      const config = { depth: 2, baseFilters: 8, classes: 2, inputChannels: 1, padding: 'valid' as const, batchNorm: false, dropout: 0 };
      modelDir = join(tmp, 'model');
      const model = buildUNet(config, 92);
      initializeWeights(model, new Rng(1));
      // Averaging over the 8 flips pulls an untrained net's probabilities towards their mean, which
      // leaves almost no pixel above 0.5: the last bias is shifted so that the median TTA
      // probability of class 1 is about 0.5 and the mask has both classes.
      const slice = normalizeImage(decodePng(await readFile(IMAGE), IMAGE), { kind: 'dtype' }, IMAGE);
      const predictor = unetPredictor(model, config, 92);
      const p1 = (await predict(slice, withTestTimeAugmentation(predictor), { outputs: { probabilities: true, mask: false } })).probabilities!.data.filter((_, i) => i % 2 === 1).sort();
      predictor.dispose();
      const median = p1[p1.length >> 1]!;
      const bias = model.weights[model.weights.length - 1]!;
      const [b0, b1] = bias.read().dataSync();
      bias.write(tensor1d([b0!, b1! - Math.log(median / (1 - median))]));
      // With a stored post-processing and test-time augmentation chosen, as `unet tune` leaves a
      // model: the page must use both, as unet predict does by default.
      const postprocess = { instances: { foregroundClasses: [1], watershed: true, seedClasses: [1], seedThreshold: 0.6, minSize: 4, foregroundThreshold: 0.5 } };
      await saveModel(modelDir, model, makeMetadata({ config, tileSize: [92, 92], normalization: { kind: 'dtype' }, classNames: ['background', 'membrane'], description: 'web e2e test model (seeded, untrained)', postprocess, inference: { tta: true } }));
      model.dispose();
    }

    // A 3-slice 16-bit TIFF stack (crops of three ISBI slices, values x 257) for the slice slider.
    const stackPath = join(tmp, 'stack.tif');
    const crops = await Promise.all(['01', '02', '03'].map(async (n) => {
      const png = decodePng(await readFile(join(ISBI, 'images', `train_${n}.png`)), n);
      const data = new Uint16Array(STACK_SIZE * STACK_SIZE);
      for (let y = 0; y < STACK_SIZE; y++) for (let x = 0; x < STACK_SIZE; x++) data[y * STACK_SIZE + x] = png.data[(y + 100) * 512 + x + 50]! * 257;
      return { data, height: STACK_SIZE, width: STACK_SIZE, channels: 1 };
    }));
    await writeFile(stackPath, encodeTiff(crops));

    // Node reference: the CLI, run while the app is built and the browser works.
    const cliOut = join(tmp, 'cli');
    const cli = run(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'predict', '--model', modelDir, '--out', cliOut, '--outputs', 'mask,prob,instances', IMAGE, stackPath], { cwd: ROOT });
    cli.catch(() => undefined); // awaited below; avoids an unhandled rejection meanwhile

    const build = await ensureBuild();
    server = await serve(modelDir);
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1400, height: 820 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const requests: string[] = [];
    const pageErrors: string[] = [];
    let backend = '';
    let statusText = '';
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      context.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${origin}/?model=models/test/`);
      await page.waitForSelector('#backend[data-state="ready"], #backend[data-state="error"]', { timeout: 60_000 });
      backend = (await page.textContent('#backend')) ?? '';
      assert.notEqual(await page.getAttribute('#backend', 'data-state'), 'error', `no TF.js backend: ${await page.textContent('#error')}`);
      await page.waitForSelector('#model-info[data-state="ready"], #status[data-state="error"]', { timeout: 60_000 });

      await page.setInputFiles('#image-input', IMAGE);
      await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { timeout: 120_000 });
      statusText = (await page.textContent('#status')) ?? '';
      assert.equal(await page.getAttribute('#status', 'data-state'), 'done', `the page reports an error: ${await page.textContent('#error')}`);
      assert.equal(await page.$eval('#progress', (p) => (p as HTMLProgressElement).value === (p as HTMLProgressElement).max), true, 'progress bar not full');

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#dl-mask-png')]);
      assert.equal(download.suggestedFilename(), 'train_00_mask.png');
      const maskPath = join(tmp, 'browser_mask.png');
      await download.saveAs(maskPath);
      const [probDl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-prob-tif')]);
      await probDl.saveAs(join(tmp, 'browser_prob.tif'));
      const [instDl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-instances-png')]);
      await instDl.saveAs(join(tmp, 'browser_instances.png'));
      const [overlayDl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-overlay-png')]);
      await overlayDl.saveAs(join(tmp, 'browser_overlay.png'));

      await page.evaluate(() => {
        window.scrollTo(0, 0);
        document.getElementById('controls')?.scrollTo(0, 0);
      });
      await page.screenshot({ path: shot });
      if (!existsSync(SCREENSHOT) || process.env.UNET_WEB_SCREENSHOT === '1') {
        mkdirSync(join(ROOT, 'docs'), { recursive: true });
        await copyFile(shot, SCREENSHOT);
      }

      await cli;
      const browserMask = decodePng(await readFile(maskPath), 'browser mask');
      const nodeMask = decodePng(await readFile(join(cliOut, 'train_00_mask.png')), 'unet predict mask');
      assert.deepEqual([browserMask.height, browserMask.width, browserMask.channels], [512, 512, 1]);
      assert.deepEqual([nodeMask.height, nodeMask.width, nodeMask.channels], [512, 512, 1]);
      const overlayImg = decodePng(await readFile(join(tmp, 'browser_overlay.png')), 'browser overlay');
      assert.deepEqual([overlayImg.height, overlayImg.width, overlayImg.channels], [512, 512, 3]);

      let fg = 0;
      let same = 0;
      for (let i = 0; i < nodeMask.data.length; i++) {
        if (nodeMask.data[i] !== 0) fg++;
        if (nodeMask.data[i] === browserMask.data[i]) same++;
      }
      const fgFraction = fg / nodeMask.data.length;
      // A mask of (almost) one class would make the comparison meaningless.
      assert.ok(fgFraction > 0.05 && fgFraction < 0.95, `foreground fraction ${fgFraction} of the Node mask is degenerate`);
      const iou = foregroundIoU(browserMask.data, nodeMask.data);
      // The probabilities too (float32 TIFF, one page per class): a small error in the pipeline
      // (normalisation, tiling) can leave the argmax mask nearly unchanged but not these.
      const browserProb = decodeTiff(await readFile(join(tmp, 'browser_prob.tif')), 'browser probabilities');
      const nodeProb = decodeTiff(await readFile(join(cliOut, 'train_00_prob.tif')), 'unet predict probabilities');
      assert.equal(browserProb.length, 2);
      assert.equal(nodeProb.length, 2);
      let probDiff = 0;
      for (let c = 0; c < 2; c++) for (let i = 0; i < nodeProb[c]!.data.length; i++) probDiff = Math.max(probDiff, Math.abs(browserProb[c]!.data[i]! - nodeProb[c]!.data[i]!));
      // The objects: the model's stored watershed post-processing, as unet predict makes them.
      const browserInst = decodePng(await readFile(join(tmp, 'browser_instances.png')), 'browser instances');
      const nodeInst = decodePng(await readFile(join(cliOut, 'train_00_instances.png')), 'unet predict instances');
      let sameId = 0;
      for (let i = 0; i < nodeInst.data.length; i++) if (nodeInst.data[i] === browserInst.data[i]) sameId++;
      const objects = (d: ArrayLike<number>): number => new Set(Array.from(d).filter((v) => v !== 0)).size;
      const [browserObjects, nodeObjects] = [objects(browserInst.data), objects(nodeInst.data)];
      const idAgreement = sameId / nodeInst.data.length;
      assert.match(statusText, /8 flips\/rotations averaged, as the model chose/, `the page must use the model's test-time augmentation: ${statusText}`);
      const seconds = (Date.now() - started) / 1000;
      process.stderr.write(
        `web-e2e: ${build}; backend ${backend}; ${statusText}; foreground IoU browser vs unet predict ${iou.toFixed(5)}, ` +
          `pixel agreement ${(same / nodeMask.data.length).toFixed(5)}, max probability difference ${probDiff.toExponential(2)}, foreground ${(100 * fgFraction).toFixed(1)} %; ` +
          `objects ${browserObjects} vs ${nodeObjects}, instance id agreement ${idAgreement.toFixed(5)}; ${seconds.toFixed(1)} s; screenshot ${shot}\n`,
      );
      assert.ok(nodeObjects > 1, `the watershed made ${nodeObjects} object(s): the instance comparison would be meaningless`);
      assert.ok(Math.abs(browserObjects - nodeObjects) <= Math.max(1, 0.01 * nodeObjects), `objects: ${browserObjects} in the page, ${nodeObjects} from unet predict`);
      assert.ok(idAgreement > 0.99, `instance ids agree on ${idAgreement} of the pixels (<= 0.99)`);
      assert.ok(iou > 0.99, `foreground IoU ${iou} <= 0.99`);
      assert.ok(probDiff < 1e-3, `probabilities differ from unet predict's by up to ${probDiff}`);

      // A TIFF stack: the slider appears, "segment all" runs every slice, the stack mask agrees slice by slice.
      await page.setInputFiles('#image-input', stackPath);
      await page.waitForSelector('#slice-row:not([hidden])');
      assert.equal(await page.getAttribute('#slice', 'max'), '2');
      await page.waitForSelector('#dl-mask-png:not([disabled])', { timeout: 60_000 });
      await page.click('#segment-all');
      await page.waitForSelector('#dl-stack-tif:not([disabled]), #status[data-state="error"]', { timeout: 120_000 });
      assert.notEqual(await page.getAttribute('#status', 'data-state'), 'error', `stack: ${await page.textContent('#error')}`);
      await page.fill('#slice', '2');
      await page.dispatchEvent('#slice', 'input');
      assert.equal((await page.textContent('#slice-label'))?.trim(), '3 / 3');
      const [stackDl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-stack-tif')]);
      assert.equal(stackDl.suggestedFilename(), 'stack_mask.tif');
      await stackDl.saveAs(join(tmp, 'stack_mask.tif'));
      const stackMasks = decodeTiff(await readFile(join(tmp, 'stack_mask.tif')), 'browser stack mask');
      assert.equal(stackMasks.length, 3);
      const stackIoU: number[] = [];
      for (let z = 0; z < 3; z++) {
        const ref = decodePng(await readFile(join(cliOut, `stack_z00${z}_mask.png`)), `unet predict slice ${z}`);
        assert.deepEqual([stackMasks[z]!.height, stackMasks[z]!.width], [STACK_SIZE, STACK_SIZE]);
        stackIoU.push(foregroundIoU(stackMasks[z]!.data, ref.data));
      }
      process.stderr.write(`web-e2e: 16-bit TIFF stack, foreground IoU per slice ${stackIoU.map((v) => v.toFixed(5)).join(', ')}\n`);
      for (const v of stackIoU) assert.ok(v > 0.99, `stack slice IoU ${v} <= 0.99`);

      // A file that is no image: a clear message, no result.
      await page.setInputFiles('#image-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
      await page.waitForSelector('#error:not([hidden])');
      assert.match((await page.textContent('#error')) ?? '', /notes\.txt.*not a PNG, JPEG or TIFF/);

      // Offline: after one visit with the service worker active, the page, the worker and the model load without a network.
      assert.equal(await page.evaluate(async () => Boolean(await navigator.serviceWorker.ready)), true);
      await page.reload();
      await page.waitForSelector('#model-info[data-state="ready"]', { timeout: 60_000 });
      await context.setOffline(true);
      const probe = await page.evaluate(async () => fetch(`/not-cached-${Date.now()}`).then((r) => `HTTP ${r.status}`, () => 'failed'));
      assert.equal(probe, 'failed', 'the network is not really off (an uncached request got an answer)');
      await page.reload();
      await page.waitForSelector('#model-info[data-state="ready"], #error:not([hidden])', { timeout: 60_000 });
      assert.equal(await page.isHidden('#error'), true, `offline: ${await page.textContent('#error')}`);
      assert.equal(await page.getAttribute('#backend', 'data-state'), 'ready');
      await context.setOffline(false);
      assert.deepEqual(pageErrors, [], `errors in the page: ${pageErrors.join('; ')}`);
      const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:'));
      assert.deepEqual(foreign, [], `the page made requests outside its origin: ${foreign.join(', ')}`);
    } finally {
      await context.close();
    }
  } finally {
    server?.close();
    await rm(tmp, { recursive: true, force: true });
  }
});
