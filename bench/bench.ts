/**
 * `npm run bench`: our Node build (active backend, onednn when built) against PyTorch
 * (bench/torch_unet.py, 2 threads) on the same cases, one process per case and
 * framework, medians after one warm-up run; forward cases also on ONNX Runtime (bench/ort-case.ts,
 * the same net exported to ONNX). bundled700 is the bundled models' net (16 filters) on the 700
 * tile that covers a 512 x 512 image. Not a test. Env: BENCH_RUNS (default 3),
 * BENCH_CASES (comma list), PYTHON (default /usr/bin/python3 if present, else python3).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/backend/index.js';
import { buildUNet } from '../src/model/unet.js';

interface Result {
  case: string;
  median_s: number;
  times_s: number[];
  peak_rss_mb: number;
  backend?: string;
  torch?: string;
  fallbacksPerRun?: Record<string, number>;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const runs = Number(process.env.BENCH_RUNS ?? 3);
const threads = Number(process.env.BENCH_THREADS ?? Math.min(2, availableParallelism()));
const python = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const cases = (process.env.BENCH_CASES ?? 'train572,fwd572,train252,fwd252,bundled700,convfwd,convfwdbwd').split(',');

/** Convolution FLOPs (2 per multiply-add) of one forward pass of the default U-Net on a size x size tile. */
function unetForwardFlops(size: number, baseFilters = 64): number {
  const model = buildUNet({ baseFilters }, size);
  let flops = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== 'Conv2D' && cls !== 'Conv2DTranspose') continue;
    const k = layer.getWeights()[0]!.shape as number[];
    const out = layer.outputShape as number[];
    const outPixels = out[1]! * out[2]!;
    // conv2d kernel [kh, kw, ci, co]; conv2dTranspose kernel [kh, kw, co, ci] with stride = kernel: one tap per output pixel.
    flops += cls === 'Conv2D' ? 2 * outPixels * k[0]! * k[1]! * k[2]! * k[3]! : 2 * outPixels * k[2]! * k[3]!;
  }
  model.dispose();
  return flops;
}

const CONV_FWD = 2 * 282 * 282 * 3 * 3 * 64 * 128;
function flopsOf(c: string): number {
  if (c === 'convfwd') return CONV_FWD;
  if (c === 'convfwdbwd') return 3 * CONV_FWD;
  const f = unetForwardFlops(Number(c.slice(-3)), c.startsWith('bundled') ? 16 : 64);
  return c.startsWith('train') ? 3 * f : f;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Result | string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  const line = r.stdout?.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Result;
  } catch {
    return `failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
  }
}

await initBackend('cpu'); // only to build models for FLOP counting
const fmt = (v: number, d = 3): string => v.toFixed(d);
console.log(`unet-ts bench: ${runs} timed runs after 1 warm-up, medians; ${threads} threads; python ${python}`);
const rows: string[][] = [['case', 'GFLOP', 'ours s', 'torch s', 'ours/torch', 'ours GFLOP/s', 'torch GFLOP/s', 'ours RSS MB', 'torch RSS MB', 'RSS ratio', 'ort s', 'ort/ours', 'ort/torch']];
const notes: string[] = [];
for (const c of cases) {
  const flops = flopsOf(c);
  const ours = run(process.execPath, ['--import', 'tsx', `${here}case.ts`, c, String(runs)], { ...process.env, OMP_NUM_THREADS: String(threads) });
  const torch = run(python, [`${here}torch_unet.py`, c, String(runs), String(threads)]);
  const forward = c.startsWith('fwd') || c.startsWith('bundled');
  const ort = forward ? run(process.execPath, ['--import', 'tsx', `${here}ort-case.ts`, c, String(runs), String(threads)]) : null;
  const r = typeof ort === 'string' || ort === null ? null : ort;
  if (typeof ort === 'string') notes.push(`${c} ort: ${ort}`);
  const o = typeof ours === 'string' ? null : ours;
  const t = typeof torch === 'string' ? null : torch;
  if (typeof ours === 'string') notes.push(`${c} ours: ${ours}`);
  if (typeof torch === 'string') notes.push(`${c} torch: ${torch}`);
  if (o?.fallbacksPerRun && Object.keys(o.fallbacksPerRun).length) notes.push(`${c} ours (${o.backend}) CPU-kernel fallbacks per run: ${JSON.stringify(o.fallbacksPerRun)}`);
  rows.push([
    c,
    fmt(flops / 1e9, 1),
    o ? fmt(o.median_s) : '-',
    t ? fmt(t.median_s) : '-',
    o && t ? fmt(o.median_s / t.median_s, 2) : '-',
    o ? fmt(flops / o.median_s / 1e9, 1) : '-',
    t ? fmt(flops / t.median_s / 1e9, 1) : '-',
    o ? fmt(o.peak_rss_mb, 0) : '-',
    t ? fmt(t.peak_rss_mb, 0) : '-',
    o && t ? fmt(o.peak_rss_mb / t.peak_rss_mb, 2) : '-',
    r ? fmt(r.median_s) : '-',
    r && o ? fmt(r.median_s / o.median_s, 2) : '-',
    r && t ? fmt(r.median_s / t.median_s, 2) : '-',
  ]);
  console.log(`  ${c}: ours ${o ? `${o.times_s.map((v) => fmt(v)).join(', ')} s (${o.backend})` : 'failed'}; torch ${t ? `${t.times_s.map((v) => fmt(v)).join(', ')} s (torch ${t.torch})` : 'failed'}${r ? `; ort ${r.times_s.map((v) => fmt(v)).join(', ')} s` : ''}`);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  '));
for (const n of notes) console.log(n);
