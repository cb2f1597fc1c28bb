/**
 * Node side of `npm run bench`: one case per process (so its peak RSS is its own) on the
 * active backend (onednn when built). usage: node --import tsx bench/case.ts CASE RUNS [BACKEND]
 * Prints one JSON line like bench/torch_unet.py.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { fallbackCounts } from '../src/backend/onednn.js';
import { setDropoutSeedSource } from '../src/model/dropout.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { makeOptimizer, trainStep } from '../src/train/train.js';
import { Rng } from '../src/util/rng.js';

const [caseName = 'fwd252', runsArg = '3', backendArg] = process.argv.slice(2);
const runs = Number(runsArg);
const info = await initBackend(backendArg);
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
  const size = Number(caseName.slice(-3));
  // bundled700: the bundled models' net (16 base filters) on the one 700 tile that covers a 512 x 512 image.
  const model = buildUNet(caseName.startsWith('bundled') ? { baseFilters: 16 } : {}, size);
  initializeWeights(model, new Rng(2));
  const out = model.outputs[0]!.shape[1]!;
  const image = Float32Array.from({ length: size * size }, () => rng.uniform());
  if (caseName.startsWith('train')) {
    const tile = { image, labels: Int32Array.from({ length: size * size }, () => rng.int(0, 1)), weights: new Float32Array(size * size).fill(1) };
    const opt = makeOptimizer('sgd', 1e-3, 0.99);
    setDropoutSeedSource(model, () => rng.nextUint32());
    step = () => void trainStep(model, opt, [tile], { input: [size, size], output: [out, out] }, 1);
  } else {
    const x = tf.tensor4d(image, [1, size, size, 1]);
    step = () => tf.tidy(() => void (model.apply(x, { training: false }) as tf.Tensor).dataSync());
  }
}

step(); // warm-up
fallbackCounts.clear();
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  step();
  times.push((performance.now() - t0) / 1000);
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
const fallbacks = Object.fromEntries([...fallbackCounts].map(([k, v]) => [k, v / runs]));
console.log(JSON.stringify({ case: caseName, times_s: times, median_s: median, peak_rss_mb: process.resourceUsage().maxRSS / 1024, backend: info.name, fallbacksPerRun: fallbacks }));
