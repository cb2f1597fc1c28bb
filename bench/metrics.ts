/**
 * Speed of the ISBI 2012 threshold sweep: the 30 ISBI training label slices (512x512) against a
 * perturbed probability map (truth smoothed with a 3x3 box, plus uniform noise), 11 thresholds,
 * thinning on, legacy Rand/pixel errors on.  Run: npx tsx bench/metrics.ts
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readPng } from '../src/io/png.js';
import { isbiSliceScores, isbiStackScores } from '../src/metrics/isbi.js';
import { Rng } from '../src/util/rng.js';

const dir = new URL('../../shared/data/isbi2012_em/labels/', import.meta.url).pathname;
const files = (await readdir(dir)).filter((f) => f.endsWith('.png')).sort();
const rng = new Rng(12);
const slices = [];
for (const f of files) {
  const r = await readPng(join(dir, f));
  const { height: h, width: w } = r;
  const truth = Uint8Array.from(r.data, (v) => (v > 127 ? 1 : 0));
  const prob = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let s = 0;
    let k = 0;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const yy = y + dy;
      const xx = x + dx;
      if (yy >= 0 && yy < h && xx >= 0 && xx < w) { s += truth[yy * w + xx]!; k++; }
    }
    prob[y * w + x] = Math.min(1, Math.max(0, s / k + (rng.uniform() - 0.5) * 0.6));
  }
  slices.push({ truth, prob, h, w });
}
const t0 = performance.now();
const scores = slices.map((s) => isbiSliceScores(s.truth, s.prob, s.h, s.w));
const t1 = performance.now();
const stack = isbiStackScores(scores);
const fast = slices.map((s) => isbiSliceScores(s.truth, s.prob, s.h, s.w, { legacy: false }));
const t2 = performance.now();
console.log(`${slices.length} slices ${slices[0]!.h}x${slices[0]!.w}, 11 thresholds`);
console.log(`full sweep (thinning + V_rand + V_info + unthinned Rand error + pixel error): ${((t1 - t0) / 1000).toFixed(2)} s (${((t1 - t0) / slices.length).toFixed(0)} ms/slice)`);
console.log(`sweep without legacy errors: ${((t2 - t1) / 1000).toFixed(2)} s`);
console.log(`stack: V_rand ${stack.vRand.toFixed(4)} @${stack.vRandThreshold.toFixed(1)}, V_info ${stack.vInfo.toFixed(4)} @${stack.vInfoThreshold.toFixed(1)}, Rand error ${stack.randError.toFixed(4)}, pixel error ${stack.pixelError.toFixed(4)}`);
console.log(`check: ${fast.length} slices re-scored, first slice V_rand ${fast[0]!.vRand.toFixed(4)}`);
