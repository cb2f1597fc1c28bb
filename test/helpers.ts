/** Shared test helpers: paths to ../shared/data and small numeric assertions. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Raster } from '../src/io/raster.js';
import { writePng } from '../src/io/png.js';
import type { TrainingSample } from '../src/train/tiles.js';
import type { Rng } from '../src/util/rng.js';

/** `../shared/data` beside the repository root (also in CI's fresh clone). */
export const SHARED_DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
export const ISBI = `${SHARED_DATA}isbi2012_em/`;
export const DSB = `${SHARED_DATA}dsb2018_nuclei/`;
export const hasSharedData = existsSync(ISBI) && existsSync(DSB);

/**
 * True under CI (`CI=true`) or with `UNET_REQUIRE_NATIVE=1`: there a missing prerequisite (the
 * oneDNN addon, Chromium, scikit-image, ../shared/data, ...) is a failure, never a silent skip.
 */
export const REQUIRE_ALL = process.env.CI === 'true' || process.env.UNET_REQUIRE_NATIVE === '1';

/**
 * The `skip` option for tests that need a prerequisite: `missing` is false when it is there, else a
 * reason naming what is missing and how to get it. The dependent tests are skipped with that reason
 * (counted in the closing line); under {@link REQUIRE_ALL} a failing test named after the
 * prerequisite is registered beside them, so the run is red. Call it where tests are registered
 * (module top level or inside a `describe` body).
 *
 * Example: `describe('native', { skip: skipUnless(native ? false : 'oneDNN addon not built') }, ...)`.
 */
export function skipUnless(missing: string | false): string | false {
  if (!missing) return false;
  if (REQUIRE_ALL) {
    test(`prerequisite: ${missing}`, () => {
      assert.fail(`prerequisite missing: ${missing} (CI=true or UNET_REQUIRE_NATIVE=1 makes this a failure, not a skip)`);
    });
  }
  return missing;
}

/** {@link skipUnless} for tests that read ../shared/data. */
export const skipWithoutSharedData = (): string | false =>
  skipUnless(hasSharedData ? false : `shared data not found at ${SHARED_DATA} (ISBI 2012 and DSB 2018 folders)`);

/** Asserts |actual - expected| <= tol, naming `what` in the message. */
export function assertClose(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: expected ${expected} +/- ${tol}, got ${actual} (diff ${Math.abs(actual - expected)})`);
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A 36x36 image of two bright discs on a textured background, with their mask. */
export function syntheticSample(): TrainingSample {
  const h = 36;
  const w = 36;
  const image = new Float32Array(h * w);
  const labels = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = (x - 12) ** 2 + (y - 14) ** 2 < 64 || (x - 26) ** 2 + (y - 24) ** 2 < 36;
      labels[y * w + x] = inside ? 1 : 0;
      image[y * w + x] = (inside ? 0.75 : 0.3) + 0.1 * Math.sin(0.9 * x) * Math.cos(0.7 * y);
    }
  }
  return { name: 'discs', image: { data: image, height: h, width: w, channels: 1 }, labels: { data: labels, height: h, width: w, channels: 1 } };
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Runs `unet ARGS...` from the sources (tsx) in the repository root; resolves with its exit code and output. */
export function runCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}src/cli/main.ts`, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** An H x W x C 8-bit image of uniform noise from `rng`. */
export function noiseImage(rng: Rng, h: number, w: number, c = 1): Raster<Uint8Array> {
  return { data: Uint8Array.from({ length: h * w * c }, () => rng.int(0, 255)), height: h, width: w, channels: c };
}

/** Writes {@link syntheticSample} as 8-bit PNG pairs `<dir>/images/<name>.png` and `<dir>/labels/<name>.png` (255 = object). */
export async function writeSyntheticFolders(dir: string, names: readonly string[] = ['a', 'b']): Promise<{ images: string; labels: string }> {
  const images = join(dir, 'images');
  const labels = join(dir, 'labels');
  await mkdir(images);
  await mkdir(labels);
  const s = syntheticSample();
  for (const name of names) {
    await writePng(join(images, `${name}.png`), { ...s.image, data: Uint8Array.from(s.image.data, (v) => Math.round(v * 255)) });
    await writePng(join(labels, `${name}.png`), { ...s.labels, data: Uint8Array.from(s.labels.data, (v) => v * 255) });
  }
  return { images, labels };
}

/** Every file under `root` (but temp files) with its SHA-256, for bit-identity of stores. */
export function storeDigest(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (!n.endsWith('.tmp')) out[relative(root, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(root);
  return out;
}

/** A Python interpreter (Debian's first) that imports `modules` (comma-separated), or null. */
export function pythonWith(modules: string): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(py, ['-c', `import ${modules}`], { stdio: 'ignore' });
      return py;
    } catch {
      // try the next interpreter
    }
  }
  return null;
}
