/**
 * ONNX Runtime side of `npm run bench`: the same nets and inputs as bench/case.ts (forward
 * cases only), converted with src/export/onnx.ts and run by onnxruntime-node on `threads`
 * intra-op threads. usage: node --import tsx bench/ort-case.ts CASE RUNS THREADS
 * Prints one JSON line like bench/case.ts.
 */
import { initBackend } from '../src/backend/index.js';
import { exportOnnx } from '../src/export/onnx.js';
import { makeMetadata } from '../src/io/model-format.js';
import { resolveConfig } from '../src/model/config.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { createOrtSession, loadOrt } from '../src/infer/ort-engine.js';
import { Rng } from '../src/util/rng.js';
import { median, parseCase } from './cases.js';

const [caseName = 'fwd252', runsArg = '3', threadsArg = '2'] = process.argv.slice(2);
const { kind, size, filters, batch } = parseCase(caseName);
if (kind !== 'fwd') throw new Error(`ort-case: only forward cases (fwdNNN, bundledNNN), got ${caseName}`);
const runs = Number(runsArg);
await initBackend('cpu'); // TF.js only builds the net and holds its weights for the export
const ort = await loadOrt();
if (!ort) throw new Error('ort-case: onnxruntime-node is not available');
const rng = new Rng(1);
const config = resolveConfig({ baseFilters: filters });
const model = buildUNet(config, size);
initializeWeights(model, new Rng(2));
const onnx = exportOnnx(model, makeMetadata({ config, tileSize: [size, size], normalization: { kind: 'range', min: 0, max: 1 } }), { embedNormalization: false });
model.dispose();
const session = await createOrtSession(onnx, { threads: Number(threadsArg) });
const x = new ort.Tensor('float32', Float32Array.from({ length: batch * size * size }, () => rng.uniform()), [batch, 1, size, size]);
const step = async (): Promise<void> => {
  const out = await session.run({ image: x });
  out.probabilities!.dispose();
};

await step(); // warm-up
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  await step();
  times.push((performance.now() - t0) / 1000);
}
console.log(JSON.stringify({ case: caseName, times_s: times, median_s: median(times), peak_rss_mb: process.resourceUsage().maxRSS / 1024, backend: `onnxruntime ${ort.env.versions.common}` }));
