/**
 * The training arithmetic of unet-ts, step by step, for a side-by-side check against
 * PyTorch (experiments/parity/steps.py reads what this writes and repeats it).
 *
 * Why: at the same recipe and budget the PyTorch reference scores higher (README,
 * "Today's recipe, 2000 poly steps"). Before blaming the tile stream, this checks that
 * the two nets compute the same thing: one He-initialised U-Net and one fixed tile (a
 * synthetic image of discs, its three-class labels, a weight map > 1 near the discs),
 * then STEPS optimiser steps on that tile through unet-ts' own trainStep and optimizer.
 * Written to OUT: weights before and after, the logits, loss and gradients of step 1 and
 * the loss of every step; steps.py loads the same weights into bench/torch_unet.py's
 * UNet and reports the differences.
 *
 * usage: node --import tsx experiments/parity/steps.ts OUT [--filters 16] [--depth 4]
 *   [--tile 252] [--steps 20] [--optimizer adam|sgd] [--lr 0.001] [--seed 1] [--backend onednn|cpu]
 * Dropout is off (rate 0): its masks come from different generators in the two libraries.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { buildUNet } from '../../src/model/unet.js';
import { makeOptimizer, tileGeometry, trainStep } from '../../src/train/train.js';
import { installLeanBackprop } from '../../src/train/lean-backprop.js';
import { weightedSoftmaxCrossEntropy } from '../../src/loss/cross-entropy.js';
import { Rng } from '../../src/util/rng.js';
import { weightRecords, writeRecords } from './records.js';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    filters: { type: 'string', default: '16' },
    depth: { type: 'string', default: '4' },
    tile: { type: 'string', default: '252' },
    steps: { type: 'string', default: '20' },
    optimizer: { type: 'string', default: 'adam' },
    lr: { type: 'string', default: '0.001' },
    seed: { type: 'string', default: '1' },
    backend: { type: 'string' },
  },
});
const out = positionals[0];
if (!out) throw new Error('usage: steps.ts OUT [--filters N] [--depth N] [--tile N] [--steps N] [--optimizer adam|sgd] [--lr X] [--seed N] [--backend NAME]');
mkdirSync(out, { recursive: true });
const [filters, depth, tile, steps, seed] = [opt.filters, opt.depth, opt.tile, opt.steps, opt.seed].map(Number) as [number, number, number, number, number];
const lr = Number(opt.lr);
const kind = opt.optimizer as 'adam' | 'sgd';
const backend = await initBackend(opt.backend);

const config = { depth, baseFilters: filters, classes: 3, dropout: 0 };
const model = buildUNet(config, tile, { seed });
const geo = tileGeometry(model);
const [outH, outW] = geo.output;

/** A tile of discs: image (bright discs on dark, noise), labels 0 background / 1 interior / 2 the disc's outer ring, weights 1 + 4 near the rings. */
function syntheticTile(rng: Rng): { image: Float32Array; labels: Int32Array; weights: Float32Array } {
  const n = tile * tile;
  const image = new Float32Array(n);
  const labels = new Int32Array(n);
  const weights = new Float32Array(n).fill(1);
  const discs = Array.from({ length: 40 }, () => ({ y: rng.uniform() * tile, x: rng.uniform() * tile, r: 6 + rng.uniform() * 14 }));
  for (let i = 0; i < n; i++) {
    const y = Math.floor(i / tile);
    const x = i % tile;
    let v = 0.1;
    for (const d of discs) {
      const dist = Math.hypot(y - d.y, x - d.x);
      if (dist < d.r) {
        v = 0.8;
        labels[i] = dist > d.r - 2 ? 2 : Math.max(labels[i]!, 1);
      }
      if (Math.abs(dist - d.r) < 4) weights[i] = Math.max(weights[i]!, 5 - Math.abs(dist - d.r));
    }
    image[i] = v + rng.normal(0, 0.05);
  }
  return { image, labels, weights };
}

const t = syntheticTile(new Rng(seed + 1000));
const tiles = [{ image: t.image, labels: t.labels, weights: t.weights }];

function writeF32(file: string, a: Float32Array | Int32Array): void {
  writeFileSync(join(out!, file), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}

writeRecords(out, 'init', weightRecords(model));
writeF32('image.f32', t.image);
writeF32('labels.i32', t.labels);
writeF32('weights.f32', t.weights);

// Step 1's logits, loss and gradients, by TF.js autodiff over the same function trainStep minimises.
const cropped = (a: Float32Array | Int32Array): Float32Array | Int32Array => {
  const m = (tile - outH) / 2;
  const c = new (a.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(outH * outW);
  for (let r = 0; r < outH; r++) c.set(a.subarray((r + m) * tile + m, (r + m) * tile + m + outW), r * outW);
  return c;
};
const x = tf.tensor4d(t.image, [1, tile, tile, 1]);
const y = tf.tensor3d(cropped(t.labels) as Int32Array, [1, outH, outW], 'int32');
const w = tf.tensor3d(cropped(t.weights) as Float32Array, [1, outH, outW]);
const logits = model.apply(x, { training: true }) as tf.Tensor4D;
writeF32('logits.f32', logits.dataSync() as Float32Array);
// The backward pass trainStep runs (it installs the same).
installLeanBackprop();
const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
const { value, grads } = tf.variableGrads(() => weightedSoftmaxCrossEntropy(model.apply(x, { training: true }) as tf.Tensor4D, y, w), vars);
const gradRecords = vars.map((v) => ({ name: v.name, shape: v.shape, values: grads[v.name]!.dataSync() as Float32Array }));
writeRecords(out, 'grads', gradRecords);
const loss1 = value.dataSync()[0]!;
tf.dispose([x, y, w, logits, value, ...Object.values(grads)]);

const optimizer = makeOptimizer(kind, lr, 0.99);
const losses: number[] = [];
for (let s = 0; s < steps; s++) losses.push(trainStep(model, optimizer, tiles, geo, 1));
writeRecords(out, 'final', weightRecords(model));
writeFileSync(
  join(out, 'run.json'),
  JSON.stringify({ filters, depth, tile, output: geo.output, steps, optimizer: kind, lr, seed, classes: 3, backend: backend.name, loss1, losses }, null, 1),
);
console.log(JSON.stringify({ backend: backend.name, loss1, losses }));
