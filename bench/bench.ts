/**
 * `npm run bench`: our Node build (active backend, onednn when built) against PyTorch
 * (bench/torch_unet.py, 2 threads) on the same cases, one process per case and
 * framework, medians after one warm-up run; forward cases also on ONNX Runtime (bench/ort-case.ts,
 * the same net exported to ONNX). Case names (bench/cases.ts): KIND SIZE [xFILTERS] [bBATCH],
 * e.g. train412x16b4 (64 filters and batch 1 when not given); bundled700 is the bundled models'
 * net (16 filters) on the 700 tile that covers a 512 x 512 image; e2e (e2e0: --data-workers 0)
 * is `unet train` end to end on ISBI 2012 (bench/e2e-case.ts) against
 * experiments/isbi2012/torch_reference.py's loop, per step, with the data share; both loops run
 * again for --steady-steps steps, and the row "e2e steady" is the time per step of the steps after
 * the first --steps ((loop of L steps - loop of S steps) / (L - S)), without either side's warm-up.
 * Not a test.
 *
 *   npm run bench -- --cases train412x16,e2e --runs 3 --steps 20 [--steady-steps 100] [--threads 2] [--data DIR]
 *
 * Env (the options win): BENCH_RUNS (3), BENCH_CASES (comma list), BENCH_STEPS (20, e2e steps),
 * BENCH_STEADY_STEPS (100; at most --steps turns the steady row off),
 * BENCH_THREADS, ISBI_DATA (../shared/data/isbi2012_em), PYTHON (/usr/bin/python3 if present).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/index.js';
import { buildUNet } from '../src/model/unet.js';
import { parseCase } from './cases.js';

interface Result {
  case: string;
  median_s: number;
  times_s: number[];
  peak_rss_mb: number;
  backend?: string;
  torch?: string;
  fallbacksPerRun?: Record<string, number>;
  data_s_per_step?: number;
  data_share?: number;
  load_s?: number;
  total_s?: number;
  /** e2e: seconds of the whole training loop. */
  loop_s?: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..');
const { values: opts } = parseArgs({ options: { cases: { type: 'string' }, runs: { type: 'string' }, steps: { type: 'string' }, 'steady-steps': { type: 'string' }, threads: { type: 'string' }, data: { type: 'string' } }, strict: true });
const positive = (v: string, name: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench: --${name} must be a positive integer, got "${v}"`);
  return n;
};
const runs = positive(opts.runs ?? process.env.BENCH_RUNS ?? '3', 'runs');
const steps = positive(opts.steps ?? process.env.BENCH_STEPS ?? '20', 'steps');
const steadySteps = positive(opts['steady-steps'] ?? process.env.BENCH_STEADY_STEPS ?? '100', 'steady-steps');
const threads = positive(opts.threads ?? process.env.BENCH_THREADS ?? String(Math.min(2, availableParallelism())), 'threads');
const isbi = resolve(opts.data ?? process.env.ISBI_DATA ?? join(root, '../shared/data/isbi2012_em'));
const python = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const DEFAULT_CASES = 'train572,fwd572,train252,fwd252,bundled700,convfwd,convfwdbwd,train316x16,train316x16b4,train412x16,train412x16b4,train412x32,train412x32b4,e2e';
const cases = (opts.cases ?? process.env.BENCH_CASES ?? DEFAULT_CASES).split(',');
for (const c of cases) parseCase(c); // a typo fails before anything runs

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
  const { kind, size, filters, batch } = parseCase(c);
  const f = batch * unetForwardFlops(size, filters);
  return kind === 'fwd' ? f : 3 * f;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Result | string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  const line = r.stdout?.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Result;
  } catch {
    return `failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
  }
}

/**
 * The ISBI 2012 training slices 00-24 linked into WORK/train (experiments/isbi2012/split.sh's
 * split) and their border weight maps for the PyTorch loop (`unet weights`, as compare-torch.sh).
 */
function prepareE2e(): string {
  if (!existsSync(join(isbi, 'images', 'train_00.png'))) throw new Error(`bench: e2e needs the ISBI 2012 data in ${isbi} (--data DIR)`);
  const work = mkdtempSync(join(tmpdir(), 'unet-bench-e2e-'));
  for (const part of ['images', 'labels']) {
    mkdirSync(join(work, 'train', part), { recursive: true });
    for (let i = 0; i < 25; i++) symlinkSync(join(isbi, part, `train_${String(i).padStart(2, '0')}.png`), join(work, 'train', part, `train_${String(i).padStart(2, '0')}.png`));
  }
  const w = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'weights', '--labels', join(work, 'train/labels'), '--out', join(work, 'weights'), '--w0', '10', '--sigma', '5'], { encoding: 'utf8' });
  if (w.status !== 0) throw new Error(`bench: unet weights failed: ${w.stderr}`);
  return work;
}

function torchE2e(work: string, steps: number): Result | string {
  const out = join(work, 'torch');
  const r = spawnSync(python, [join(root, 'experiments/isbi2012/torch_reference.py'), '--data', isbi, '--weights', join(work, 'weights'), '--out', out, '--filters', '16', '--tile', '412',
    '--iterations', String(steps), '--seed', '1', '--optimizer', 'sgd', '--lr', '0.001', '--momentum', '0.99', '--threads', String(threads), '--no-predict'], { encoding: 'utf8' });
  if (r.status !== 0) return `failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { seconds: number; data_seconds: number; load_seconds: number; peak_rss_mb: number; torch: string };
  const perStep = s.seconds / steps;
  return { case: 'e2e', median_s: perStep, times_s: [perStep], peak_rss_mb: s.peak_rss_mb, torch: s.torch, data_s_per_step: s.data_seconds / steps, data_share: s.data_seconds / s.seconds, load_s: s.load_seconds, loop_s: s.seconds };
}

function oursE2e(work: string, steps: number, dataWorkers: number, env: NodeJS.ProcessEnv): Result | string {
  return run(process.execPath, ['--import', 'tsx', `${here}e2e-case.ts`, work, String(steps), String(dataWorkers)], env);
}

/**
 * Seconds per step of steps S+1..L from loops of S and L steps (the same seed, so the first S
 * steps are the same work): (L-step loop - S-step loop) / (L - S).
 * @example steadyPerStep({ loop_s: 8.6 }, { loop_s: 28.9 }, 20, 100) // 0.254
 */
function steadyPerStep(short: Result, long: Result, s: number, l: number): number {
  return (long.loop_s! - short.loop_s!) / (l - s);
}

await initBackend('cpu'); // only to build models for FLOP counting
const fmt = (v: number, d = 3): string => v.toFixed(d);
const pct = (v: number | undefined): string => `${((v ?? NaN) * 100).toFixed(1)} %`;
console.log(`unet-ts bench: ${runs} timed runs after 1 warm-up, medians; e2e: ${steps} steps${steadySteps > steps ? ` and ${steadySteps} for the steady row` : ''}; ${threads} threads; python ${python}`);
const rows: string[][] = [['case', 'GFLOP', 'ours s', 'torch s', 'ours/torch', 'ours GFLOP/s', 'torch GFLOP/s', 'ours RSS MB', 'torch RSS MB', 'RSS ratio', 'ort s', 'ort/ours', 'ort/torch']];
const notes: string[] = [];
let e2eWork: string | null = null;
for (const c of cases) {
  const flops = flopsOf(c);
  const spec = parseCase(c);
  const ompEnv = { ...process.env, OMP_NUM_THREADS: String(threads) };
  let ours: Result | string;
  let torch: Result | string;
  let steady: { ours: Result | string; torch: Result | string } | null = null;
  if (spec.kind === 'e2e') {
    e2eWork ??= prepareE2e();
    const workers = spec.dataWorkers ?? 1;
    ours = oursE2e(e2eWork, steps, workers, ompEnv);
    torch = torchE2e(e2eWork, steps);
    if (steadySteps > steps) steady = { ours: oursE2e(e2eWork, steadySteps, workers, ompEnv), torch: torchE2e(e2eWork, steadySteps) };
  } else {
    ours = run(process.execPath, ['--import', 'tsx', `${here}case.ts`, c, String(runs)], ompEnv);
    torch = run(python, [`${here}torch_unet.py`, c, String(runs), String(threads)]);
  }
  const forward = spec.kind === 'fwd';
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
  if (steady) {
    if (typeof steady.ours === 'string') notes.push(`${c} steady ours: ${steady.ours}`);
    if (typeof steady.torch === 'string') notes.push(`${c} steady torch: ${steady.torch}`);
    const lo = typeof steady.ours === 'string' ? null : steady.ours;
    const lt = typeof steady.torch === 'string' ? null : steady.torch;
    const so = o && lo ? steadyPerStep(o, lo, steps, steadySteps) : null;
    const st = t && lt ? steadyPerStep(t, lt, steps, steadySteps) : null;
    rows.push([
      `${c} steady`, '-', so === null ? '-' : fmt(so), st === null ? '-' : fmt(st), so !== null && st !== null ? fmt(so / st, 2) : '-', '-', '-',
      lo ? fmt(lo.peak_rss_mb, 0) : '-', lt ? fmt(lt.peak_rss_mb, 0) : '-', lo && lt ? fmt(lo.peak_rss_mb / lt.peak_rss_mb, 2) : '-', '-', '-', '-',
    ]);
    notes.push(`${c} steady: per step of steps ${steps + 1}-${steadySteps} (loops of ${steadySteps} minus loops of ${steps} steps); ours ${lo ? `${fmt(lo.loop_s!, 1)} s for ${steadySteps} steps, data ${pct(lo.data_share)}` : 'failed'}; torch ${lt ? `${fmt(lt.loop_s!, 1)} s, data ${pct(lt.data_share)}` : 'failed'}`);
  }
  if (spec.kind === 'e2e' && (o || t)) {
    const mine = o ? `ours ${fmt(o.median_s)} s of which data ${fmt(o.data_s_per_step ?? NaN)} s (${pct(o.data_share)} of the loop), load and save ${fmt(o.total_s! - o.median_s * steps, 1)} s incl. weight maps` : 'ours failed';
    const theirs = t ? `torch ${fmt(t.median_s)} s of which data ${fmt(t.data_s_per_step ?? NaN)} s (${pct(t.data_share)}), load ${fmt(t.load_s ?? NaN, 1)} s (weight maps precomputed)` : 'torch failed';
    notes.push(`${c}: ${steps} steps of unet train (16 filters, 412 tiles, ISBI 2012, w0 10, augmented; --data-workers ${spec.dataWorkers}) per step: ${mine}; ${theirs}`);
  }
  console.log(`  ${c}: ours ${o ? `${o.times_s.map((v) => fmt(v)).join(', ')} s (${o.backend})` : 'failed'}; torch ${t ? `${t.times_s.map((v) => fmt(v)).join(', ')} s (torch ${t.torch})` : 'failed'}${r ? `; ort ${r.times_s.map((v) => fmt(v)).join(', ')} s` : ''}`);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  '));
for (const n of notes) console.log(n);
if (e2eWork) rmSync(e2eWork, { recursive: true, force: true });
