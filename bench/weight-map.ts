/**
 * Weight-map cost (issue 4): all 30 ISBI 2012 label slices (binary, cells = components of
 * the 255 pixels) and the 1024x1024 DSB 2018 brightfield image with 98 nuclei (instances).
 * Run: npx tsx bench/weight-map.ts
 */
import { readdir } from 'node:fs/promises';
import { prepareLabels } from '../src/io/dataset.js';
import { readImage } from '../src/io/image.js';
import { DEFAULT_WEIGHT_MAP } from '../src/loss/weight-map.js';

const DATA = new URL('../../shared/data/', import.meta.url).pathname;

async function main(): Promise<void> {
  const dir = `${DATA}isbi2012_em/labels/`;
  const files = (await readdir(dir)).filter((f) => f.endsWith('.png')).sort();
  const raws = await Promise.all(files.map(async (f) => (await readImage(dir + f))[0]!));
  let t = performance.now();
  let peak = 0;
  for (const [k, raw] of raws.entries()) {
    const { weights } = prepareLabels(raw, { labelMode: { mode: 'binary', threshold: 127, invert: true }, classes: 2, weightMap: DEFAULT_WEIGHT_MAP }, files[k]!);
    for (const v of weights!.data) if (v > peak) peak = v;
  }
  const isbiMs = performance.now() - t;
  console.log(`ISBI 2012: ${raws.length} slices of 512x512 in ${(isbiMs / 1000).toFixed(2)} s (${(isbiMs / raws.length).toFixed(0)} ms per slice), max weight ${peak.toFixed(2)}`);

  const id = '08275a5b1c2dfcd739e8c4888a5ee2d29f83eccfa75185404ced1dc0866ea992';
  const raw = (await readImage(`${DATA}dsb2018_nuclei/labels/${id}.png`))[0]!;
  t = performance.now();
  const { weights } = prepareLabels(raw, { labelMode: { mode: 'instances' }, classes: 2, weightMap: DEFAULT_WEIGHT_MAP }, id);
  const dsbMs = performance.now() - t;
  const objects = new Set(raw.data).size - 1;
  console.log(`DSB 2018: ${raw.height}x${raw.width} with ${objects} nuclei in ${(dsbMs / 1000).toFixed(2)} s, max weight ${weights!.data.reduce((m, v) => Math.max(m, v), 0).toFixed(2)}`);
}

await main();
