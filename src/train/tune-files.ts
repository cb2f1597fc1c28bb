/**
 * Tuning a trained model's instance post-processing on image/label files (Node: file access).
 * The probabilities of each validation image are predicted with overlap-tile inference (the same
 * path as `unet predict`), once plainly and once with test-time augmentation, then
 * {@link tuneInstancePostprocess} searches the grid for each and the better one is kept (TTA only
 * when it pays, {@link ttaPays}).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { instanceIds, readSingleImage } from '../io/dataset.js';
import { checkInstancePostprocess, type InferenceChoice, type InstancePostprocess, type ModelMetadata } from '../io/model-format.js';
import { normalize } from '../io/normalize.js';
import { toModelChannels } from '../io/raster.js';
import { defaultInstancePostprocess } from '../infer/instances.js';
import { predict } from '../infer/predict.js';
import { readProbabilityMap, type ProbabilityLabelPair } from '../infer/probability-files.js';
import { openEngine, type EngineName } from '../infer/engine.js';
import { chooseTileSize, DEFAULT_TILE_MEMORY_BYTES, type DisposablePredictor } from '../infer/predictor.js';
import { withTestTimeAugmentation } from '../infer/tta.js';
import { DEFAULT_TUNE_GRID, tuneInstancePostprocess, type TuneCase, type TuneGrid, type TuneMetric, type TuneResult } from './tune.js';

/** F1 at IoU 0.5: the count of objects found right, what most instance users read first (dsb-ap weighs tight outlines too). */
export const DEFAULT_TUNE_METRIC: TuneMetric = 'f1';

export interface TuneFilesOptions {
  readonly grid?: TuneGrid;
  /** Default DEFAULT_TUNE_METRIC ('f1'). */
  readonly metric?: TuneMetric;
  /** Memory for one prediction tile, bytes. Default DEFAULT_TILE_MEMORY_BYTES (1 GiB). */
  readonly memoryBytes?: number;
  /** Called after each image's probabilities are predicted. */
  readonly onImage?: (done: number, total: number, name: string) => void;
  /**
   * Test-time augmentation: 'off' predicts each image once; 'on' averages the 8 flips/rotations;
   * 'auto' (the default) does both, tunes the post-processing for each, and keeps TTA only when
   * its best score beats the plain one by at least TTA_MIN_GAIN.
   */
  readonly tta?: TtaChoice;
  /** Which engine predicts the images (src/infer/engine.ts); default 'tfjs' on the active backend. */
  readonly engine?: EngineName;
}

export type TtaChoice = 'auto' | 'on' | 'off';
export const TTA_CHOICES: readonly TtaChoice[] = ['auto', 'on', 'off'];

/**
 * The validation gain (in the tuned metric, F1 or mAP) that makes 'auto' keep test-time
 * augmentation: 8 network passes per tile must buy more than noise. On the bundled nuclei model's
 * test split TTA gave +0.013 F1 and +0.029 mAP.
 */
export const TTA_MIN_GAIN = 0.005;

/**
 * Whether test-time augmentation earns its cost: its tuned score beats the plain one by `minGain`.
 * @example ttaPays(0.850, 0.857) === true
 * @example ttaPays(0.850, 0.853) === false
 */
export function ttaPays(plainScore: number, ttaScore: number, minGain = TTA_MIN_GAIN): boolean {
  return ttaScore - plainScore >= minGain;
}

/** A tuning run's post-processing search, and whether predict should use test-time augmentation. */
export interface TuneFilesResult extends TuneResult {
  readonly tta: boolean;
  /** The best score of each arm that ran ('auto': both). */
  readonly scores: { readonly plain?: number; readonly tta?: number };
}

/** The post-processing a model folder starts from: its unet.json's, else the default for its labels. */
export function startingPostprocess(metadata: ModelMetadata): InstancePostprocess {
  const stored = metadata.postprocess?.instances;
  if (stored) return stored;
  const targets = metadata.labels?.targets === 'boundary' ? 'boundary' : 'separated';
  return defaultInstancePostprocess({ targets });
}

/** An image file and its instance-label file (ids, 0 = background), as `pairByStem` gives them. */
export interface ImageLabelPair {
  readonly image: string;
  readonly label: string;
  readonly name: string;
}

/**
 * Predicts every image of `pairs` (with and/or without test-time augmentation, `options.tta`) and
 * tunes the post-processing on their instance labels.
 */
export async function tuneOnFiles(model: tfl.LayersModel, metadata: ModelMetadata, pairs: readonly ImageLabelPair[], options: TuneFilesOptions = {}): Promise<TuneFilesResult> {
  const config = metadata.config;
  const tta = options.tta ?? 'auto';
  const arms = tta === 'auto' ? [false, true] : [tta === 'on'];
  const predictors = new Map<number, DisposablePredictor>();
  const cases = new Map<boolean, TuneCase[]>(arms.map((a) => [a, []]));
  const engine = await openEngine(options.engine ?? 'tfjs', model, metadata);
  try {
    for (const [k, p] of pairs.entries()) {
      const raw = await readSingleImage(p.image);
      const image = normalize(toModelChannels(raw, config.inputChannels, p.image, 'tune'), metadata.normalization, p.image);
      const size = chooseTileSize(config, options.memoryBytes ?? DEFAULT_TILE_MEMORY_BYTES, { imageSize: [image.height, image.width] });
      let predictor = predictors.get(size);
      if (!predictor) {
        predictor = engine.predictor(size);
        predictors.set(size, predictor);
      }
      const label = await readSingleImage(p.label);
      if (label.height !== image.height || label.width !== image.width) {
        throw new Error(`tune: ${p.label} is ${label.height}x${label.width} but ${p.image} is ${image.height}x${image.width}`);
      }
      const truth = instanceIds(label, { mode: 'instances', separate: false }, p.label);
      for (const arm of arms) {
        const result = await predict(image, arm ? withTestTimeAugmentation(predictor) : predictor, { outputs: { probabilities: true, mask: false } });
        cases.get(arm)!.push({ name: p.name, probabilities: result.probabilities!, truth });
      }
      options.onImage?.(k + 1, pairs.length, p.name);
    }
  } finally {
    for (const p of predictors.values()) p.dispose();
    await engine.dispose();
  }
  const tune = (arm: boolean): TuneResult => tuneInstancePostprocess(cases.get(arm)!, startingPostprocess(metadata), options.grid ?? DEFAULT_TUNE_GRID, options.metric ?? DEFAULT_TUNE_METRIC);
  if (tta !== 'auto') {
    const result = tune(tta === 'on');
    return { ...result, tta: tta === 'on', scores: tta === 'on' ? { tta: result.bestScore } : { plain: result.bestScore } };
  }
  const plain = tune(false);
  const augmented = tune(true);
  const scores = { plain: plain.bestScore, tta: augmented.bestScore };
  return ttaPays(plain.bestScore, augmented.bestScore) ? { ...augmented, tta: true, scores } : { ...plain, tta: false, scores };
}

/**
 * The model's `inference` entry after a tuning run: whether predict uses test-time augmentation,
 * and the scores it was decided on (metric and image count as the search recorded them).
 */
export function inferenceChoice(result: TuneFilesResult): InferenceChoice {
  const { metric, images } = result.best.tuned ?? {};
  return { tta: result.tta, tuned: { metric, images, ...result.scores, minGain: TTA_MIN_GAIN } };
}

/**
 * Tunes the post-processing on probability maps already on disk (any network's: see
 * src/infer/probability-files.ts) and their instance labels, with the same search as
 * {@link tuneOnFiles}: what lets another framework's probabilities be post-processed exactly as a
 * unet-ts model's are.
 */
export async function tuneOnProbabilityFiles(pairs: readonly ProbabilityLabelPair[], start: InstancePostprocess, options: Pick<TuneFilesOptions, 'grid' | 'metric' | 'onImage'> = {}): Promise<TuneResult> {
  const cases: TuneCase[] = [];
  for (const [k, p] of pairs.entries()) {
    const probabilities = await readProbabilityMap(p.probabilities);
    checkInstancePostprocess(start, probabilities.channels, `tune: ${p.probabilities} (${probabilities.channels} classes)`);
    const label = await readSingleImage(p.label);
    if (label.height !== probabilities.height || label.width !== probabilities.width) {
      throw new Error(`tune: ${p.label} is ${label.height}x${label.width} but ${p.probabilities} is ${probabilities.height}x${probabilities.width}`);
    }
    cases.push({ name: p.name, probabilities, truth: instanceIds(label, { mode: 'instances', separate: false }, p.label) });
    options.onImage?.(k + 1, pairs.length, p.name);
  }
  return tuneInstancePostprocess(cases, start, options.grid ?? DEFAULT_TUNE_GRID, options.metric ?? DEFAULT_TUNE_METRIC);
}
