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
  type SizeSpec,
} from './model/size.js';
export { buildUNet, withInputSize, modelInputShape, toTileShape, type TileShape } from './model/unet.js';
export { initializeWeights, countParameters, fanIn } from './model/init.js';
export { SeededDropout, setDropoutSeedSource } from './model/dropout.js';
export { weightedSoftmaxCrossEntropy, centreCrop } from './loss/cross-entropy.js';
export {
  train,
  trainStep,
  evaluateLoss,
  makeOptimizer,
  tileGeometry,
  type TrainOptions,
  type TrainProgress,
  type TrainSummary,
  type OptimizerKind,
} from './train/train.js';
export { cutTile, randomOutputOrigin, coveringOrigins, type Tile, type TileGeometry, type TrainingSample } from './train/tiles.js';
export { makeRaster, channel, type Raster, type PixelArray, type LabelMap } from './io/raster.js';
export { normalize, parseNormalization, describeNormalization, type Normalization } from './io/normalize.js';
export {
  makeMetadata,
  parseMetadata,
  loadModelFromUrl,
  modelArtifacts,
  modelFromParts,
  modelJson,
  type ModelMetadata,
  MODEL_JSON,
  WEIGHTS_BIN,
  METADATA_JSON,
} from './io/model-format.js';
export { Rng, type RngState } from './util/rng.js';
export { reflectIndex, extractWindow } from './util/mirror.js';
