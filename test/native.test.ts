/**
 * Parity of the native 'onednn' backend with the pure-JS 'cpu' backend: every native
 * kernel on random shapes (odd sizes, stride 2, valid/same, batch > 1), one training
 * step of a small U-Net, and no tensor or native-memory leak over repeated steps.
 * Skipped, with the reason, when the addon is not built.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { ONEDNN_NATIVE_KERNELS, oneDnnLoadError, registerOneDnnBackend, type OneDnnBackend } from '../src/backend/onednn.js';
import { SOFTMAX_CE_KERNEL } from '../src/loss/cross-entropy.js';
import { RELU_GRAD_KERNEL } from '../src/model/fused-conv.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { makeOptimizer, trainStep } from '../src/train/train.js';
import type { Tile } from '../src/train/tiles.js';
import { Rng } from '../src/util/rng.js';
import { maxAbsDiff, skipUnless } from './helpers.js';

const native = registerOneDnnBackend();
const skip = skipUnless(native ? false : `oneDNN addon not built (${oneDnnLoadError()}); native parity tests skipped`);

function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
}

/** Runs `f` on a backend with fresh input tensors and returns its outputs' values. */
async function runOn(backend: string, inputs: { data: Float32Array; shape: number[] }[], f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
    const out = f(...xs);
    return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync() as Float32Array);
  });
}

/** Asserts that `f` gives the same values on 'cpu' and 'onednn', naming `what` and the error. */
async function parity(what: string, shapes: number[][], f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], tol = 1e-4, seed = 1): Promise<void> {
  const inputs = shapes.map((shape, k) => ({ data: randomArray(shape.reduce((a, b) => a * b, 1), seed * 100 + k), shape }));
  const want = await runOn('cpu', inputs, f);
  const got = await runOn('onednn', inputs, f);
  assert.equal(got.length, want.length, `${what}: ${got.length} outputs on onednn, ${want.length} on cpu`);
  for (let i = 0; i < want.length; i++) {
    assert.equal(got[i]!.length, want[i]!.length, `${what}: output ${i} has ${got[i]!.length} values on onednn, ${want[i]!.length} on cpu`);
    let scale = 1;
    for (const v of want[i]!) scale = Math.max(scale, Math.abs(v));
    const err = maxAbsDiff(got[i]!, want[i]!);
    assert.ok(err <= tol * scale, `${what} (inputs ${shapes.map((s) => `[${s}]`).join(', ')}), output ${i}: max abs error ${err} > ${tol * scale}`);
  }
}

type Pad = 'valid' | 'same';
interface ConvCase {
  x: [number, number, number, number];
  k: number;
  co: number;
  stride: number;
  pad: Pad;
  dilation?: number;
}

const CONV_CASES: ConvCase[] = [
  { x: [1, 7, 9, 3], k: 3, co: 5, stride: 1, pad: 'valid' },
  { x: [2, 8, 8, 4], k: 3, co: 6, stride: 2, pad: 'same' },
  { x: [1, 11, 10, 16], k: 2, co: 8, stride: 2, pad: 'valid' },
  { x: [2, 5, 6, 17], k: 1, co: 3, stride: 1, pad: 'same' },
  { x: [1, 13, 11, 32], k: 3, co: 33, stride: 1, pad: 'valid' },
  { x: [3, 9, 7, 2], k: 3, co: 20, stride: 2, pad: 'valid' },
  { x: [1, 10, 9, 5], k: 3, co: 4, stride: 1, pad: 'same', dilation: 2 },
];

const caseName = (c: ConvCase): string => `x [${c.x}] ${c.k}x${c.k}x${c.co} stride ${c.stride} ${c.pad}${c.dilation ? ` dilation ${c.dilation}` : ''}`;

describe('onednn backend', { skip }, () => {
  before(async () => {
    const info = await initBackend();
    assert.equal(info.name, 'onednn', `initBackend() should pick onednn when the addon loads, got ${info.name} (${info.note})`);
  });

  test('registers its native kernels and falls back to CPU kernels for the rest', () => {
    for (const k of ONEDNN_NATIVE_KERNELS) assert.ok(tf.getKernel(k, 'onednn'), `kernel ${k} not registered for onednn`);
    for (const k of tf.getKernelsForBackend('cpu')) assert.ok(tf.getKernel(k.kernelName, 'onednn'), `CPU kernel ${k.kernelName} has no onednn fallback`);
  });

  test('Conv2D matches the CPU backend', async () => {
    for (const c of CONV_CASES) {
      await parity(`Conv2D ${caseName(c)}`, [c.x, [c.k, c.k, c.x[3], c.co]], (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad, 'NHWC', c.dilation ?? 1));
    }
  });

  test('FusedConv2D (bias, bias + ReLU) matches the CPU backend', async () => {
    for (const c of CONV_CASES.filter((c) => !c.dilation)) {
      for (const activation of ['linear', 'relu'] as const) {
        await parity(`FusedConv2D ${activation} ${caseName(c)}`, [c.x, [c.k, c.k, c.x[3], c.co], [c.co]], (x, w, b) =>
          tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, bias: b, strides: c.stride, pad: c.pad, activation }),
        );
      }
    }
  });

  test('Conv2DBackpropInput and Conv2DBackpropFilter (conv2d gradients) match the CPU backend', async () => {
    for (const c of CONV_CASES.filter((c) => !c.dilation)) {
      await parity(`Conv2D gradients ${caseName(c)}`, [c.x, [c.k, c.k, c.x[3], c.co]], (x, w) =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) => {
          const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad);
          return tf.sum(tf.mul(y, tf.sin(y)));
        })([x, w]),
      );
    }
  });

  test('cached primitives: a convolution and its gradients built once per shape give the same bits on every call', async () => {
    await tf.setBackend('onednn');
    const addon = (tf.backend() as OneDnnBackend).addon;
    const x = tf.tensor4d(randomArray(1 * 15 * 13 * 24, 7), [1, 15, 13, 24]);
    const w = tf.tensor4d(randomArray(3 * 3 * 24 * 40, 8), [3, 3, 24, 40]);
    const run = (): Float32Array[] =>
      tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid'))))([x, w]).map((g) => g.dataSync() as Float32Array));
    const c0 = addon.primitiveCache();
    const first = run();
    const c1 = addon.primitiveCache();
    const again = [run(), run()];
    const c2 = addon.primitiveCache();
    assert.ok(c1.misses > c0.misses, 'the first call builds primitives for its shapes');
    assert.equal(c2.misses, c1.misses, `repeated calls build none: ${JSON.stringify([c1, c2])}`);
    assert.ok(c2.hits > c1.hits && c2.entries === c1.entries);
    for (const a of again) assert.deepEqual(a, first, 'cached primitives give bit-identical gradients');
    x.dispose();
    w.dispose();
  });

  test('Conv2DBackpropInput as the 2x2 stride-2 up-convolution (conv2dTranspose) and its gradients', async () => {
    for (const [n, h, w, ci, co] of [
      [1, 5, 7, 8, 4],
      [2, 4, 3, 17, 16],
      [1, 6, 6, 32, 16],
    ] as const) {
      const what = `conv2dTranspose x [${n},${h},${w},${ci}] 2x2 -> ${co}`;
      await parity(what, [[n, h, w, ci], [2, 2, co, ci]], (x, k) => tf.conv2dTranspose(x as tf.Tensor4D, k as tf.Tensor4D, [n, 2 * h, 2 * w, co], 2, 'valid'));
      await parity(`${what} gradients`, [[n, h, w, ci], [2, 2, co, ci]], (x, k) => {
        const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.sum(tf.square(tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [n, 2 * h, 2 * w, co], 2, 'valid')));
        return tf.grads(f)([x, k]);
      });
    }
  });

  test('MaxPool and MaxPoolGrad match the CPU backend', async () => {
    const cases: { x: number[]; k: number; s: number; pad: Pad }[] = [
      { x: [1, 8, 8, 16], k: 2, s: 2, pad: 'valid' },
      { x: [2, 9, 7, 5], k: 2, s: 2, pad: 'valid' },
      { x: [1, 7, 9, 3], k: 3, s: 2, pad: 'same' },
      { x: [2, 6, 5, 20], k: 3, s: 1, pad: 'same' },
    ];
    for (const c of cases) {
      const what = `MaxPool x [${c.x}] ${c.k}x${c.k} stride ${c.s} ${c.pad}`;
      // Straight from JS values, and from a native conv output (blocked layout).
      await parity(what, [c.x], (x) => tf.maxPool(x as tf.Tensor4D, c.k, c.s, c.pad));
      await parity(`${what} after conv`, [c.x, [1, 1, c.x[3]!, c.x[3]!]], (x, w) => tf.maxPool(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'), c.k, c.s, c.pad));
      await parity(`MaxPoolGrad (${what})`, [c.x, [1, 1, c.x[3]!, c.x[3]!]], (x, w) =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.maxPool(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid'), c.k, c.s, c.pad))))([x, w]),
      );
      // The kernel without the forward's workspace (output given as plain JS values).
      await parity(`MaxPoolGrad without workspace (${what})`, [c.x], (x) => {
        const y = tf.tensor(tf.maxPool(x as tf.Tensor4D, c.k, c.s, c.pad).dataSync(), undefined);
        const yy = tf.reshape(y, tf.maxPool(x as tf.Tensor4D, c.k, c.s, c.pad).shape);
        const dy = tf.sin(tf.mul(yy, 3));
        return tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: yy }, { filterSize: c.k, strides: c.s, pad: c.pad }) as tf.Tensor;
      });
    }
  });

  test('the weighted softmax cross-entropy on native logits matches the CPU kernel; a native tensor times a scalar is the same bits', async () => {
    // Native (blocked) logits from a conv, 2 and 3 classes, batch 2; labels outside [0, K) add
    // neither loss nor gradient; weights vary; a NaN logit gives NaN where the CPU kernel does.
    for (const [n, h, w, k] of [[2, 7, 9, 2], [1, 6, 5, 3]] as const) {
      const pixels = n * h * w;
      const rng = new Rng(k);
      const labels = Int32Array.from({ length: pixels }, (_, i) => (i % 11 === 3 ? -1 : i % 13 === 5 ? k : rng.int(0, k - 1)));
      const weights = Float32Array.from({ length: pixels }, () => 0.1 + 3 * rng.uniform());
      const x = randomArray(pixels * 4, 21 + k, -3, 3);
      x[4 * 7] = NaN;
      const run = (backend: string): Promise<Float32Array[]> =>
        runOn(backend, [{ data: x, shape: [n, h, w, 4] }, { data: randomArray(4 * k, 22), shape: [1, 1, 4, k] }], (xs, kern) => {
          const logits = tf.conv2d(xs as tf.Tensor4D, kern as tf.Tensor4D, 1, 'valid');
          const [loss, grad] = tf.engine().runKernel(SOFTMAX_CE_KERNEL, { logits, labels: tf.tensor3d(labels, [n, h, w], 'int32'), weights: tf.tensor3d(weights, [n, h, w]) }) as tf.Tensor[];
          return [loss!, grad!, tf.mul(grad!, tf.scalar(-0.37)), tf.mul(tf.scalar(2), logits)];
        });
      const [want, got] = [await run('cpu'), await run('onednn')];
      const what = `softmax CE [${n},${h},${w},${k}]`;
      assert.ok(Number.isNaN(want[0]![0]!) && Number.isNaN(got[0]![0]!), `${what}: a NaN logit makes the loss NaN on both backends (cpu ${want[0]![0]}, onednn ${got[0]![0]})`);
      for (const i of [1, 2, 3]) {
        assert.ok(want[i]!.some(Number.isNaN), `${what} output ${i}: the case must hold a NaN`);
        for (let j = 0; j < want[i]!.length; j++) {
          const [a, b] = [got[i]![j]!, want[i]![j]!];
          const ok = i === 3 || (i === 2 && Object.is(b, 0)) ? Object.is(a, b) : Object.is(a, b) || Math.abs(a - b) <= 1e-6 * Math.max(1e-3, Math.abs(b));
          assert.ok(ok, `${what} output ${i} at ${j}: onednn ${a}, cpu ${b}`);
        }
      }
    }
    // Without the NaN: the loss itself.
    const logits = randomArray(2 * 5 * 5 * 2, 31, -2, 2);
    const labels = Int32Array.from({ length: 50 }, (_, i) => i % 2);
    const weights = new Float32Array(50).fill(1.5);
    const loss = async (backend: string): Promise<number> =>
      (await runOn(backend, [{ data: logits, shape: [2, 5, 5, 2] }, { data: Float32Array.of(1, 0, 0, 1), shape: [1, 1, 2, 2] }], (xs, eye) => tf.engine().runKernel(SOFTMAX_CE_KERNEL, { logits: tf.conv2d(xs as tf.Tensor4D, eye as tf.Tensor4D, 1, 'valid'), labels: tf.tensor3d(labels, [2, 5, 5], 'int32'), weights: tf.tensor3d(weights, [2, 5, 5]) }) as tf.Tensor[]))[0]![0]!;
    const [lc, lo] = [await loss('cpu'), await loss('onednn')];
    assert.ok(Math.abs(lo - lc) <= 1e-6 * Math.abs(lc) && lc > 0, `softmax CE loss: onednn ${lo}, cpu ${lc}`);
  });

  test('MaxPool 2x2 on native tensors: ties, NaN and all -Infinity windows as the CPU kernel, bit for bit, with and without the workspace', async () => {
    // Native inputs in the layout this machine's convolutions choose (an identity 1x1 conv of JS
    // values: blocked nChw8c on AVX2, nhwc on AVX-512) and JS inputs (read as nhwc), with channel
    // counts of a full block, a partial one and more than one, odd sizes (a row and a column no
    // window covers): windows of tied values (ReLU zeros: the first in row-major order takes the
    // gradient), NaN (never the maximum), and all -Infinity (the maximum -Infinity, no gradient).
    for (const [h, w, ch, viaConv] of [[7, 9, 16, true], [6, 5, 5, true], [7, 9, 16, false], [6, 5, 5, false], [5, 4, 40, false], [5, 4, 40, true]] as const) {
      const n = h * w * ch;
      const x = randomArray(n, 11).map((v) => (v < 0 ? 0 : Math.round(v * 4) / 4));
      for (const i of [0, 3 * ch + 1, 40, 77]) x[i] = NaN;
      for (const p of [0, 1, w, w + 1]) x[p * ch + 2] = -Infinity; // the first window of channel 2
      const dy = randomArray(Math.floor(h / 2) * Math.floor(w / 2) * ch, 12);
      const eye = Float32Array.from({ length: ch * ch }, (_, i) => (i % (ch + 1) === 0 ? 1 : 0));
      const run = (backend: string): Promise<Float32Array[]> =>
        runOn(backend, [{ data: x, shape: [1, h, w, ch] }, { data: eye, shape: [1, 1, ch, ch] }, { data: dy, shape: [1, Math.floor(h / 2), Math.floor(w / 2), ch] }], (xs, e, dys) => {
          const y = viaConv ? tf.conv2d(xs as tf.Tensor4D, e as tf.Tensor4D, 1, 'valid') : (xs as tf.Tensor4D);
          const pooled = tf.maxPool(y, 2, 2, 'valid');
          const withWs = tf.engine().runKernel('MaxPoolGrad', { dy: dys, input: y, output: pooled }, { filterSize: 2, strides: 2, pad: 'valid' }) as tf.Tensor;
          const plain = tf.tensor(pooled.dataSync(), pooled.shape); // no workspace: the argmax is found again
          const without = tf.engine().runKernel('MaxPoolGrad', { dy: dys, input: y, output: plain }, { filterSize: 2, strides: 2, pad: 'valid' }) as tf.Tensor;
          return [pooled, withWs, without];
        });
      const [want, got] = [await run('cpu'), await run('onednn')];
      assert.ok(want[0]!.some(Number.isNaN) === false && want[0]!.includes(-Infinity), 'the case must pool NaN away and keep an all -Infinity window');
      for (let k = 0; k < 3; k++) {
        const name = `${['MaxPool', 'MaxPoolGrad with workspace', 'MaxPoolGrad without workspace'][k]} [1,${h},${w},${ch}] ${viaConv ? 'native' : 'JS'} input`;
        for (let i = 0; i < want[k]!.length; i++) assert.ok(Object.is(got[k]![i], want[k]![i]), `${name} at ${i}: onednn ${got[k]![i]}, cpu ${want[k]![i]}`);
      }
    }
  });

  test('ReLU, its gradient (Step, Multiply) and Add/Sub on native tensors match the CPU backend', async () => {
    for (const shape of [
      [1, 7, 5, 16],
      [2, 6, 9, 3],
      [1, 5, 5, 33],
    ]) {
      const c = shape[3]!;
      await parity(`Relu/Step/Multiply/Add/Sub x [${shape}]`, [shape, [1, 1, c, c], [1, 1, c, c]], (x, w1, w2) => {
        const a = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'valid');
        const b = tf.conv2d(x as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'valid');
        const r = tf.relu(a);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), b)))(a);
        return [r, g, tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.step(a)];
      });
    }
  });

  test('a short OpenMP spin, when asked for before the addon loads, is set for libgomp only while it loads; never otherwise', () => {
    // A child per case: libgomp reads GOMP_SPINCOUNT when the addon loads, once per process.
    const load = (ask: boolean, env: NodeJS.ProcessEnv): [string | null, string | null, boolean] => {
      const code = `import('./src/backend/onednn.ts').then((m) => { const before = ${ask ? 'm.preferShortOpenMpSpin()' : 'false'}; m.loadOneDnnAddon(); console.log(JSON.stringify([m.oneDnnLoadError(), process.env.GOMP_SPINCOUNT ?? null, before])); })`;
      const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { encoding: 'utf8', env: { ...process.env, GOMP_SPINCOUNT: undefined, OMP_WAIT_POLICY: undefined, ...env } });
      assert.equal(child.status, 0, `loading the addon in a child failed: ${child.stderr}`);
      return JSON.parse(child.stdout.trim().split('\n').pop()!) as [string | null, string | null, boolean];
    };
    assert.deepEqual(load(true, {}), [null, null, true], 'asked for: [load error, GOMP_SPINCOUNT after loading, could still take effect]');
    assert.deepEqual(load(false, {}), [null, null, false], 'not asked for');
    assert.deepEqual(load(true, { GOMP_SPINCOUNT: '5' }), [null, '5', true], "the user's GOMP_SPINCOUNT stays");
  });

  test('the ReLU gradient and Step on native tensors keep NaN, and zero what y <= 0 holds, as the CPU kernels do', async () => {
    // y: a native conv output with NaN where x has one, and as many values <= 0 as > 0.
    const x = randomArray(1 * 6 * 7 * 16, 7);
    for (const i of [0, 5, 100, 333]) x[i] = NaN;
    const dy = randomArray(1 * 6 * 7 * 16, 8);
    dy[17] = NaN;
    dy[18] = Infinity;
    const run = (backend: string): Promise<Float32Array[]> =>
      runOn(backend, [{ data: x, shape: [1, 6, 7, 16] }, { data: dy, shape: [1, 6, 7, 16] }, { data: Float32Array.from({ length: 256 }, (_, i) => (i % 17 === 0 ? 1 : 0)), shape: [1, 1, 16, 16] }], (xs, dys, eye) => {
        const y = tf.conv2d(xs as tf.Tensor4D, eye as tf.Tensor4D, 1, 'valid');
        const g = tf.conv2d(dys as tf.Tensor4D, eye as tf.Tensor4D, 1, 'valid');
        return [tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: g, y }) as tf.Tensor, tf.step(y)];
      });
    const [want, got] = [await run('cpu'), await run('onednn')];
    for (let k = 0; k < 2; k++) {
      const name = ['relu gradient', 'step'][k]!;
      assert.ok(want[k]!.some(Number.isNaN), `${name}: the case must hold a NaN`);
      for (let i = 0; i < want[k]!.length; i++) assert.ok(Object.is(got[k]![i], want[k]![i]), `${name} at ${i}: onednn ${got[k]![i]}, cpu ${want[k]![i]}`);
    }
  });

  test('Slice (crop), PadV2, Concat, SplitV, Sum, bias Add and Multiply by a plain tensor on native tensors match the CPU backend', async () => {
    for (const [n, h, w, c1, c2] of [
      [1, 12, 11, 32, 32],
      [2, 9, 10, 16, 5],
      [1, 10, 10, 3, 64],
    ] as const) {
      const what = `crop/concat/split/pad/sum/biasAdd x [${n},${h},${w}] channels ${c1}+${c2}`;
      await parity(what, [[n, h + 4, w + 4, 4], [1, 1, 4, c1], [2, 2, 4, c2], [c2], [n, h + 4, w + 4, c1]], (x, k1, k2, bias, mask) => {
        const skip = tf.conv2d(x as tf.Tensor4D, k1 as tf.Tensor4D, 1, 'valid'); // [n, h+4, w+4, c1]
        const upc = tf.conv2d(x as tf.Tensor4D, k2 as tf.Tensor4D, 1, 'valid'); // [n, h+3, w+3, c2]
        const up = tf.add(tf.slice(upc, [0, 1, 0, 0], [-1, h, w, -1]), tf.reshape(bias, [1, 1, 1, c2]));
        const f = (s: tf.Tensor, u: tf.Tensor): tf.Scalar => tf.sum(tf.square(tf.concat([tf.slice(s, [0, 2, 2, 0], [-1, h, w, -1]), u], 3)));
        const [gs, gu] = tf.grads(f)([skip, up]);
        // Also: a native tensor times a plain JS one (a dropout mask), and the per-channel sum
        // over [1, 2] that a bias broadcast as [1, 1, 1, C] gets for batch 1.
        const channelSums = n === 1 ? [tf.sum(gs!, [1, 2]), tf.sum(gs!, [1, 2], true)] : [];
        // Slices that start past the first image, row, column or channel block.
        const slices = [tf.slice(skip, [n - 1, 1, 3, 0], [1, h, w - 1, -1]), ...(c1 === 32 ? [tf.slice(skip, [0, 2, 1, 16], [-1, h - 1, w, 16])] : [])];
        return [up, tf.concat([tf.slice(skip, [0, 2, 2, 0], [-1, h, w, -1]), up], 3), gs!, gu!, tf.sum(gs!, [0, 1, 2]), tf.pad(up, [[0, 0], [1, 2], [3, 0], [0, 0]]), tf.pad(up, [[1, 2], [0, 0], [0, 1], [0, 0]]), tf.mul(skip, mask!), ...channelSums, ...slices];
      });
    }
  });

  test('one training step of a small U-Net gives the same loss and weights as the CPU backend', async () => {
    const size = 44;
    const config = { depth: 2, baseFilters: 8, dropout: 0 };
    const rng = new Rng(5);
    const model0 = buildUNet(config, size);
    const outShape = model0.outputs[0]!.shape;
    model0.dispose();
    const tile: Tile = {
      image: Float32Array.from({ length: size * size }, () => rng.uniform()),
      labels: Int32Array.from({ length: size * size }, () => rng.int(0, 1)),
      weights: Float32Array.from({ length: size * size }, () => 0.5 + rng.uniform()),
    } as Tile;
    const geo = { input: [size, size] as [number, number], output: [outShape[1]!, outShape[2]!] as [number, number] };
    const run = async (backend: string): Promise<{ losses: number[]; weights: Float32Array[] }> => {
      await tf.setBackend(backend);
      const model = buildUNet(config, size);
      initializeWeights(model, new Rng(9));
      const opt = makeOptimizer('sgd', 0.01, 0.9);
      const losses = [trainStep(model, opt, [tile], geo, 1), trainStep(model, opt, [tile], geo, 1)];
      const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
      opt.dispose();
      model.dispose();
      return { losses, weights };
    };
    const want = await run('cpu');
    const got = await run('onednn');
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(got.losses[i]! - want.losses[i]!) <= 1e-4 * Math.max(1, Math.abs(want.losses[i]!)), `training step ${i + 1}: loss ${got.losses[i]} on onednn vs ${want.losses[i]} on cpu`);
    want.weights.forEach((w, i) => {
      const err = maxAbsDiff(got.weights[i]!, w);
      assert.ok(err <= 1e-4, `training step: weight ${i} (${w.length} values) differs by ${err} after 2 steps`);
    });
  });

  test('repeated training steps leak neither tensors nor native memory', async () => {
    await tf.setBackend('onednn');
    const backend = tf.backend() as OneDnnBackend;
    const size = 44;
    const model = buildUNet({ depth: 2, baseFilters: 8, dropout: 0 }, size);
    initializeWeights(model, new Rng(3));
    const outShape = model.outputs[0]!.shape;
    const geo = { input: [size, size] as [number, number], output: [outShape[1]!, outShape[2]!] as [number, number] };
    const rng = new Rng(4);
    const tile = {
      image: Float32Array.from({ length: size * size }, () => rng.uniform()),
      labels: Int32Array.from({ length: size * size }, () => rng.int(0, 1)),
      weights: Float32Array.from({ length: size * size }, () => 1),
    } as Tile;
    const opt = makeOptimizer('sgd', 0.001, 0.99);
    trainStep(model, opt, [tile], geo, 1);
    const tensors = tf.memory().numTensors;
    const nativeBefore = backend.nativeStats();
    const cacheBefore = backend.addon.primitiveCache();
    for (let i = 0; i < 4; i++) trainStep(model, opt, [tile], geo, 1);
    const cacheAfter = backend.addon.primitiveCache();
    // Every shape of a step was built in the first one: later steps only reuse primitives.
    assert.equal(cacheAfter.misses, cacheBefore.misses, `primitives built after the first step: ${JSON.stringify([cacheBefore, cacheAfter])}`);
    assert.ok(cacheAfter.hits > cacheBefore.hits, 'later steps hit the primitive cache');
    assert.equal(tf.memory().numTensors, tensors, `tensor count grew over 4 training steps: ${tensors} -> ${tf.memory().numTensors}`);
    assert.deepEqual(backend.nativeStats(), nativeBefore, `native memory grew over 4 training steps`);
    opt.dispose();
    model.dispose();
    assert.equal(backend.nativeStats().tensors, 0, `native tensors left after disposing the model: ${JSON.stringify(backend.nativeStats())}`);
  });
});
