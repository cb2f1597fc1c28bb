/**
 * End-to-end side of `npm run bench` (cases e2e, e2e0): the real `unet train` command, in this
 * process (so its peak RSS, worker threads included, is this process's), on the ISBI 2012
 * training slices that bench/bench.ts links into WORK/train: data loading with the border
 * weight maps (w0 10, sigma 5), augmentation, 16 filters, 412 tiles, SGD, seed 1, STEPS steps,
 * on all 25 slices without validation (--no-holdout), as the PyTorch loop trains: the automatic
 * hold-out would otherwise validate 3 slices after the last step, inside the timed loop.
 * usage: node --import tsx bench/e2e-case.ts WORK STEPS DATA_WORKERS
 * Prints one JSON line: per-step wall time of the training loop, the part of it the training
 * thread spent making or waiting for tiles (data), load time, peak RSS.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { trainCommand } from '../src/cli/commands/train.js';

const [work = '', stepsArg = '20', workersArg = '1'] = process.argv.slice(2);
const steps = Number(stepsArg);
const out = join(work, `ours-${workersArg}`);
await rm(out, { recursive: true, force: true });
const t0 = performance.now();
const code = await trainCommand([
  '--images', join(work, 'train/images'), '--labels', join(work, 'train/labels'), '--out', out,
  '--iterations', String(steps), '--seed', '1', '--filters', '16', '--tile', '412', '--optimizer', 'sgd', '--lr', '0.001', '--momentum', '0.99',
  '--w0', '10', '--sigma', '5', '--class-names', 'membrane,cell', '--checkpoint-every', '0', '--no-holdout', '--data-workers', workersArg,
]);
const totalS = (performance.now() - t0) / 1000;
if (code !== 0) throw new Error(`e2e-case: unet train exited with ${code}`);
const training = (JSON.parse(await readFile(join(out, 'unet.json'), 'utf8')) as { training: { seconds: number; dataSeconds: number; validationSeconds: number; backend: string } }).training;
if (training.validationSeconds > 0) throw new Error(`e2e-case: the loop validated (${training.validationSeconds} s); the PyTorch loop does not`);
const perStep = training.seconds / steps;
console.log(JSON.stringify({
  case: `e2e (--data-workers ${workersArg})`,
  steps,
  median_s: perStep,
  times_s: [perStep],
  data_s_per_step: training.dataSeconds / steps,
  data_share: training.dataSeconds / training.seconds,
  loop_s: training.seconds,
  total_s: totalS,
  peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  backend: training.backend,
}));
