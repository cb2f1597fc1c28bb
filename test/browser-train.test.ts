/**
 * train() from the browser entry runs in a real browser (Debian's Chromium via
 * playwright-core): the entry is bundled with esbuild from test/fixtures/browser/train-entry.ts,
 * put into a blank page and run. Before the fix it died with "ReferenceError: setImmediate
 * is not defined" after the first step.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { skipUnless } from './helpers.js';
import type { BrowserTrainResult } from './fixtures/browser/train-entry.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const skip = skipUnless(existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: install Debian's Chromium (apt-get install chromium) to run the browser training test`);

/**
 * The fixture as one classic script (IIFE), built in memory for the browser platform: a
 * Node built-in anywhere in the browser entry's imports fails this build.
 */
async function bundle(): Promise<string> {
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [join(ROOT, 'test/fixtures/browser/train-entry.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  });
  assert.equal(out.outputFiles.length, 1, 'esbuild: one bundle');
  return out.outputFiles[0]!.text;
}

test('train() from the browser entry runs in Chromium (no Node setImmediate there) and reports every step', { skip, timeout: 180_000 }, async () => {
  const code = await bundle();
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ content: code });
    const result = await page.evaluate(() => (globalThis as unknown as { runTrain: () => Promise<BrowserTrainResult> }).runTrain());
    assert.equal(result.hostHasSetImmediate, false, 'Chromium has no setImmediate, so the browser path ran');
    assert.equal(result.iterations, 3, `train in Chromium: 3 steps (page errors: ${errors.join('; ')})`);
    assert.deepEqual(result.progress, [1, 2, 3], 'train in Chromium: onProgress once per step');
    assert.ok(Number.isFinite(result.finalLoss) && result.finalLoss > 0, `train in Chromium: final loss ${result.finalLoss}`);
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
});
