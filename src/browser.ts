/**
 * Browser-safe library API (no Node built-ins). The Node entry (index.ts) re-exports
 * all of this plus file I/O and the native backend.
 */
export { PAPER_CONFIG, resolveConfig, type UNetConfig, type Padding } from './model/config.js';
export {
  outputSize,
  outputSizeOrNull,
  isValidInputSize,
  nearestValidSizes,
  minValidInputSize,
  marginPerSide,
  skipCropPerSide,
  validInputSizes,
  invalidSizeMessage,
  defaultTileSize,
  PAPER_TILE,
  type SizeSpec,
} from './model/size.js';
export { buildUNet, withInputSize, modelInputShape, toTileShape, DEFAULT_BUILD, type BuildOptions, type TileShape } from './model/unet.js';
export { initializeWeights, countParameters, fanIn } from './model/init.js';
export { SeededDropout, setDropoutSeedSource } from './model/dropout.js';
export { weightedSoftmaxCrossEntropy, centreCrop } from './loss/cross-entropy.js';
export {
  train,
  trainStep,
  makeOptimizer,
  tileGeometry,
  TRAIN_DEFAULTS,
  type TrainOptions,
  type TrainProgress,
  type TrainSummary,
  type OptimizerKind,
} from './train/train.js';
export { cutTile, randomOutputOrigin, uniformCoverageOrigin, clampedCoverageOrigin, placeOutputWindow, placementZeroesOutside, zeroWeightsOutside, TILE_SAMPLINGS, type Tile, type TileGeometry, type TileSampling, type TrainingSample } from './train/tiles.js';
export { evaluateValidation, evaluateLoss, evaluateMetric, weightedCrossEntropyOfProbabilities, metricName, isBetterValidation, bestValidation, type ValidationMetric, type MetricScores, type ValidationEntry, type ValidationScores } from './train/validation-metric.js';
export { makeRaster, channel, toModelChannels, type Raster, type PixelArray, type LabelMap } from './io/raster.js';
export { normalize, parseNormalization, describeNormalization, DEFAULT_NORMALIZATION, NORMALIZATION_SPECS, type Normalization } from './io/normalize.js';
export {
  makeMetadata,
  parseMetadata,
  loadModelFromUrl,
  modelArtifacts,
  modelFromParts,
  modelJson,
  quantizeFloat16,
  float16Bits,
  type ModelMetadata,
  type InferenceChoice,
  type InstancePostprocess,
  MODEL_JSON,
  WEIGHTS_BIN,
  METADATA_JSON,
} from './io/model-format.js';
export { Rng, type RngState } from './util/rng.js';
export { reflectIndex, extractWindow } from './util/mirror.js';
export { alignedStep, axisOrigins, tileGrid, gaussianWeights, type Size2, type Window, type TilePlacement, type TileGrid } from './infer/tiling.js';
export { unetPredictor, activationElements, estimateTileBytes, chooseTileSize, DEFAULT_TILE_MEMORY_BYTES, type TilePredictor, type DisposablePredictor } from './infer/predictor.js';
export { predict, predictBands, planTiles, argmax, DEFAULT_PREDICT_BATCH, type Blend, type PredictOptions, type PredictOutputs, type PredictProgress, type Prediction, type ProbabilityBand } from './infer/predict.js';
export { withTestTimeAugmentation, dihedral, ALL_DIHEDRAL, SHAPE_PRESERVING, type Dihedral } from './infer/tta.js';
export { instanceLabels, instancesFromProbabilities, DEFAULT_INSTANCE_OPTIONS, type InstanceOptions, type Instances } from './infer/instances.js';
export { overlay, displayRgb, labelColour, probabilityPlane, quantizeProbability, type OverlayOptions } from './infer/render.js';
export { dt1d, squaredEdt, squaredEdtOfSeeds, edt } from './util/edt.js';
export { labelComponents, type Connectivity, type Components } from './util/components.js';
export {
  weightMap,
  nearestTwoDistances,
  classBalanceWeights,
  instancesFromMask,
  separateTouching,
  DEFAULT_WEIGHT_MAP,
  type WeightMapOptions,
} from './loss/weight-map.js';
export {
  makeAugmenter,
  augmentTile,
  geometricMap,
  grayValueVariation,
  drawGeometry,
  DEFAULT_AUGMENT,
  type AugmentOptions,
  type GeometricDraw,
} from './augment/augment.js';
export {
  drawGridDisplacements,
  interpolateDisplacements,
  randomElasticField,
  cubicKernel,
  DEFAULT_ELASTIC,
  type ElasticOptions,
  type GridDisplacements,
  type DisplacementField,
} from './augment/elastic.js';
export { resample, identityMap, type Interpolation, type SamplingMap } from './augment/resample.js';
export * from './metrics/index.js';
