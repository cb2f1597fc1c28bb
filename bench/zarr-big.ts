/**
 * Big-image benchmark (not a test): an S x S OME-Zarr (NGFF 0.4) predicted with the bundled
 * model by `unet predict`, once by 1 process and once by 2 processes (--chunks 0/2 and 1/2
 * at the same time, then `unet merge-instances` for the label pyramid), on two copies of the
 * image. Prints, per process, peak RSS (from /usr/bin/time) against the memory budget, wall
 * time and megapixels per second, and checks that the two runs wrote the same label bytes.
 *
 *   node --import tsx bench/zarr-big.ts            # S = 4096
 *   BENCH_SIZE=20000 BENCH_MEMORY_MB=1024 node --import tsx bench/zarr-big.ts   # the issue's benchmark (~1.5 h here)
 *
 * Env: BENCH_SIZE (4096), BENCH_MEMORY_MB (1024: predict --memory, the activation budget),
 * BENCH_RSS_BUDGET_MB (2048: the whole process's budget peak RSS is checked against),
 * BENCH_CHUNK (1024), BENCH_MODEL (isbi), BENCH_RUNS (1,2: which of the 1- and 2-process runs;
 * the label comparison needs both), BENCH_ONE_CHUNKS (all: the 1-process run computes the whole
 * image; I/N: only job I's share of the output chunks, timed over exactly those chunks' pixels, so
 * that a 20000 x 20000 image does not need 46 minutes twice; the label comparison is then
 * skipped), BENCH_KEEP=1 keeps the temp folder.
 *
 *   BENCH_SIZE=20000 BENCH_ONE_CHUNKS=0/4 node --import tsx bench/zarr-big.ts   # what the README reports
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chunkWindows, jobChunks, parseChunkJob, type ChunkJob } from '../src/infer/chunks.js';
import { AtomicFileStore, ensureArray, ensureGroup, multiscaleAttributes, writeBlock, zarr, type OmeZarrInfo } from '../src/io/zarr.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const S = Number(process.env.BENCH_SIZE ?? 4096);
const MEMORY_MB = Number(process.env.BENCH_MEMORY_MB ?? 1024);
const CHUNK = Number(process.env.BENCH_CHUNK ?? 1024);
const MODEL = process.env.BENCH_MODEL ?? 'isbi';
const RSS_BUDGET_MB = Number(process.env.BENCH_RSS_BUDGET_MB ?? 2048);
const RUNS = (process.env.BENCH_RUNS ?? '1,2').split(',').map((r) => r.trim());
for (const [v, name] of [[S, 'BENCH_SIZE'], [MEMORY_MB, 'BENCH_MEMORY_MB'], [CHUNK, 'BENCH_CHUNK'], [RSS_BUDGET_MB, 'BENCH_RSS_BUDGET_MB']] as const) {
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`${name} must be a positive integer, got ${v}`);
}
const ONE_CHUNKS: ChunkJob | null = (process.env.BENCH_ONE_CHUNKS ?? 'all') === 'all' ? null : parseChunkJob(process.env.BENCH_ONE_CHUNKS!);
if (RUNS.length === 0 || RUNS.some((r) => r !== '1' && r !== '2')) throw new Error(`BENCH_RUNS must list 1 and/or 2, got "${process.env.BENCH_RUNS}"`);

/** Writes an S x S uint8 image of smooth blobs and texture, band by band (never whole in memory). */
async function makeImage(path: string): Promise<void> {
  const info: OmeZarrInfo = { path, zarrFormat: 2, ngffVersion: '0.4', multiscale: { axes: [], datasets: [] }, attributes: {} };
  const axes = [{ name: 'y', type: 'space' }, { name: 'x', type: 'space' }];
  await ensureGroup(path, 2, multiscaleAttributes(info, { name: 'bench', axes, datasets: [{ path: '0', coordinateTransformations: [{ type: 'scale', scale: [1, 1] }] }] }));
  const arr = await ensureArray(new AtomicFileStore(path), 2, '0', { shape: [S, S], chunks: [512, 512], dtype: 'uint8', dimensionNames: ['y', 'x'] });
  for (let top = 0; top < S; top += 512) {
    const h = Math.min(512, S - top);
    const band = new Uint8Array(h * S);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < S; x++) {
        const Y = top + y;
        const v = 128 + 60 * Math.sin(Y / 23) * Math.cos(x / 31) + 40 * Math.sin((x + Y) / 7);
        band[y * S + x] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
    await writeBlock(arr, [zarr.slice(top, top + h), null], band, [h, S]);
  }
}

interface Timed {
  wallS: number;
  peakRssMb: number;
  code: number;
  stderr: string;
}

/** "peak RSS 640 MB (31% of the 2048 MB budget, within)" */
function rss(r: Timed): string {
  const share = (100 * r.peakRssMb) / RSS_BUDGET_MB;
  return `peak RSS ${r.peakRssMb.toFixed(0)} MB (${share.toFixed(0)}% of the ${RSS_BUDGET_MB} MB budget, ${r.peakRssMb <= RSS_BUDGET_MB ? 'within' : 'OVER'})`;
}

function timed(args: string[]): Promise<Timed> {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', 'MAXRSS_KB=%M', process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    child.on('close', (code) => {
      const wallS = Number(process.hrtime.bigint() - start) / 1e9;
      const kb = Number(/MAXRSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN);
      resolve({ wallS, peakRssMb: kb / 1024, code: code ?? -1, stderr });
    });
  });
}

function digest(root: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (!n.endsWith('.tmp')) h.update(n).update(readFileSync(p));
    }
  };
  walk(root);
  return h.digest('hex').slice(0, 16);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'unet-zarr-bench-'));
  try {
    const a = join(dir, 'one.ome.zarr');
    const b = join(dir, 'two.ome.zarr');
    const t0 = Date.now();
    await makeImage(a);
    cpSync(a, b, { recursive: true });
    const mp = (S * S) / 1e6;
    console.log(`image ${S} x ${S} (${mp.toFixed(1)} MP) written in ${((Date.now() - t0) / 1000).toFixed(1)} s; model ${MODEL}, --memory ${MEMORY_MB} MB (activations), RSS budget ${RSS_BUDGET_MB} MB, --chunk-size ${CHUNK}`);
    const args = (path: string, extra: string[]): string[] => ['predict', '--model', MODEL, '--memory', String(MEMORY_MB), '--chunk-size', String(CHUNK), '--outputs', 'mask', ...extra, path];
    let over = false;
    let oneWall = NaN;
    if (RUNS.includes('1')) {
      const one = await timed(args(a, ONE_CHUNKS ? ['--chunks', `${ONE_CHUNKS.index}/${ONE_CHUNKS.count}`] : []));
      if (one.code !== 0) throw new Error(`1 process failed: ${one.stderr}`);
      over ||= one.peakRssMb > RSS_BUDGET_MB;
      if (ONE_CHUNKS) {
        const chunks = chunkWindows([S, S], [CHUNK, CHUNK]);
        const mine = jobChunks(chunks.length, ONE_CHUNKS);
        const oneMp = mine.reduce((sum, i) => sum + chunks[i]!.window.height * chunks[i]!.window.width, 0) / 1e6;
        oneWall = (one.wallS * mp) / oneMp;
        console.log(`1 process, chunks ${ONE_CHUNKS.index}/${ONE_CHUNKS.count} (${mine.length} of ${chunks.length} chunks, ${oneMp.toFixed(1)} MP): wall ${one.wallS.toFixed(1)} s, ${(oneMp / one.wallS).toFixed(3)} MP/s, ${rss(one)}; the whole image at this speed: ${oneWall.toFixed(0)} s`);
      } else {
        oneWall = one.wallS;
        console.log(`1 process : wall ${one.wallS.toFixed(1)} s, ${(mp / one.wallS).toFixed(3)} MP/s, ${rss(one)} (includes the label pyramid)`);
      }
    }
    if (RUNS.includes('2')) {
      const start = Date.now();
      const two = await Promise.all([timed(args(b, ['--chunks', '0/2'])), timed(args(b, ['--chunks', '1/2']))]);
      const jobsWall = (Date.now() - start) / 1000;
      for (const [i, r] of two.entries()) {
        if (r.code !== 0) throw new Error(`process ${i}/2 failed: ${r.stderr}`);
        over ||= r.peakRssMb > RSS_BUDGET_MB;
        console.log(`2 processes, job ${i}/2: wall ${r.wallS.toFixed(1)} s, ${(mp / 2 / r.wallS).toFixed(3)} MP/s per process, ${rss(r)}`);
      }
      const fin = await timed(['merge-instances', b]);
      if (fin.code !== 0) throw new Error(`merge-instances failed: ${fin.stderr}`);
      over ||= fin.peakRssMb > RSS_BUDGET_MB;
      const wall2 = jobsWall + fin.wallS;
      console.log(`merge-instances (label pyramid): wall ${fin.wallS.toFixed(1)} s, ${rss(fin)}`);
      console.log(`2 processes together: wall ${wall2.toFixed(1)} s with the merge, ${(mp / wall2).toFixed(3)} MP/s${Number.isNaN(oneWall) ? '' : ` (speed-up ${(oneWall / wall2).toFixed(2)}x${ONE_CHUNKS ? ' against the 1-process speed extrapolated to the whole image' : ''})`}`);
    }
    if (RUNS.includes('1') && RUNS.includes('2') && ONE_CHUNKS === null) {
      const same = digest(join(a, 'labels')) === digest(join(b, 'labels'));
      console.log(`labels/ of the 1-process and 2-process runs ${same ? 'are identical' : 'DIFFER'}`);
      if (!same) process.exitCode = 1;
    }
    if (over) process.exitCode = 1;
  } finally {
    if (process.env.BENCH_KEEP !== '1') await rm(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

await main();
