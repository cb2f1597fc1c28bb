/**
 * The PyTorch references (experiments/torch_recipe.py, experiments/nuclei/torch_reference.py)
 * against unet-ts: the recipe's resampling and elastic interpolation give unet-ts's numbers, and
 * the nuclei reference trains on targets from `unet weights --write-targets` and writes
 * probability maps that `unet tune --probs` reads. Needs Debian's python3-torch and python3-pil;
 * under CI a missing one fails (skipUnless).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { interpolateDisplacements } from '../src/augment/elastic.js';
import { resample } from '../src/augment/resample.js';
import { LR_SCHEDULES, scheduledLearningRate } from '../src/train/schedule.js';
import { clampedCoverageOrigin, uniformCoverageOrigin } from '../src/train/tiles.js';
import { readImage } from '../src/io/image.js';
import { writePng } from '../src/io/png.js';
import { Rng } from '../src/util/rng.js';
import { maxAbsDiff, pythonWith, runCli, skipUnless } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const python = pythonWith('torch, PIL, numpy');
const skip = skipUnless(python ? false : 'python3 with torch, PIL and numpy (Debian python3-torch, python3-pil)');

/** Runs `code` with experiments/ on the path (torch_recipe importable) and parses its JSON output. */
function py(code: string, input: unknown): unknown {
  const out = execFileSync(python!, ['-c', `import sys, json; sys.path.insert(0, ${JSON.stringify(join(ROOT, 'experiments'))}); import torch_recipe as r; import numpy as np\n${code}`], { input: JSON.stringify(input), encoding: 'utf8' });
  return JSON.parse(out);
}

test('torch_recipe resamples (cubic, linear, nearest; mirrored outside) and interpolates elastic fields as unet-ts', { skip }, () => {
  const rng = new Rng(3);
  const h = 5;
  const w = 6;
  const data = Float32Array.from({ length: h * w }, () => rng.uniform());
  // Inside, between pixels, on the border and beyond it (mirrored).
  const sy = Float32Array.from({ length: 40 }, () => rng.uniform() * 9 - 2);
  const sx = Float32Array.from({ length: 40 }, () => rng.uniform() * 10 - 2);
  const map = { height: 1, width: 40, sy, sx };
  const got = py(`d = json.load(sys.stdin); a = np.array(d['a']).reshape(${h}, ${w}); sy = np.array(d['sy']); sx = np.array(d['sx'])
print(json.dumps({str(o): r.resample(a, sy, sx, o).tolist() for o in (0, 1, 3)}))`, { a: [...data], sy: [...sy], sx: [...sx] }) as Record<string, number[]>;
  for (const [order, kind] of [['0', 'nearest'], ['1', 'linear'], ['3', 'cubic']] as const) {
    const want = resample(data, h, w, 1, map, kind);
    assert.ok(maxAbsDiff(got[order]!, want) < 1e-5, `${kind}: python and unet-ts differ by ${maxAbsDiff(got[order]!, want)}`);
  }
  const values = Float64Array.from({ length: 18 }, () => rng.normal(0, 10));
  const field = interpolateDisplacements({ gridSize: 3, values }, 7, 9);
  const f = py(`v = np.array(json.load(sys.stdin)).reshape(3, 3, 2); my, mx = r.interpolation_matrix(7, 3), r.interpolation_matrix(9, 3)
print(json.dumps([(my @ v[:, :, 0] @ mx.T).ravel().tolist(), (my @ v[:, :, 1] @ mx.T).ravel().tolist()]))`, [...values]) as number[][];
  assert.ok(maxAbsDiff(f[0]!, field.dy) < 1e-4 && maxAbsDiff(f[1]!, field.dx) < 1e-4, 'elastic field: python and unet-ts differ');
  // The 'uniform' placement: same range of origins as unet-ts (512 px axis, 388 px output: [-264, 388]).
  const origins = py('g = np.random.default_rng(1); o = [r.uniform_origin(g, 512, 388) for _ in range(4000)]; print(json.dumps([min(o), max(o)]))', null) as number[];
  const ts = Array.from({ length: 4000 }, () => uniformCoverageOrigin(rng, 512, 388));
  assert.deepEqual(origins, [Math.min(...ts), Math.max(...ts)]);
  // 'clamped': both move the same uniform draws (shift, window) to the same origins (512 px axis, output 228).
  const draws = [[-172, 0], [-172, 2], [-5, 0], [0, 1], [-100, 2], [-30, 1]];
  const pyClamped = py(`class G:
    def __init__(self, a): self.a = list(a)
    def integers(self, lo, hi, endpoint=False): return self.a.pop(0)
print(json.dumps([r.clamped_origin(G(d), 512, 228) for d in json.load(sys.stdin)]))`, draws) as number[];
  const tsClamped = draws.map((d) => {
    const answers = [...d];
    return clampedCoverageOrigin({ int: (): number => answers.shift()! } as unknown as Rng, 512, 228);
  });
  assert.deepEqual(pyClamped, tsClamped);
  assert.deepEqual(tsClamped, [0, 284, 0, 228, 284, 198]);
});

test('torch_recipe steps the learning rate by unet-ts\' schedules (constant, poly) at every step', { skip }, () => {
  const iterations = 1000;
  const steps = [1, 2, 250, 501, 999, 1000];
  const got = py(`steps = json.load(sys.stdin)
print(json.dumps({s: [r.scheduled_lr(s, 0.001, t, ${iterations}) for t in steps] for s in ('constant', 'poly')}))`, steps) as Record<string, number[]>;
  for (const schedule of LR_SCHEDULES) {
    const want = steps.map((t) => scheduledLearningRate(schedule, 0.001, t, iterations));
    assert.ok(maxAbsDiff(got[schedule]!, want) < 1e-15, `${schedule}: python ${JSON.stringify(got[schedule])} against unet-ts ${JSON.stringify(want)}`);
  }
  assert.ok(got.poly![5]! < 3e-6 && got.poly![0] === 0.001, `poly must start at the base rate and end near 0, got ${JSON.stringify(got.poly)}`);
});

test('nuclei torch_reference.py trains 2 steps on unet weights --write-targets output and writes maps unet tune --probs reads', { skip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unet-torchref-'));
  try {
    const images = join(dir, 'images');
    const labels = join(dir, 'labels');
    await mkdir(images);
    await mkdir(labels);
    for (const [k, name] of ['a', 'b'].entries()) {
      const img = new Uint8Array(40 * 40).fill(20);
      const ids = new Uint16Array(40 * 40);
      for (let y = 0; y < 40; y++) {
        for (let x = 0; x < 40; x++) {
          for (const [id, cy, cx] of [[1, 15, 12 + k], [2, 15, 24 + k], [3, 30, 30]] as const) {
            if ((y - cy) ** 2 + (x - cx) ** 2 < 36) {
              ids[y * 40 + x] = id;
              img[y * 40 + x] = 200;
            }
          }
        }
      }
      await writePng(join(images, `${name}.png`), { data: img, height: 40, width: 40, channels: 1 });
      await writePng(join(labels, `${name}.png`), { data: ids, height: 40, width: 40, channels: 1 });
    }
    const targets = join(dir, 'targets');
    const w = await runCli(['weights', '--labels', labels, '--out', targets, '--label-mode', 'instances', '--write-targets']);
    assert.equal(w.code, 0, w.stderr);
    const out = join(dir, 'out');
    execFileSync(python!, [join(ROOT, 'experiments/nuclei/torch_reference.py'), '--images', images, '--targets', targets, '--out', out,
      '--iterations', '2', '--seed', '1', '--depth', '2', '--filters', '4', '--tile', '60', '--threads', '1', '--predict', `val=${images}`], { encoding: 'utf8' });
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    assert.equal(summary.images, 2);
    assert.equal(summary.predicted_images, 2);
    assert.ok(Number.isFinite(summary.loss_last100) && summary.loss_last100 > 0, `loss ${summary.loss_last100}`);
    for (const name of ['a', 'b']) {
      const pages = await readImage(join(out, 'val', `${name}_prob.tif`));
      assert.equal(pages.length, 2, 'one page per class');
      assert.ok(pages.every((p) => p.data instanceof Float32Array && p.height === 40 && p.width === 40));
      const sums = pages[0]!.data.map((v, i) => v + pages[1]!.data[i]!);
      assert.ok(maxAbsDiff(sums, new Float32Array(sums.length).fill(1)) < 1e-5, 'softmax probabilities sum to 1');
    }
    const t = await runCli(['tune', '--probs', join(out, 'val'), '--labels', labels, '--out', join(dir, 'pp.json')]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^mean f1 over 2 validation images:$/m);
    // A missing target file is named.
    await rm(join(targets, 'b.targets.png'));
    assert.throws(() => execFileSync(python!, [join(ROOT, 'experiments/nuclei/torch_reference.py'), '--images', images, '--targets', targets, '--out', out,
      '--iterations', '1', '--seed', '1', '--depth', '2', '--filters', '4', '--tile', '60'], { encoding: 'utf8', stdio: 'pipe' }), /b\.targets\.png is missing/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
