/**
 * The native addon's boundary (src/native/onednn.cc): whatever JavaScript passes, a call
 * either does what it documents or throws a JS error naming the kernel, the argument and
 * the shapes; it never reads or writes past a buffer, aborts Node or shares its state with
 * another thread's addon. The addon is called directly here (not through TF.js), as a
 * careless caller would.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { loadOneDnnAddon, oneDnnLoadError, type OneDnnBackend } from '../src/backend/onednn.js';
import { skipUnless } from './helpers.js';

const ADDON_PATH = fileURLToPath(new URL('../build/Release/unet_onednn.node', import.meta.url));
const addon = loadOneDnnAddon();
const skip = skipUnless(addon ? false : `oneDNN addon not built (${oneDnnLoadError()}); native boundary tests skipped`);

/** The addon with its types erased: these tests pass what the typed surface forbids. */
type Loose = Record<string, (...args: unknown[]) => unknown>;
const raw = (): Loose => addon as unknown as Loose;

/** A conv2d call that is valid as given: x [1,5,5,3], 3x3x3x4 filter, valid padding, y [1,3,3,4]. */
function conv2dArgs(): unknown[] {
  return [new Float32Array(75).fill(1), new Float32Array(108).fill(0.5), null, false, [1, 5, 5, 3], [3, 3, 3, 4], [1, 3, 3, 4], [1, 1], [0, 0, 0, 0], [1, 1]];
}

/** Asserts that the addon still computes: a conv of ones gives 27 * 0.5 everywhere. */
function assertAddonStillWorks(after: string): void {
  const h = raw().conv2d!(...conv2dArgs()) as number;
  const y = raw().toNHWC!(h) as Float32Array;
  raw().free!(h);
  assert.equal(y.length, 36, `after ${after}: conv2d output has ${y.length} values, expected 36`);
  assert.ok(
    y.every((v) => v === 13.5),
    `after ${after}: conv2d of ones by 0.5 should be 13.5 everywhere, got ${y.slice(0, 4).join(', ')}...`,
  );
}

/** Runs conv2d with argument `at` replaced by `value`. */
const conv2dWith = (at: number, value: unknown) => (): unknown => {
  const args = conv2dArgs();
  args[at] = value;
  return raw().conv2d!(...args);
};

describe('onednn addon boundary', { skip }, () => {
  test('typed arrays of the wrong element type are refused, and nothing is written past them', () => {
    assert.throws(conv2dWith(1, new Uint8Array(108)), /onednn conv2d: filter must be a Float32Array, got a Uint8Array of 108 values/);
    assert.throws(conv2dWith(0, new Uint8Array(75)), /onednn conv2d: x must be a tensor handle or a Float32Array, got a Uint8Array of 75 values/);
    assert.throws(conv2dWith(2, new Float64Array(4)), /onednn conv2d: bias must be a Float32Array or null, got a Float64Array of 4 values/);
    const h = raw().relu!(new Float32Array(16), [1, 2, 2, 4]) as number;
    assert.throws(() => raw().biasAdd!(h, new Int32Array(4)), /onednn biasAdd: bias must be a Float32Array, got an Int32Array of 4 values/);
    assert.throws(() => raw().binary!(0, h, new Uint8Array(16)), /onednn binary: b must be a tensor handle or a Float32Array, got a Uint8Array of 16 values/);
    assert.throws(() => raw().scale!(h, '2'), /onednn scale: scale must be a number, got string/);
    // Logits of 4 pixels: labels and weights of another length, or of another element type.
    assert.throws(() => raw().softmaxCrossEntropy!(h, new Float32Array(4), new Float32Array(4)), /onednn softmaxCrossEntropy: labels must be an Int32Array, got a Float32Array of 4 values/);
    assert.throws(() => raw().softmaxCrossEntropy!(h, new Int32Array(4), new Uint8Array(4)), /onednn softmaxCrossEntropy: weights must be a Float32Array, got a Uint8Array of 4 values/);
    assert.throws(() => raw().softmaxCrossEntropy!(h, new Int32Array(3), new Float32Array(4)), /onednn softmaxCrossEntropy: 4 pixels of logits \(NHWC dims \[1,2,2,4\]\), 3 labels, 4 weights/);
    raw().free!(h);

    // The optimizer writes in place: a Uint8Array slot of n values sitting in front of other
    // data must be refused before a single byte is written (4n bytes would be).
    const n = 64;
    const memory = new Uint8Array(4 * n).fill(7);
    const slot = memory.subarray(0, n);
    const f32 = (): Float32Array => new Float32Array(n).fill(1);
    assert.throws(() => raw().momentumUpdate!(f32(), slot, f32(), 0.9, -0.1), /onednn momentumUpdate: accumulation must be a Float32Array, got a Uint8Array of 64 values/);
    assert.throws(() => raw().momentumUpdate!(slot, f32(), f32(), 0.9, -0.1), /onednn momentumUpdate: value must be a Float32Array, got a Uint8Array of 64 values/);
    assert.throws(() => raw().adamUpdate!(slot, f32(), f32(), f32(), [0.9, 0.999, 0.1, 0.001, 0.1, 0.001, 1e-7, -0.01]), /onednn adamUpdate: value must be a Float32Array, got a Uint8Array of 64 values/);
    assert.ok(
      memory.every((v) => v === 7),
      `momentumUpdate/adamUpdate wrote into a refused Uint8Array or past it (first changed byte at ${memory.findIndex((v) => v !== 7)})`,
    );
    assertAddonStillWorks('refused element types');
  });

  test('dims, strides, pads, dilations and coefficient arrays are checked before they are indexed', () => {
    assert.throws(conv2dWith(4, [1, 5, 5]), /onednn conv2d: xDims must be an array of 4 integers, got 3 values \[1,5,5\]/);
    assert.throws(conv2dWith(5, []), /onednn conv2d: wDims must be an array of 4 integers, got 0 values \[\]/);
    assert.throws(conv2dWith(7, [1]), /onednn conv2d: strides must be an array of 2 integers, got 1 value \[1\]/);
    assert.throws(conv2dWith(8, [0, 0]), /onednn conv2d: pads must be an array of 4 integers, got 2 values \[0,0\]/);
    assert.throws(conv2dWith(9, undefined), /onednn conv2d: dilations must be an array of 2 integers, got undefined/);
    assert.throws(conv2dWith(4, [1, 5, 5, 'x']), /onednn conv2d: xDims\[3\] must be an integer, got string/);
    assert.throws(conv2dWith(7, [1, 0]), /onednn conv2d: strides\[1\] must be at least 1, got 0/);
    assert.throws(conv2dWith(8, [0, -1, 0, 0]), /onednn conv2d: pads\[1\] must be at least 0, got -1/);
    const h = raw().relu!(new Float32Array(16), [1, 2, 2, 4]) as number;
    assert.throws(() => raw().relu!(new Float32Array(16), [1, 2, 2]), /onednn relu: xDims must be an array of 4 integers, got 3 values/);
    assert.throws(() => raw().maxPool!(h, [1, 2, 2, 4], [1, 1, 1, 4], [2], [2, 2], [0, 0, 0, 0]), /onednn maxPool: kernel must be an array of 2 integers, got 1 value/);
    assert.throws(() => raw().slice!(h, [0, 0], [1, 1, 1, 4]), /onednn slice: begin must be an array of 4 integers, got 2 values/);
    assert.throws(() => raw().slice!(h, [0, 1, 0, 0], [1, 2, 2, 4]), /onednn slice: begin \[0,1,0,0\] \+ size \[1,2,2,4\] exceeds the tensor's NHWC dims \[1,2,2,4\]/);
    assert.throws(() => raw().pad!(h, [0, 1, 1, 0], [0, 1]), /onednn pad: after must be an array of 4 integers, got 2 values/);
    assert.throws(() => raw().concat!(h), /onednn concat: handles must be an array of tensor handles, got number/);
    assert.throws(() => raw().toNHWC!('1'), /onednn toNHWC: handle must be a tensor handle \(an integer\), got string/);
    const f32 = (): Float32Array => new Float32Array(8).fill(1);
    assert.throws(() => raw().adamUpdate!(f32(), f32(), f32(), f32(), [0.9, 0.999]), /onednn adamUpdate: coefficients must be an array of 8 numbers, got 2 values/);
    assert.throws(() => raw().momentumUpdate!(f32(), f32(), f32(), '0.9', -0.1), /onednn momentumUpdate: momentum must be a number, got string/);
    assert.throws(() => raw().binary!(9, h, h), /onednn binary: op must be 0 \(add\), 1 \(mul\), 2 \(relu grad\) or 3 \(sub\), got 9/);
    raw().free!(h);
    assertAddonStillWorks('refused dims arrays');
  });

  test('errors name the kernel and the shapes', () => {
    assert.throws(conv2dWith(2, new Float32Array(3)), /onednn conv2d: bias has 3 values, filter has 4 output channels/);
    assert.throws(conv2dWith(0, new Float32Array(74)), /onednn conv2d: x has 74 values, expected 75 for NHWC \[1,5,5,3\]/);
    assert.throws(conv2dWith(5, [3, 3, 2, 4]), /onednn conv2d: x has 3 channels \(xDims \[1,5,5,3\]\), filter expects 2 \(wDims \[3,3,2,4\]\)/);
    // A geometry only oneDNN checks: the message still says which call and which shapes.
    assert.throws(conv2dWith(6, [1, 4, 3, 4]), (e: Error) => {
      assert.match(e.message, /^onednn conv2d: /, `conv2d with an inconsistent yDims: message should name the kernel: ${e.message}`);
      assert.match(e.message, /xDims \[1,5,5,3\].*wDims \[3,3,3,4\].*yDims \[1,4,3,4\]/, `conv2d with an inconsistent yDims: message should name the shapes: ${e.message}`);
      return true;
    });
    assert.throws(() => raw().toNHWC!(987654), /onednn toNHWC: unknown tensor handle 987654/);
  });

  test('an allocation that cannot be satisfied (a huge shape) is a JS error, not an abort', () => {
    const h = raw().relu!(new Float32Array(16), [1, 2, 2, 4]) as number;
    // 16 * 4 * (2 + 1e7)^2 bytes, about 6.4 PB: more than any address space holds.
    assert.throws(
      () => raw().pad!(h, [0, 10_000_000, 10_000_000, 0], [0, 0, 0, 0]),
      /onednn pad: cannot allocate \d+ bytes.*\[1,10000002,10000002,4\]/,
    );
    raw().free!(h);
    assert.equal((raw().stats!() as { tensors: number }).tensors, 0, 'a failed allocation left a tensor behind');
    assertAddonStillWorks('a failed allocation');
  });

  test('a worker thread gets its own addon state (tensors, pool), and both compute at once', async () => {
    const mine = raw().relu!(Float32Array.from({ length: 16 }, (_, i) => i - 8), [1, 2, 2, 4]) as number;
    const before = (raw().stats!() as { tensors: number }).tensors;
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData.path);
      const out = { tensors: addon.stats().tensors, foreign: null, sums: [] };
      try { addon.toNHWC(workerData.handle); out.foreign = 'read'; } catch (e) { out.foreign = e.message; }
      const x = new Float32Array(5 * 5 * 3).fill(1), w = new Float32Array(3 * 3 * 3 * 4).fill(0.5);
      for (let i = 0; i < 200; i++) {
        const h = addon.conv2d(x, w, null, false, [1, 5, 5, 3], [3, 3, 3, 4], [1, 3, 3, 4], [1, 1], [0, 0, 0, 0], [1, 1]);
        out.sums.push(addon.toNHWC(h).reduce((a, b) => a + b, 0));
        addon.free(h);
      }
      out.left = addon.stats().tensors;
      parentPort.postMessage(out);
    `;
    const worker = new Worker(source, { eval: true, workerData: { path: ADDON_PATH, handle: mine } });
    const result = new Promise<{ tensors: number; foreign: string; sums: number[]; left: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    // Listened for now: the worker may exit before this thread gets to wait for it.
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    // Meanwhile this thread computes too.
    for (let i = 0; i < 200; i++) assertAddonStillWorks(`main-thread conv ${i} while a worker computes`);
    const got = await result;
    await exited;
    assert.equal(got.tensors, 0, `the worker's addon sees ${got.tensors} tensors at start: it shares the main thread's tensor table`);
    assert.match(got.foreign, /onednn toNHWC: unknown tensor handle/, `the worker could use the main thread's handle ${mine}: ${got.foreign}`);
    assert.ok(
      got.sums.every((s) => s === 36 * 13.5),
      `worker conv sums should all be ${36 * 13.5}, got ${got.sums.filter((s) => s !== 36 * 13.5).slice(0, 3).join(', ')}`,
    );
    assert.equal(got.left, 0, `the worker leaked ${got.left} native tensors`);
    const back = raw().toNHWC!(mine) as Float32Array;
    assert.deepEqual([...back], Array.from({ length: 16 }, (_, i) => Math.max(0, i - 8)), "the main thread's tensor changed after the worker ran and exited");
    assert.equal((raw().stats!() as { tensors: number }).tensors, before, "the worker's tensors were counted on the main thread");
    raw().free!(mine);
  });

  test('the onednn TF.js backend runs in a worker thread, with native memory of its own', async () => {
    assert.equal((await initBackend()).name, 'onednn', 'initBackend() should pick onednn on the main thread');
    const kept = tf.conv2d(tf.ones([1, 5, 5, 3]) as tf.Tensor4D, tf.fill([3, 3, 3, 4], 0.5) as tf.Tensor4D, 1, 'valid');
    const backend = tf.backend() as OneDnnBackend;
    const mainStats = backend.nativeStats();
    assert.ok(mainStats.tensors >= 1, `the main thread's conv2d output should be held natively: ${JSON.stringify(mainStats)}`);
    // tsx's loader is registered in the worker itself: workers do not inherit it on Node 20.
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      (async () => {
        (await import('tsx/esm/api')).register();
        const { initBackend } = await import(workerData.backendIndex);
        const tf = await import('@tensorflow/tfjs-core');
        await import('@tensorflow/tfjs-layers'); // registers TF.js' gradients, as the library's model code does
        const info = await initBackend();
        const start = tf.backend().nativeStats();
        const values = tf.tidy(() => {
          const x = tf.ones([1, 5, 5, 3]), w = tf.fill([3, 3, 3, 4], 0.5);
          const dx = tf.grad((a) => tf.sum(tf.relu(tf.conv2d(a, w, 1, 'valid'))))(x);
          return Array.from(dx.dataSync());
        });
        parentPort.postMessage({ name: info.name, note: info.note ?? null, start, values, end: tf.backend().nativeStats() });
      })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
    `;
    const worker = new Worker(source, { eval: true, workerData: { backendIndex: new URL('../src/backend/index.ts', import.meta.url).href } });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const got = await new Promise<{ error?: string; name: string; note: string | null; start: { tensors: number }; values: number[]; end: { tensors: number } }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await exited;
    assert.equal(got.error, undefined, `the worker failed: ${got.error}`);
    assert.equal(got.name, 'onednn', `the worker's backend is ${got.name} (${got.note}), expected onednn`);
    assert.equal(got.start.tensors, 0, `the worker's onednn backend starts with ${got.start.tensors} native tensors: it sees the main thread's`);
    // d/dx sum(relu(conv(x, 0.5))): each input pixel's count of 3x3 windows covering it, times 0.5 * 4 output channels.
    const cover = (i: number): number => Math.min(i, 2, 4 - i) + 1;
    const want = Array.from({ length: 75 }, (_, k) => cover(Math.floor(k / 15)) * cover(Math.floor(k / 3) % 5) * 2);
    assert.deepEqual(got.values, want, "the worker's conv2d gradient is wrong");
    assert.equal(got.end.tensors, 0, `the worker left ${got.end.tensors} native tensors after tf.tidy`);
    assert.deepEqual(backend.nativeStats(), mainStats, "the main thread's native memory changed while the worker ran");
    assert.ok(
      (kept.dataSync() as Float32Array).every((v) => v === 13.5),
      "the main thread's native tensor changed while the worker ran",
    );
    kept.dispose();
  });

  test('UNET_POOL_MB must be a non-negative number of megabytes', () => {
    const load = (value: string): { status: number | null; stderr: string } => {
      const r = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', ADDON_PATH], { env: { ...process.env, UNET_POOL_MB: value }, encoding: 'utf8' });
      return { status: r.status, stderr: r.stderr };
    };
    for (const bad of ['-1', '-0.5', 'lots', '12MB', 'NaN', 'Infinity']) {
      const r = load(bad);
      assert.notEqual(r.status, 0, `loading the addon with UNET_POOL_MB=${bad} should fail, it succeeded`);
      assert.match(r.stderr, new RegExp(`onednn: UNET_POOL_MB=${bad.replace('.', '\\.')} is not a number of megabytes >= 0`), `UNET_POOL_MB=${bad}: stderr should explain the refusal`);
    }
    for (const good of ['0', '64', '0.5', '']) {
      const r = load(good);
      assert.equal(r.status, 0, `loading the addon with UNET_POOL_MB='${good}' should work: ${r.stderr}`);
    }
  });

  test('the buffer pool adds nothing to the peak: in use + pooled never exceed the high-water mark of in use', () => {
    // A fresh addon in a child, so that no earlier test's peak leaves room for the pool.
    const script = `
      const a = require(process.argv[1]);
      const seen = [];
      const note = (what) => seen.push({ what, ...a.stats() });
      const relu = (mib) => a.relu(new Float32Array(mib * 262144), [1, 512, mib * 512, 1]);
      let h = relu(4); note('4 MiB in use'); a.free(h); note('4 MiB freed');
      h = relu(12); note('12 MiB in use'); a.free(h); note('12 MiB freed');
      const hs = [relu(4), relu(4)]; note('2 x 4 MiB in use');
      for (const x of hs) a.free(x);
      note('all freed');
      process.stdout.write(JSON.stringify(seen));`;
    const r = spawnSync(process.execPath, ['-e', script, ADDON_PATH], { env: { ...process.env, UNET_POOL_MB: '128' }, encoding: 'utf8' });
    assert.equal(r.status, 0, `the pool child failed: ${r.stderr}`);
    const seen = JSON.parse(r.stdout) as { what: string; mappedBytes: number; mappedPeakBytes: number; pooledBytes: number }[];
    for (const s of seen) {
      assert.ok(s.mappedBytes + s.pooledBytes <= s.mappedPeakBytes, `after ${s.what}: in use ${s.mappedBytes} + pooled ${s.pooledBytes} bytes exceed the mark ${s.mappedPeakBytes}`);
    }
    const at = (what: string) => seen.find((s) => s.what === what)!;
    assert.ok(at('4 MiB freed').pooledBytes >= 4 << 20, `the freed 4 MiB block should wait in the pool: ${JSON.stringify(at('4 MiB freed'))}`);
    assert.equal(at('all freed').mappedBytes, 0, 'blocks still counted in use after every tensor was freed');
    assert.ok(at('all freed').pooledBytes > 0, `the pool should keep blocks under the mark for reuse: ${JSON.stringify(at('all freed'))}`);
  });

  test('the loader reports a refused UNET_POOL_MB as such, not as a missing build', () => {
    const script = "import('./src/backend/onednn.ts').then((m) => { process.stdout.write(String(m.oneDnnLoadError())); })";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, UNET_POOL_MB: '-3' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, `the loader child failed: ${r.stderr}`);
    assert.match(r.stdout, /the oneDNN addon refused to start: onednn: UNET_POOL_MB=-3 is not a number of megabytes >= 0/, `oneDnnLoadError() with UNET_POOL_MB=-3: ${r.stdout}`);
    assert.doesNotMatch(r.stdout, /npm run build:native/, `oneDnnLoadError() should not advise a rebuild for a bad UNET_POOL_MB: ${r.stdout}`);
  });
});
