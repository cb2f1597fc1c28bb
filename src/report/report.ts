/**
 * The training summary of a saved model folder (`unet report MODEL`): architecture, data,
 * recipe, time and losses from unet.json, as text lines, and the curves' history. Pure: takes
 * the parsed metadata.
 */
import { describeInstancePostprocess } from '../infer/instances.js';
import type { ModelMetadata } from '../io/model-format.js';
import type { TrainingHistory } from './curves.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const fmt = (v: number | undefined, digits = 4): string => (v === undefined ? 'n/a' : Number.isInteger(v) ? String(v) : v.toFixed(digits));

/** The loss history saved in unet.json (lossCurve: every 10th step from step 1), or null when the model has no training record. */
export function historyFromMetadata(metadata: ModelMetadata): TrainingHistory | null {
  const t = metadata.training;
  if (!t || !Array.isArray(t.lossCurve) || t.lossCurve.length === 0) return null;
  const validation = Array.isArray(t.validation)
    ? (t.validation as { iteration?: unknown; loss?: unknown; metric?: unknown }[]).flatMap((v) => {
      const iteration = num(v.iteration);
      const loss = num(v.loss);
      const metric = num(v.metric);
      return iteration === undefined || loss === undefined ? [] : [{ iteration, loss, ...(metric === undefined ? {} : { metric }) }];
    })
    : [];
  const lr = num(t.learningRate);
  const metricName = typeof t.metricName === 'string' ? t.metricName : undefined;
  return { losses: (t.lossCurve as unknown[]).map((v) => Number(v)), lossStride: 10, firstStep: 1, validation, ...(metricName ? { metricName } : {}), ...(lr === undefined ? {} : { learningRate: lr }) };
}

/** Text lines summarising a model folder's metadata (no trailing newline). */
export function trainingReport(metadata: ModelMetadata, dir: string): string {
  const c = metadata.config;
  const lines = [
    `model: ${dir}`,
    `architecture: depth ${c.depth}, ${c.baseFilters} base filters, ${c.padding} padding, ${c.inputChannels} input channel(s), ${c.classes} classes${metadata.classNames ? ` (${metadata.classNames.join(', ')})` : ''}`,
  ];
  const t = metadata.training;
  if (!t) return [...lines, 'training: no training record in unet.json'].join('\n');
  const iterations = num(t.iterations);
  const seconds = num(t.seconds);
  const tile = Array.isArray(t.tileSize) ? (t.tileSize as number[]).join('x') : 'n/a';
  const trainImages = Array.isArray(t.trainImages) ? t.trainImages.length : undefined;
  const valImages = Array.isArray(t.validationImages) ? t.validationImages.length : undefined;
  lines.push(`data: ${fmt(trainImages)} training image(s) from ${String(t.images ?? 'n/a')}, ${fmt(valImages)} validation image(s); normalisation ${String(t.normalization ?? 'n/a')}`);
  lines.push(`recipe: ${String(t.optimizer ?? 'n/a')}, learning rate ${fmt(num(t.learningRate), 6)}${num(t.momentum) !== undefined ? `, momentum ${fmt(num(t.momentum), 3)}` : ''}, batch ${fmt(num(t.batchSize))}, tile ${tile}, seed ${fmt(num(t.seed))}`);
  lines.push(`steps: ${fmt(iterations)}${t.stoppedEarly ? ' (stopped early)' : ''}, ${seconds === undefined ? 'n/a' : `${(seconds / 60).toFixed(1)} min`}${seconds !== undefined && iterations ? `, ${(seconds / iterations).toFixed(3)} s/step` : ''} on ${String(t.backend ?? 'n/a')}`);
  lines.push(`training loss: final ${fmt(num(t.finalLoss))}, mean of the last 50 steps ${fmt(num(t.recentLoss))}`);
  const h = historyFromMetadata(metadata);
  const val = h?.validation ?? [];
  if (val.length) {
    const best = val.reduce((a, b) => (b.loss < a.loss ? b : a));
    lines.push(`validation loss: ${val.map((v) => `${v.iteration}: ${fmt(v.loss)}`).join(', ')} (best ${fmt(best.loss)} at step ${best.iteration})`);
    const scored = val.filter((v) => v.metric !== undefined);
    if (scored.length) {
      const name = h?.metricName ?? 'validation metric';
      const top = scored.reduce((a, b) => (b.metric! > a.metric! ? b : a));
      const secs = num(t.metricSeconds);
      lines.push(`${name}: ${scored.map((v) => `${v.iteration}: ${fmt(v.metric, 3)}`).join(', ')} (best ${fmt(top.metric, 3)} at step ${top.iteration}${secs === undefined ? '' : `; ${secs.toFixed(1)} s computing it`})`);
    }
  } else {
    lines.push('validation loss: none recorded');
  }
  lines.push(...predictionLines(metadata));
  if (typeof t.command === 'string') lines.push(`command: ${t.command}`);
  return lines.join('\n');
}

/**
 * How `unet predict` will run the model by default: the stored object post-processing and the
 * test-time augmentation choice, with the validation scores they were chosen by.
 */
function predictionLines(metadata: ModelMetadata): string[] {
  const lines: string[] = [];
  const pp = metadata.postprocess?.instances;
  if (pp) {
    const tuned = pp.tuned as { metric?: unknown; images?: unknown; score?: unknown } | undefined;
    lines.push(`objects: ${describeInstancePostprocess(pp)}${tuned ? ` (tuned: ${String(tuned.metric)} ${fmt(num(tuned.score))} on ${fmt(num(tuned.images))} validation image(s))` : ' (not tuned)'}`);
  }
  const inf = metadata.inference;
  if (inf) {
    const t = inf.tuned as { metric?: unknown; plain?: unknown; tta?: unknown; images?: unknown } | undefined;
    const scores = t && num(t.plain) !== undefined && num(t.tta) !== undefined ? ` (${String(t.metric)} ${fmt(num(t.tta))} with it, ${fmt(num(t.plain))} without, on ${fmt(num(t.images))} validation image(s))` : '';
    lines.push(`test-time augmentation: ${inf.tta ? 'on' : 'off'} by default${scores}`);
  }
  return lines;
}
