/**
 * Training curves: a Vega-Lite spec built from a run's history (training loss, its running
 * mean, validation loss and metric against step; learning rate against step), rendered to SVG
 * headless by Vega and rasterised to PNG by resvg. Node-only (the renderers); the spec builder
 * {@link curvesSpec} is pure. `unet train` rewrites curves.svg / curves.png in the model folder at
 * every checkpoint; `unet report MODEL` writes them from the saved history.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../io/atomic.js';

export interface TrainingHistory {
  /** Training loss per step (step k + 1 at index k), or every `lossStride`-th step. */
  readonly losses: readonly number[];
  /** Steps between consecutive entries of `losses` (default 1; unet.json's lossCurve uses 10). */
  readonly lossStride?: number;
  /** Step of `losses[0]` (default 1). */
  readonly firstStep?: number;
  readonly validation?: readonly { iteration: number; loss: number; metric?: number }[];
  /** Name of the validation metric, when entries carry one (e.g. 'Dice'). */
  readonly metricName?: string;
  /** A constant learning rate, or one per step. */
  readonly learningRate?: number | readonly number[];
}

/** At most this many points per line: longer histories are averaged in bins (SVG size stays bounded). */
export const MAX_POINTS = 1000;

interface Point { step: number; value: number; series: string }

/**
 * Averages `values` (at steps first, first + stride, ...) into at most `maxPoints` bins, each
 * placed at its last step.
 * @example binned([1, 2, 3, 4], 1, 1, 2) -> [{ step: 2, value: 1.5 }, { step: 4, value: 3.5 }]
 */
export function binned(values: readonly number[], first: number, stride: number, maxPoints = MAX_POINTS): { step: number; value: number }[] {
  if (!(maxPoints >= 1)) throw new Error(`binned: maxPoints must be >= 1, got ${maxPoints}`);
  const size = Math.max(1, Math.ceil(values.length / maxPoints));
  const out: { step: number; value: number }[] = [];
  for (let i = 0; i < values.length; i += size) {
    const chunk = values.slice(i, i + size);
    out.push({ step: first + (i + chunk.length - 1) * stride, value: chunk.reduce((a, b) => a + b, 0) / chunk.length });
  }
  return out;
}

/**
 * Running mean over the last `window` values.
 * @example runningMean([1, 3, 5], 2) -> [1, 2, 4]
 */
export function runningMean(values: readonly number[], window: number): number[] {
  if (!(Number.isInteger(window) && window >= 1)) throw new Error(`runningMean: window must be a positive integer, got ${window}`);
  const out: number[] = [];
  let sum = 0;
  values.forEach((v, i) => {
    sum += v;
    if (i >= window) sum -= values[i - window]!;
    out.push(sum / Math.min(i + 1, window));
  });
  return out;
}

function checkHistory(h: TrainingHistory): void {
  if (h.losses.length === 0) throw new Error('curvesSpec: the history has no training losses');
  if (h.firstStep !== undefined && !Number.isFinite(h.firstStep)) throw new Error(`curvesSpec: firstStep must be a number, got ${h.firstStep}`);
  const bad = h.losses.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`curvesSpec: training loss ${bad} is ${h.losses[bad]}, not a finite number`);
  const stride = h.lossStride ?? 1;
  if (!(Number.isInteger(stride) && stride >= 1)) throw new Error(`curvesSpec: lossStride must be a positive integer, got ${stride}`);
}

/** The Vega-Lite spec of the curves: loss panel (log y) over a learning-rate panel, and a metric panel when the validation entries carry one. */
export function curvesSpec(history: TrainingHistory, title = 'Training curves'): TopLevelSpec {
  checkHistory(history);
  const stride = history.lossStride ?? 1;
  const first = history.firstStep ?? 1;
  const window = Math.max(1, Math.round(history.losses.length / 50));
  const loss: Point[] = [
    ...binned(history.losses, first, stride).map((p) => ({ ...p, series: 'training loss' })),
    ...binned(runningMean(history.losses, window), first, stride).map((p) => ({ ...p, series: `running mean (${window * stride} steps)` })),
    ...(history.validation ?? []).map((v) => ({ step: v.iteration, value: v.loss, series: 'validation loss' })),
  ].filter((p) => p.value > 0);
  const lastStep = Math.max(...loss.map((p) => p.step), 1);
  const lr = history.learningRate;
  const lrPoints: Point[] = lr === undefined ? [] : typeof lr === 'number'
    ? [{ step: first, value: lr, series: 'learning rate' }, { step: lastStep, value: lr, series: 'learning rate' }]
    : binned(lr, 1, 1).map((p) => ({ ...p, series: 'learning rate' }));
  const metric = (history.validation ?? []).filter((v) => v.metric !== undefined && Number.isFinite(v.metric)).map((v) => ({ step: v.iteration, value: v.metric!, series: history.metricName ?? 'validation metric' }));
  const x = { field: 'step', type: 'quantitative', title: 'step', scale: { domain: [0, lastStep] } } as const;
  const panels: TopLevelSpec[] = [];
  panels.push({
    width: 640,
    height: 300,
    data: { values: loss },
    mark: { type: 'line', point: false, strokeWidth: 1.5 },
    encoding: {
      x,
      y: { field: 'value', type: 'quantitative', title: 'loss', scale: { type: 'log' } },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top-right', labelLimit: 400 } },
      opacity: { condition: { test: "datum.series === 'training loss'", value: 0.35 }, value: 1 },
    },
  } as unknown as TopLevelSpec);
  if (metric.length) {
    panels.push({
      width: 640,
      height: 150,
      data: { values: metric },
      mark: { type: 'line', point: true },
      encoding: { x, y: { field: 'value', type: 'quantitative', title: history.metricName ?? 'validation metric' } },
    } as unknown as TopLevelSpec);
  }
  if (lrPoints.length) {
    panels.push({
      width: 640,
      height: 120,
      data: { values: lrPoints },
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: { x, y: { field: 'value', type: 'quantitative', title: 'learning rate', scale: { zero: true } } },
    } as unknown as TopLevelSpec);
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    background: 'white',
    config: { font: 'DejaVu Sans' },
    vconcat: panels,
  } as unknown as TopLevelSpec;
}

/** Renders a Vega-Lite spec to SVG text, headless (no canvas, no DOM). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG text to PNG bytes (system fonts; white background). */
export function rasterizeSvg(svg: string, scale = 1): Uint8Array {
  if (!(scale > 0)) throw new Error(`rasterizeSvg: scale must be > 0, got ${scale}`);
  const r = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return r.render().asPng();
}

/** Writes `curves.svg` and `curves.png` into `dir` (created if needed; each file atomically); returns their paths. */
export async function writeCurves(dir: string, history: TrainingHistory, title?: string): Promise<{ svg: string; png: string }> {
  const svg = await renderSvg(curvesSpec(history, title));
  const paths = { svg: join(dir, 'curves.svg'), png: join(dir, 'curves.png') };
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(paths.svg, svg);
  await writeFileAtomic(paths.png, rasterizeSvg(svg));
  return paths;
}
