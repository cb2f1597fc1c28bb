/**
 * Node side of `npm run bench`: one case per process (so its peak RSS is its own) on the
 * active backend (onednn when built). usage: node --import tsx bench/case.ts CASE RUNS [BACKEND] [--profile] [--hwio-filters]
 * (CASE: bench/cases.ts). Prints one JSON line like bench/torch_unet.py; with --profile
 * (bench/profile.ts) the timed steps run under tf.profile and "profile" lists each kernel's time
 * per step with its input shapes. Time outside every kernel (JS between kernels, the optimizer's
 * native update, which is no TF.js kernel) is the step's wall time minus their sum. With
 * --hwio-filters the onednn backend keeps the weights in JavaScript (OneDnnBackend.nativeFilters
 * false: the path before 2026-12-06), for A/B timings of the weights held natively.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { fallbackCounts, OneDnnBackend } from '../src/backend/onednn.js';
import { setDropoutSeedSource } from '../src/model/dropout.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { makeOptimizer, trainStep } from '../src/train/train.js';
import { Rng } from '../src/util/rng.js';
import { median, parseCase } from './cases.js';

const profiling = process.argv.includes('--profile');
const hwioFilters = process.argv.includes('--hwio-filters');
const [caseName = 'fwd252', runsArg = '3', backendArg] = process.argv.slice(2).filter((a) => a !== '--profile' && a !== '--hwio-filters');
const runs = Number(runsArg);
const info = await initBackend(backendArg);
if (hwioFilters) {
  const backend = tf.engine().backend;
  if (!(backend instanceof OneDnnBackend)) throw new Error(`case.ts: --hwio-filters applies to the onednn backend, not ${tf.getBackend()}`);
  backend.nativeFilters = false;
}
const rng = new Rng(1);
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal(0, 1));

let step: () => void;
if (caseName.startsWith('conv')) {
  const x = tf.tensor4d(rand(284 * 284 * 64), [1, 284, 284, 64]);
  const w = tf.tensor4d(rand(3 * 3 * 64 * 128).map((v) => v * 0.05), [3, 3, 64, 128]);
  const dy = tf.tensor4d(rand(282 * 282 * 128), [1, 282, 282, 128]);
  const conv = (): tf.Tensor4D => tf.conv2d(x, w, 1, 'valid');
  step =
    caseName === 'convfwd'
      ? () => conv().dispose()
      : () =>
          tf.tidy(() => {
            conv();
            tf.conv2dTranspose(dy, w, [1, 284, 284, 64], 1, 'valid');
            tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 64, 128] });
          });
} else {
  const { kind, size, filters, batch } = parseCase(caseName);
  if (kind !== 'train' && kind !== 'fwd') throw new Error(`case.ts: ${caseName} is not a net case (e2e runs in bench/e2e-case.ts)`);
  const model = buildUNet({ baseFilters: filters }, size);
  initializeWeights(model, new Rng(2));
  const out = model.outputs[0]!.shape[1]!;
  const images = Array.from({ length: batch }, () => Float32Array.from({ length: size * size }, () => rng.uniform()));
  if (kind === 'train') {
    const tiles = images.map((image) => ({ image, labels: Int32Array.from({ length: size * size }, () => rng.int(0, 1)), weights: new Float32Array(size * size).fill(1) }));
    const opt = makeOptimizer('sgd', 1e-3, 0.99);
    setDropoutSeedSource(model, () => rng.nextUint32());
    step = () => void trainStep(model, opt, tiles, { input: [size, size], output: [out, out] }, 1);
  } else {
    const all = new Float32Array(batch * size * size);
    images.forEach((image, i) => all.set(image, i * size * size));
    const x = tf.tensor4d(all, [batch, size, size, 1]);
    step = () => tf.tidy(() => void (model.apply(x, { training: false }) as tf.Tensor).dataSync());
  }
}

step(); // warm-up
fallbackCounts.clear();
const times: number[] = [];
const timedSteps = (): void => {
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    step();
    times.push((performance.now() - t0) / 1000);
  }
};
let profile: { ops: { name: string; shapes: (number[] | null)[]; ms: number; calls: number }[] } | undefined;
if (profiling) {
  const info = await tf.profile(timedSteps);
  // One entry per kernel and input shapes, as torch_unet.py's key_averages(group_by_input_shape=True).
  const ops = new Map<string, { name: string; shapes: (number[] | null)[]; ms: number; calls: number }>();
  const backendName = tf.getBackend();
  for (const k of info.kernels) {
    // tf.profile also lists the scopes of custom-gradient ops, whose time includes their kernels'.
    if (tf.getKernel(k.name, backendName) === undefined) continue;
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const op = ops.get(key) ?? { name: k.name, shapes: k.inputShapes, ms: 0, calls: 0 };
    const ms = await k.kernelTimeMs;
    if (typeof ms !== 'number') throw new Error(`case.ts --profile: no time for kernel ${k.name}: ${ms.error}`);
    op.ms += ms / runs;
    op.calls += 1 / runs;
    ops.set(key, op);
  }
  profile = { ops: [...ops.values()] };
} else {
  timedSteps();
}
const fallbacks = Object.fromEntries([...fallbackCounts].map(([k, v]) => [k, v / runs]));
console.log(JSON.stringify({ case: caseName, ...(profile ? { profile } : {}), times_s: times, median_s: median(times), peak_rss_mb: process.resourceUsage().maxRSS / 1024, backend: info.name, fallbacksPerRun: fallbacks }));
