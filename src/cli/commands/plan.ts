import { readFile } from 'node:fs/promises';
import { loadDataset } from '../../io/dataset.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { parseNormalization } from '../../io/normalize.js';
import { DEFAULT_BUDGET_SECONDS, fingerprintDataset, parsePlan, planFromFingerprint, planTrainArgs, type DatasetFingerprint, type TrainingPlan } from '../../plan/plan.js';
import { DEFAULT_PROBE_STEPS, probeSecondsPerStep } from '../../plan/probe.js';
import { labelModeFromOptions, parseFlags, requireOption, startBackend, UsageError } from '../args.js';

const BUDGET = `${DEFAULT_BUDGET_SECONDS / 60}m`;

export const PLAN_HELP = `unet plan --images DIR --labels DIR [--budget ${BUDGET}] [--out plan.json] [--no-probe]

Fingerprints the dataset (image sizes, dtype and intensity percentiles, label mode, object sizes,
touching objects, class balance) and derives a training plan from it (depth, filters, tile,
normalisation, label mode, border weights w0/sigma, optimizer, learning rate and its schedule,
and the steps that fit the time budget, from a timing probe of a few training steps on this
machine). Prints both
and writes them as JSON; \`unet train --plan plan.json --images DIR --labels DIR --out MODEL --seed S\`
trains with it (any flag given as well overrides the plan's value).
  --budget T     training time: 30m, 1.5h, 90s or seconds   (${BUDGET})
  --out FILE     plan JSON   (plan.json)
  --no-probe     skip the timing probe (1000 steps)
  --probe-steps N  timed steps of the probe, after one warm-up step   (${DEFAULT_PROBE_STEPS})`;

/**
 * A duration: 30m, 1.5h, 90s, or a bare number of seconds.
 * @example parseDuration('30m') === 1800
 */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--budget must look like 30m, 1.5h, 90s or a number of seconds, got "${text}"`);
  const v = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' || m[2] === 'min' ? 60 : 1);
  if (!(v > 0)) throw new UsageError(`--budget must be positive, got "${text}"`);
  return v;
}

/** Fingerprint, plan and (unless probeSteps is 0) the timing probe, as `unet plan` and planless `unet train` run them. */
export async function makePlan(imagesDir: string, labelsDir: string, budgetSeconds: number, probeSteps: number): Promise<{ fingerprint: DatasetFingerprint; plan: TrainingPlan; probe: { secondsPerStep: number; steps: number; backend: string } | null }> {
  const fingerprint = await fingerprintDataset(imagesDir, labelsDir);
  let plan = planFromFingerprint(fingerprint, { budgetSeconds });
  if (probeSteps === 0) return { fingerprint, plan, probe: null };
  const backend = await startBackend('plan');
  const samples = await loadDataset(imagesDir, labelsDir, {
    normalization: parseNormalization(plan.normalize),
    labelMode: labelModeFromOptions({ 'label-mode': plan.labelMode }),
    classes: plan.classes,
    channels: plan.channels,
    weightMap: { w0: plan.w0, sigma: plan.sigma },
  });
  const probe = await probeSecondsPerStep(samples, { depth: plan.depth, baseFilters: plan.filters, padding: plan.padding, classes: plan.classes, inputChannels: plan.channels }, plan.tile, probeSteps);
  plan = planFromFingerprint(fingerprint, { budgetSeconds, secondsPerStep: probe.secondsPerStep });
  return { fingerprint, plan, probe: { ...probe, backend: backend.name } };
}

/** Human-readable fingerprint and plan. */
export function describePlan(fp: DatasetFingerprint, plan: TrainingPlan): string {
  const i = fp.intensity;
  return [
    `dataset: ${fp.images} image(s), ${fp.channels} channel(s), ${fp.dtype}, size ${fp.sizes.min.join('x')} .. ${fp.sizes.max.join('x')} (median ${fp.sizes.median.join('x')})`,
    `intensity: min ${i.min}, 0.5% ${i.p0_5}, median ${i.p50}, 99.5% ${i.p99_5}, max ${i.max}`,
    `labels: ${fp.labels.mode}, ${fp.labels.distinctValues} distinct values, class fractions ${fp.labels.classFractions.map((f) => f.toFixed(3)).join(' / ')}`,
    `objects: ${fp.objects.count} (${fp.objects.perImage.toFixed(1)} per image), median area ${fp.objects.medianArea} px (diameter ${fp.objects.medianDiameter.toFixed(1)}), ${(fp.objects.touchingFraction * 100).toFixed(1)}% touching`,
    'plan:',
    ...plan.reasons.map((r) => `  ${r}`),
    `unet train flags: ${planTrainArgs(plan).join(' ')}`,
  ].join('\n');
}

export async function planCommand(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { images: { type: 'string' }, labels: { type: 'string' }, budget: { type: 'string' }, out: { type: 'string' }, 'no-probe': { type: 'boolean' }, 'probe-steps': { type: 'string' } }, PLAN_HELP);
  const images = requireOption(values.images, 'images');
  const labels = requireOption(values.labels, 'labels');
  const budget = values.budget === undefined ? DEFAULT_BUDGET_SECONDS : parseDuration(values.budget);
  const probeSteps = values['no-probe'] ? 0 : Number(values['probe-steps'] ?? DEFAULT_PROBE_STEPS);
  if (!(Number.isInteger(probeSteps) && probeSteps >= 0)) throw new UsageError(`--probe-steps must be a non-negative integer, got "${values['probe-steps']}"`);
  const { fingerprint, plan, probe } = await makePlan(images, labels, budget, probeSteps);
  process.stdout.write(`${describePlan(fingerprint, plan)}\n`);
  const out = values.out ?? 'plan.json';
  await writeFileAtomic(out, JSON.stringify({ images, labels, budgetSeconds: budget, fingerprint, probe, plan }, null, 2) + '\n');
  process.stdout.write(`written: ${out}\n`);
  return 0;
}

const ARCHITECTURE_FLAGS = ['depth', 'filters', 'tile', 'padding'] as const;

/**
 * `argv` without the valued flag `--name` (as `--name VALUE` or `--name=VALUE`).
 * @example withoutFlag(['--plan', 'p.json', '--seed', '1', '--plan=q.json'], 'plan') // ['--seed', '1']
 */
export function withoutFlag(argv: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === `--${name}`) { k++; continue; }
    if (argv[k]!.startsWith(`--${name}=`)) continue;
    out.push(argv[k]!);
  }
  return out;
}

/**
 * The plan's flags without its `--targets boundary` when the user asks for the two-class target
 * with --no-separate (which boundary targets refuse); a --targets the user gives comes later and wins anyway.
 * @example withoutPlannedTargets(['--targets', 'boundary', '--w0', '10'], ['--no-separate']) // ['--w0', '10']
 */
export function withoutPlannedTargets(flags: readonly string[], userArgv: readonly string[]): string[] {
  return userArgv.includes('--no-separate') ? withoutFlag(flags, 'targets') : [...flags];
}

/**
 * `unet train`'s argv with a plan's flags in front (user flags after them win): from `--plan FILE`,
 * or, when no architecture flag is given, planned now (probing only when --iterations is absent).
 * Returns the note to print (null when nothing was planned).
 */
export async function trainArgvWithPlan(argv: readonly string[], values: { plan?: string; images?: string; labels?: string; iterations?: string } & Partial<Record<(typeof ARCHITECTURE_FLAGS)[number], string>>): Promise<{ argv: string[]; note: string | null }> {
  const rest = withoutFlag(argv, 'plan');
  if (values.plan !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(values.plan, 'utf8'));
    } catch (e) {
      throw new Error(`--plan ${values.plan}: ${(e as Error).message}`, { cause: e });
    }
    const flags = withoutPlannedTargets(planTrainArgs(parsePlan(json, values.plan)), rest);
    return { argv: [...flags, ...rest], note: `unet train: plan ${values.plan}: ${flags.join(' ')}` };
  }
  if (ARCHITECTURE_FLAGS.some((f) => values[f] !== undefined) || values.images === undefined || values.labels === undefined) return { argv: [...rest], note: null };
  const { plan, probe } = await makePlan(values.images, values.labels, DEFAULT_BUDGET_SECONDS, values.iterations === undefined ? DEFAULT_PROBE_STEPS : 0);
  const flags = withoutPlannedTargets(planTrainArgs(plan), rest);
  return {
    argv: [...flags, ...rest],
    note: `unet train: no architecture flags given, so planned from the data (unet plan shows why${probe ? `; ${probe.secondsPerStep.toFixed(3)} s/step probed, ${BUDGET} budget` : ''}): ${flags.join(' ')} (flags you give override these)`,
  };
}
