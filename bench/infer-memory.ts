/**
 * Peak memory of streaming overlap-tile prediction on a large image.
 *
 *   npx tsx bench/infer-memory.ts [SIZE=4096] [--keep-probabilities] [--tile N] [--batch N]
 *
 * A tiny valid U-Net (depth 2, 4 filters) predicts a SIZE x SIZE single-channel image
 * keeping only the argmax mask, so memory should be the image, the mask, the runtime
 * and one band of tiles, never the SIZE x SIZE x classes probability volume. Prints
 * peak RSS (getrusage maxrss) against the stated budget:
 *   budget = RSS before prediction + image (float32) + kept outputs + 256 MiB for one band,
 *            a batch of tiles and the backend's working set.
 * Exits 1 when the peak exceeds the budget.
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/index.js';
import { predict } from '../src/infer/predict.js';
import { unetPredictor } from '../src/infer/predictor.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { outputSize } from '../src/model/size.js';
import { buildUNet } from '../src/model/unet.js';
import { Rng } from '../src/util/rng.js';

const { values, positionals } = parseArgs({
  options: { 'keep-probabilities': { type: 'boolean' }, tile: { type: 'string' }, batch: { type: 'string' } },
  allowPositionals: true,
});
const size = Number(positionals[0] ?? 4096);
const tile = Number(values.tile ?? 316);
const batch = Number(values.batch ?? 4);
const keepProbs = values['keep-probabilities'] ?? false;
const MiB = 2 ** 20;
const rssMiB = (): number => process.memoryUsage().rss / MiB;
const peakMiB = (): number => (process.resourceUsage().maxRSS * 1024) / MiB;

const backend = await initBackend();
const config = resolveConfig({ depth: 2, baseFilters: 4, classes: 2, inputChannels: 1, padding: 'valid', dropout: 0 });
const model = buildUNet(config, tile);
initializeWeights(model, new Rng(1));
const predictor = unetPredictor(model, config);

// A deterministic textured image, generated row by row into one float32 buffer.
const image = new Float32Array(size * size);
for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) image[y * size + x] = 0.5 + 0.25 * Math.sin(x * 0.05) * Math.cos(y * 0.07);

const before = rssMiB();
const imageMiB = (size * size * 4) / MiB;
const outputsMiB = (size * size * (1 + (keepProbs ? 4 * config.classes : 0))) / MiB;
const budget = before + outputsMiB + 256;
const probsMiB = (size * size * 4 * config.classes) / MiB;
console.log(`backend ${backend.name}; image ${size}x${size} float32 (${imageMiB.toFixed(0)} MiB, already resident); tile ${tile} -> ${outputSize(tile, config)}, batch ${batch}`);
console.log(`outputs kept: mask${keepProbs ? ' + probabilities' : ''} (${outputsMiB.toFixed(0)} MiB); the full probability volume would be ${probsMiB.toFixed(0)} MiB`);
console.log(`RSS before prediction ${before.toFixed(0)} MiB; budget ${budget.toFixed(0)} MiB`);

const start = Date.now();
let lastReport = 0;
let maxRss = 0;
const result = await predict({ data: image, height: size, width: size, channels: 1 }, predictor, {
  batchSize: batch,
  outputs: { probabilities: keepProbs, mask: true },
  onProgress: (p) => {
    maxRss = Math.max(maxRss, rssMiB());
    if (Date.now() - lastReport > 10_000 || p.tilesDone === p.tiles) {
      lastReport = Date.now();
      console.log(`  ${p.tilesDone}/${p.tiles} tiles, RSS ${rssMiB().toFixed(0)} MiB, ${(p.elapsedMs / 1000).toFixed(0)} s`);
    }
  },
});
const seconds = (Date.now() - start) / 1000;
let fg = 0;
for (const v of result.mask!.data) fg += v;
const peak = peakMiB();
console.log(`done in ${seconds.toFixed(1)} s (${result.grid.tiles.length} tiles); foreground ${((100 * fg) / (size * size)).toFixed(1)}%`);
console.log(`peak RSS ${peak.toFixed(0)} MiB (max sampled during prediction ${maxRss.toFixed(0)} MiB) vs budget ${budget.toFixed(0)} MiB: ${peak <= budget ? 'within' : 'OVER'}`);
predictor.dispose();
model.dispose();
process.exitCode = peak <= budget ? 0 : 1;
