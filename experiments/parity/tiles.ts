/**
 * The training tiles of unet-ts, summarised tile by tile, for a side-by-side check against the
 * PyTorch reference's tile stream (experiments/parity/tiles.py makes the same summaries from
 * experiments/torch_recipe.py's placement and augmentation).
 *
 * Loads IMAGES / LABELS as `unet train --label-mode instances --targets boundary --w0 W0 --sigma
 * SIGMA` does (src/io/dataset.ts loadDataset), first checks that its targets and weight maps equal
 * what `unet weights --write-targets` wrote to TARGETS (the files the PyTorch side trains on), then
 * makes N tiles of a run with SEED exactly as train() does (planStep + makeTile with the default
 * augmenter) and writes OUT/ours.jsonl, one line per tile: its sample and output window origin, and over the output window
 * the share of pixels with weight 0, the share of weight on each class, the mean weight, the mean
 * and spread of the input image, and the contrast of the output image between interior and
 * background pixels (the alignment of image and labels).
 *
 * usage: node --import tsx experiments/parity/tiles.ts IMAGES LABELS TARGETS OUT [--n 400]
 *   [--seed 1] [--tile 316] [--depth 4] [--w0 10] [--sigma 3] [--sampling uniform]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset } from '../../src/io/dataset.js';
import { readImage } from '../../src/io/image.js';
import { makeAugmenter } from '../../src/augment/augment.js';
import { outputSize } from '../../src/model/size.js';
import { resolveConfig } from '../../src/model/config.js';
import { makeTile, planStep } from '../../src/train/tile-jobs.js';
import type { Tile, TileGeometry, TileSampling } from '../../src/train/tiles.js';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    n: { type: 'string', default: '400' },
    seed: { type: 'string', default: '1' },
    tile: { type: 'string', default: '316' },
    depth: { type: 'string', default: '4' },
    w0: { type: 'string', default: '10' },
    sigma: { type: 'string', default: '3' },
    sampling: { type: 'string', default: 'uniform' },
  },
});
const [imagesDir, labelsDir, targetsDir, out] = positionals;
if (!out) throw new Error('usage: tiles.ts IMAGES LABELS TARGETS OUT [--n N] [--seed S] [--tile T] [--depth D] [--w0 W] [--sigma S] [--sampling P]');
mkdirSync(out, { recursive: true });
const n = Number(opt.n);
const seed = Number(opt.seed);
const tile = Number(opt.tile);
const config = resolveConfig({ depth: Number(opt.depth), classes: 3 });
const outSide = outputSize(tile, config, 'tiles.ts', '--tile');
const geo: TileGeometry = { input: [tile, tile], output: [outSide, outSide] };

const samples = await loadDataset(imagesDir!, labelsDir!, {
  normalization: { kind: 'dtype' },
  labelMode: { mode: 'instances', targets: 'boundary' },
  classes: 3,
  channels: 1,
  weightMap: { w0: Number(opt.w0), sigma: Number(opt.sigma) },
});

// The PyTorch side trains on TARGETS/STEM.targets.png and STEM.weights.tif: are they what train() uses?
let worstWeight = 0;
let labelMismatches = 0;
for (const s of samples) {
  const [targets] = await readImage(join(targetsDir!, `${s.name}.targets.png`));
  const [weights] = await readImage(join(targetsDir!, `${s.name}.weights.tif`));
  for (let i = 0; i < s.labels.data.length; i++) {
    if (targets!.data[i] !== s.labels.data[i]) labelMismatches++;
    worstWeight = Math.max(worstWeight, Math.abs(weights!.data[i]! - s.weights!.data[i]!));
  }
}

function summary(t: Tile): Record<string, number> {
  const m = (tile - outSide) / 2;
  let zero = 0;
  let wsum = 0;
  const wk = [0, 0, 0];
  const ik = [0, 0, 0];
  const ck = [0, 0, 0];
  for (let y = m; y < m + outSide; y++) {
    for (let x = m; x < m + outSide; x++) {
      const i = y * tile + x;
      const w = t.weights[i]!;
      const k = t.labels[i]!;
      if (w === 0) zero++;
      wsum += w;
      wk[k]! += w;
      if (w > 0) {
        ik[k]! += t.image[i]!;
        ck[k]!++;
      }
    }
  }
  let mean = 0;
  for (const v of t.image) mean += v;
  mean /= t.image.length;
  let sq = 0;
  for (const v of t.image) sq += (v - mean) ** 2;
  const px = outSide * outSide;
  return {
    zeroWeight: zero / px,
    meanWeight: wsum / px,
    weightBackground: wsum > 0 ? wk[0]! / wsum : NaN,
    weightInterior: wsum > 0 ? wk[1]! / wsum : NaN,
    weightBoundary: wsum > 0 ? wk[2]! / wsum : NaN,
    imageMean: mean,
    imageStd: Math.sqrt(sq / t.image.length),
    contrast: ck[0]! > 0 && ck[1]! > 0 ? ik[1]! / ck[1]! - ik[0]! / ck[0]! : NaN,
  };
}

const augment = makeAugmenter();
const lines: string[] = [];
for (let step = 1; step <= n; step++) {
  const [job] = planStep(seed, step, 1, samples, geo, opt.sampling as TileSampling);
  const t = makeTile(samples, job!, geo, 1, augment);
  lines.push(JSON.stringify({ sample: samples[job!.sample]!.name, outTop: job!.outTop, outLeft: job!.outLeft, ...summary(t) }));
}
writeFileSync(join(out, 'ours.jsonl'), lines.join('\n') + '\n');
console.log(JSON.stringify({ samples: samples.length, tiles: n, labelMismatches, worstWeightDifference: worstWeight }));
