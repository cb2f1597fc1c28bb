/** Progress display: a redrawn bar on a TTY, plain log lines otherwise; and the training loop's validation lines. */
import type { TrainSummary } from '../train/train.js';
import { metricName, type MetricScores, type ValidationEntry, type ValidationMetric } from '../train/validation-metric.js';

export interface ProgressLine {
  readonly done: number;
  readonly total: number;
  readonly text: string;
  readonly etaMs: number;
}

export class ProgressReporter {
  private lastPlain = 0;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 10_000,
  ) {}

  update(p: ProgressLine, force = false): void {
    const eta = formatDuration(p.etaMs);
    if (this.stream.isTTY) {
      const width = 24;
      const filled = Math.round((p.done / p.total) * width);
      const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
      this.stream.write(`\r[${bar}] ${p.done}/${p.total} ${p.text} ETA ${eta}\x1b[K`);
      if (p.done === p.total) this.stream.write('\n');
      return;
    }
    const now = Date.now();
    if (force || p.done === p.total || p.done === 1 || now - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = now;
      this.stream.write(`${p.done}/${p.total} ${p.text} ETA ${eta}\n`);
    }
  }
}

/** @example formatDuration(3_723_000) === '1h02m03s' */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}h${pad(m)}m${pad(sec)}s` : m > 0 ? `${m}m${pad(sec)}s` : `${sec}s`;
}

/**
 * The validation part of a training progress line, from the latest validation (empty before the first).
 *
 * @example validationText(0.21, { name: 'F1@0.5', value: 0.8123, scores: { dsbAP: 0.41 }, images: 6, seconds: 2 }, true)
 *   === ' val 0.2100 F1@0.5 0.812 mAP 0.410 (held-out)'
 */
export function validationText(loss: number | undefined, metric: MetricScores | undefined, heldOut: boolean): string {
  if (loss === undefined) return '';
  const ap = metric?.scores.dsbAP;
  const m = metric ? ` ${metric.name} ${metric.value.toFixed(3)}${ap === undefined ? '' : ` mAP ${ap.toFixed(3)}`}` : '';
  return ` val ${loss.toFixed(4)}${m}${heldOut ? ' (held-out)' : ''}`;
}

/** What the validation metric is and where it is computed, said once before training. */
export function metricNotice(metric: ValidationMetric, images: number, heldOut: boolean, every: number): string {
  const where = `${images} ${heldOut ? 'held-out training' : 'validation'} image${images === 1 ? '' : 's'}`;
  const what = metric.kind === 'instances'
    ? `F1@0.5 and DSB mAP of the instances from the untuned post-processing (${metric.postprocess.watershed ? `watershed seeded at ${metric.postprocess.seedThreshold}` : 'connected components'}; tuning comes at the end)`
    : metric.kind === 'vrand'
      ? `V_rand (thinned, foreground-restricted) of class ${metric.interiorClass} as cell interior at threshold 0.5`
      : 'mean IoU over the classes';
  return `validation every ${every} steps on ${where}: loss and ${what}, by overlap-tile prediction; 'best' checkpoint by ${metricName(metric)} (--no-metric: by the loss)`;
}

/** The end-of-training line on validation: its cost, and which step `best` holds. */
export function validationSummary(summary: Pick<TrainSummary, 'validation' | 'validationSeconds' | 'seconds' | 'metricName' | 'best'>, saved: ValidationEntry | null, bestDir: string): string {
  const share = summary.seconds > 0 ? ` (${((100 * summary.validationSeconds) / summary.seconds).toFixed(0)} %)` : '';
  const cost = `validation took ${summary.validationSeconds.toFixed(1)} s of ${summary.seconds.toFixed(1)} s${share} in ${summary.validation.length} run${summary.validation.length === 1 ? '' : 's'}${summary.metricName ? ` (loss and ${summary.metricName} from one prediction of each image)` : ''}`;
  const score = (e: ValidationEntry): string => (e.metric !== undefined && summary.metricName ? `${summary.metricName} ${e.metric.toFixed(3)}` : `validation loss ${e.loss.toFixed(4)}`);
  if (saved) return `${cost}; best ${score(saved)} at step ${saved.iteration} -> ${bestDir}`;
  const best = summary.best;
  return best ? `${cost}; best ${score(best)} at step ${best.iteration} (no checkpoint at that step)` : cost;
}
