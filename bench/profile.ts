/**
 * `npm run profile -- CASE`: where one step's time goes, ours (TF.js kernels on the active
 * backend, bench/case.ts --profile) against PyTorch (torch.profiler self times,
 * bench/torch_unet.py --profile), by the families of bench/profile-families.ts, in one run. The
 * row "outside kernels" is the step's wall time minus the sum of the timed kernels or ops: for us
 * JavaScript between kernels and the optimizer's native in-place update, for PyTorch the Python and
 * autograd time that no op holds. Profiling adds its own cost to both sides; compare the rows, and
 * take step times from `npm run bench`. Not a test.
 *
 *   npm run profile -- train572 [--steps 3] [--threads 2] [--top 8]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseCase } from './cases.js';
import { FAMILIES, familyTotals, tfjsFamily, torchFamily, type Family, type ProfiledOp } from './profile-families.js';

interface Profiled {
  readonly median_s: number;
  readonly times_s: readonly number[];
  readonly profile: { readonly ops: readonly ProfiledOp[] };
}

const here = fileURLToPath(new URL('.', import.meta.url));
const { values: opts, positionals } = parseArgs({ options: { steps: { type: 'string' }, threads: { type: 'string' }, top: { type: 'string' } }, allowPositionals: true, strict: true });
const positive = (v: string, name: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`profile: --${name} must be a positive integer, got "${v}"`);
  return n;
};
const caseName = positionals[0] ?? 'train572';
const spec = parseCase(caseName);
if (spec.kind !== 'train' && spec.kind !== 'fwd') throw new Error(`profile: ${caseName} is not a net case (train... or fwd...)`);
const steps = positive(opts.steps ?? '3', 'steps');
const threads = positive(opts.threads ?? String(Math.min(2, availableParallelism())), 'threads');
const top = positive(opts.top ?? '8', 'top');
const python = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Profiled {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 28 });
  const line = r.stdout?.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Profiled;
  } catch {
    throw new Error(`profile: ${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  }
}

const env = { ...process.env, OMP_NUM_THREADS: String(threads) };
const ours = run(process.execPath, ['--import', 'tsx', join(here, 'case.ts'), caseName, String(steps), 'onednn', '--profile'], env);
const torch = run(python, [join(here, 'torch_unet.py'), caseName, String(steps), String(threads), '--profile'], env);

const wallMs = (p: Profiled): number => (1000 * p.times_s.reduce((a, b) => a + b, 0)) / p.times_s.length;
const ms = (v: number): string => v.toFixed(1);
const rows: string[][] = [];
const oursTotals = familyTotals(ours.profile.ops, tfjsFamily);
const torchTotals = familyTotals(torch.profile.ops, torchFamily);
const sum = (m: Map<Family, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
const share = (v: number, wall: number): string => `${((100 * v) / wall).toFixed(1)} %`;
const [oWall, tWall] = [wallMs(ours), wallMs(torch)];
for (const f of FAMILIES) {
  const [o, t] = [oursTotals.get(f)!, torchTotals.get(f)!];
  if (o === 0 && t === 0) continue;
  rows.push([f, ms(o), share(o, oWall), ms(t), share(t, tWall), t > 0 ? (o / t).toFixed(2) : '-']);
}
const [oOut, tOut] = [oWall - sum(oursTotals), tWall - sum(torchTotals)];
rows.push(['outside kernels', ms(oOut), share(oOut, oWall), ms(tOut), share(tOut, tWall), tOut > 0 ? (oOut / tOut).toFixed(2) : '-']);
rows.push(['step (wall, profiled)', ms(oWall), '100 %', ms(tWall), '100 %', (oWall / tWall).toFixed(2)]);

const header = ['family', 'ours ms', 'share', 'PyTorch ms', 'share', 'ours / PyTorch'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: readonly string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`unet-ts profile: ${caseName}, ${steps} profiled steps after 1 warm-up, ${threads} threads; per step`);
console.log(line(header));
for (const r of rows) console.log(line(r));

const topOps = (ops: readonly ProfiledOp[], familyOf: (op: ProfiledOp) => Family): string[] =>
  [...ops]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top)
    .map((op) => `  ${ms(op.ms).padStart(8)} ms  ${String(Math.round(op.calls)).padStart(3)} x  ${op.name} ${JSON.stringify(op.shapes)}  [${familyOf(op)}]`);
console.log(`\nours, top ${top} kernels by time:`);
for (const l of topOps(ours.profile.ops, tfjsFamily)) console.log(l);
console.log(`PyTorch, top ${top} ops by self time:`);
for (const l of topOps(torch.profile.ops, torchFamily)) console.log(l);
const unknown = (ops: readonly ProfiledOp[], familyOf: (op: ProfiledOp) => Family): string =>
  [...new Set(ops.filter((op) => familyOf(op) === 'other').map((op) => op.name))].join(', ') || 'none';
console.log(`\n'other' holds: ours ${unknown(ours.profile.ops, tfjsFamily)}; PyTorch ${unknown(torch.profile.ops, torchFamily)}`);
