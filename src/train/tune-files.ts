/**
 * Tuning a trained model's instance post-processing on image/label files (Node: file access).
 * The probabilities of each validation image are predicted once with overlap-tile inference
 * (the same path as `unet predict`), then {@link tuneInstancePostprocess} searches the grid.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { instanceIds, readSingleImage } from '../io/dataset.js';
import { checkInstancePostprocess, type InstancePostprocess, type ModelMetadata } from '../io/model-format.js';
import { normalize } from '../io/normalize.js';
import { toModelChannels } from '../io/raster.js';
import { defaultInstancePostprocess } from '../infer/instances.js';
import { predict } from '../infer/predict.js';
import { readProbabilityMap, type ProbabilityLabelPair } from '../infer/probability-files.js';
import { chooseTileSize, DEFAULT_TILE_MEMORY_BYTES, unetPredictor, type DisposablePredictor } from '../infer/predictor.js';
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

/** Predicts every image of `pairs` and tunes the post-processing on their instance labels. */
export async function tuneOnFiles(model: tfl.LayersModel, metadata: ModelMetadata, pairs: readonly ImageLabelPair[], options: TuneFilesOptions = {}): Promise<TuneResult> {
  const config = metadata.config;
  const predictors = new Map<number, DisposablePredictor>();
  const cases: TuneCase[] = [];
  try {
    for (const [k, p] of pairs.entries()) {
      const raw = await readSingleImage(p.image);
      const image = normalize(toModelChannels(raw, config.inputChannels, p.image, 'tune'), metadata.normalization, p.image);
      const size = chooseTileSize(config, options.memoryBytes ?? DEFAULT_TILE_MEMORY_BYTES, { imageSize: [image.height, image.width] });
      let predictor = predictors.get(size);
      if (!predictor) {
        predictor = unetPredictor(model, config, size);
        predictors.set(size, predictor);
      }
      const result = await predict(image, predictor, { outputs: { probabilities: true, mask: false } });
      const label = await readSingleImage(p.label);
      if (label.height !== image.height || label.width !== image.width) {
        throw new Error(`tune: ${p.label} is ${label.height}x${label.width} but ${p.image} is ${image.height}x${image.width}`);
      }
      cases.push({ name: p.name, probabilities: result.probabilities!, truth: instanceIds(label, { mode: 'instances', separate: false }, p.label) });
      options.onImage?.(k + 1, pairs.length, p.name);
    }
  } finally {
    for (const p of predictors.values()) p.dispose();
  }
  return tuneInstancePostprocess(cases, startingPostprocess(metadata), options.grid ?? DEFAULT_TUNE_GRID, options.metric ?? DEFAULT_TUNE_METRIC);
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
