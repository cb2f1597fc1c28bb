/**
 * unet-ts' training arithmetic against PyTorch's, on every backend (experiments/parity/steps.ts
 * and steps.py): the same He-initialised U-Net (depth 2, 4 filters, tile 60 -> 20) and the same
 * three-class tile give the same logits, loss and per-layer gradients, and the same loss at every
 * one of 8 steps of Adam and of SGD with momentum 0.99 through unet-ts' own trainStep and in-place
 * optimizers. Needs Debian's python3-torch; under CI a missing one fails (skipUnless).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { oneDnnLoadError, registerOneDnnBackend } from '../src/backend/onednn.js';
import { pythonWith, skipUnless } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const python = pythonWith('torch, numpy');
const noTorch = skipUnless(python ? false : 'python3 with torch and numpy (Debian python3-torch)');
const native = registerOneDnnBackend();

interface Parity {
  logits_max_abs_diff: number;
  logits_scale: number;
  loss1: { ours: number; torch: number };
  grads: { name: string; ours_norm: number; torch_norm: number; rel_diff: number }[];
  losses: { ours: number[]; torch: number[] };
  final_weights_worst_rel_diff: { name: string; rel_diff: number };
}

const relDiff = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

for (const backend of ['cpu', 'onednn'] as const) {
  const skip = noTorch || (backend === 'onednn' ? skipUnless(native ? false : `oneDNN addon not built (${oneDnnLoadError()}): the '${backend}' variant cannot run`) : false);
  for (const [optimizer, lr] of [['adam', '0.001'], ['sgd', '0.01']] as const) {
    test(`${backend}: 8 ${optimizer} steps of unet-ts equal PyTorch's (logits, loss, every gradient, every step's loss)`, { skip }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'unet-parity-'));
      try {
        const steps = ['--import', 'tsx', join(ROOT, 'experiments/parity/steps.ts'), dir, '--depth', '2', '--filters', '4', '--tile', '60', '--steps', '8', '--optimizer', optimizer, '--lr', lr, '--backend', backend];
        const ran = JSON.parse(execFileSync(process.execPath, steps, { cwd: ROOT, encoding: 'utf8' })) as { backend: string };
        assert.equal(ran.backend, backend, `steps.ts ran on ${ran.backend}, asked for ${backend}`);
        const p = JSON.parse(execFileSync(python!, [join(ROOT, 'experiments/parity/steps.py'), dir, '--threads', '1'], { encoding: 'utf8' })) as Parity;
        assert.ok(p.logits_max_abs_diff <= 1e-5 * Math.max(1, p.logits_scale), `logits differ by ${p.logits_max_abs_diff} (scale ${p.logits_scale})`);
        assert.ok(relDiff(p.loss1.ours, p.loss1.torch) < 1e-5, `step-1 loss: unet-ts ${p.loss1.ours}, PyTorch ${p.loss1.torch}`);
        assert.equal(p.grads.length, 2 * (2 * 2 + 2 + 2 * 3) + 2, 'one gradient per kernel and bias of the depth-2 net');
        for (const g of p.grads) {
          assert.ok(g.torch_norm > 0, `${g.name}: PyTorch's gradient is 0, the check would prove nothing`);
          assert.ok(g.rel_diff < 1e-4, `${g.name}: gradients differ by ${g.rel_diff} of their norm (unet-ts ${g.ours_norm}, PyTorch ${g.torch_norm})`);
        }
        p.losses.ours.forEach((l, i) => assert.ok(relDiff(l, p.losses.torch[i]!) < 1e-4, `step ${i + 1} loss: unet-ts ${l}, PyTorch ${p.losses.torch[i]}`));
        assert.ok(p.losses.ours.at(-1)! < 0.8 * p.losses.ours[0]!, `the 8 steps barely trained (loss ${p.losses.ours[0]} -> ${p.losses.ours.at(-1)}): the trajectories would agree trivially`);
        assert.ok(p.final_weights_worst_rel_diff.rel_diff < 1e-3, `after 8 steps ${p.final_weights_worst_rel_diff.name} differs by ${p.final_weights_worst_rel_diff.rel_diff} of its norm`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
}
