/** `unet train --folds K`: K-fold cross-validation runs of `unet train`, scored by `unet predict --evaluate`. */
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { evaluationModeFor, headlineScores, kFoldSplit, summarizeScores } from '../../eval/folds.js';
import type { EvaluationMode } from '../../eval/evaluate.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { pairByStem } from '../../io/dataset.js';
import { readModelMetadata } from '../../io/model-files.js';
import { intOption, requireOption, UsageError } from '../args.js';
import { predictCommand } from './predict.js';

/** Options whose values the fold runs set themselves. */
const FOLD_OWNED = new Set(['--folds', '--out', '--images', '--labels', '--val-images', '--val-labels']);

function withoutOwned(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (FOLD_OWNED.has(name)) {
      if (!a.includes('=')) k++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/**
 * Trains one model per fold into OUT/fold-<i> (validation = that fold), scores each on its
 * validation images, and writes OUT/folds.json with the per-fold scores and their mean and spread.
 * `argv` is unet train's argv (plan flags already expanded); `train` runs one training.
 */
export async function trainFolds(argv: readonly string[], train: (argv: string[]) => Promise<number>, parse: (argv: string[]) => Record<string, string | boolean | undefined>): Promise<number> {
  const values = parse([...argv]);
  const k = intOption(values.folds as string | undefined, 'folds')!;
  if (!(k >= 2)) throw new UsageError(`--folds must be at least 2, got ${k}`);
  if (values['val-images'] !== undefined || values['val-labels'] !== undefined) throw new UsageError('--folds makes its own validation sets; drop --val-images/--val-labels');
  const images = requireOption(values.images as string | undefined, 'images');
  const labels = requireOption(values.labels as string | undefined, 'labels');
  const out = requireOption(values.out as string | undefined, 'out');
  const seed = intOption(requireOption(values.seed as string | undefined, 'seed'), 'seed')!;
  const pairs = await pairByStem(images, labels);
  const split = kFoldSplit(pairs.length, k, seed);
  const mode = evaluationModeFor((values['label-mode'] as string | undefined) ?? 'binary');
  const rest = withoutOwned(argv);
  const folds: { fold: number; model: string; validation: string[]; scores: Record<string, number>; validationLoss: number | null }[] = [];
  for (let i = 0; i < k; i++) {
    const fold = split[i]!;
    const data = join(out, 'folds-data', `fold-${i}`);
    for (const part of ['train', 'val'] as const) {
      for (const what of ['images', 'labels'] as const) await mkdir(join(data, part, what), { recursive: true });
      for (const j of part === 'train' ? fold.train : fold.validation) {
        const p = pairs[j]!;
        await symlink(resolve(p.image), join(data, part, 'images', basename(p.image))).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'EEXIST') throw e; });
        await symlink(resolve(p.label), join(data, part, 'labels', basename(p.label))).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'EEXIST') throw e; });
      }
    }
    const model = join(out, `fold-${i}`);
    process.stderr.write(`unet train --folds: fold ${i + 1}/${k}: ${fold.train.length} training, ${fold.validation.length} validation image(s) -> ${model}\n`);
    const code = await train([...rest, '--images', join(data, 'train', 'images'), '--labels', join(data, 'train', 'labels'),
      '--val-images', join(data, 'val', 'images'), '--val-labels', join(data, 'val', 'labels'), '--out', model]);
    if (code !== 0) return code;
    const meta = await readModelMetadata(model);
    const names = meta.classNames ?? [];
    // Membrane mode scores the interior (foreground) probability: class 1, or class 0 when --invert made the boundary class 1.
    const predClass = mode === 'membrane' ? names[values.invert ? 0 : 1] : undefined;
    const metricsFile = join(model, 'validation-metrics.json');
    const predArgs = ['--model', model, '--out', join(model, 'validation-pred'), '--evaluate', join(data, 'val', 'labels'), '--mode', mode, '--json', metricsFile,
      ...(predClass ? ['--pred-class', predClass] : []), join(data, 'val', 'images')];
    const pc = await predictCommand(predArgs);
    if (pc !== 0) return pc;
    const doc = JSON.parse(await readFile(metricsFile, 'utf8')) as { mode: EvaluationMode; mean: Record<string, unknown>; stack?: Record<string, unknown> | null };
    const scores = headlineScores(doc);
    const val = (meta.training?.validation as { loss: number }[] | undefined) ?? [];
    folds.push({ fold: i, model, validation: fold.validation.map((j) => pairs[j]!.name), scores, validationLoss: val.length ? val[val.length - 1]!.loss : null });
  }
  const summary = summarizeScores(folds.map((f) => ({ ...f.scores, ...(f.validationLoss === null ? {} : { validationLoss: f.validationLoss }) })));
  await writeFileAtomic(join(out, 'folds.json'), JSON.stringify({ k, seed, mode, folds, summary }, null, 2) + '\n');
  const lines = [`cross-validation, ${k} folds (seed ${seed}), ${mode} scores on each fold's validation images (stack row for membrane):`];
  for (const [name, s] of Object.entries(summary)) lines.push(`  ${name.padEnd(14)} mean ${s.mean.toFixed(4)}  std ${Number.isNaN(s.std) ? 'n/a' : s.std.toFixed(4)}  range ${s.min.toFixed(4)} .. ${s.max.toFixed(4)}`);
  lines.push(`written: ${join(out, 'folds.json')}`);
  lines.push(`ensemble of the fold models: unet predict --model ${folds.map((f) => f.model).join(',')} --out DIR IMAGES`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

