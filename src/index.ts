/** Node library API: everything in the browser entry plus file I/O and backend selection. */
export * from './browser.js';
export { readPng, writePng, decodePng, encodePng } from './io/png.js';
export { saveModel, loadModel, readModelMetadata } from './io/model-files.js';
export { writeFileAtomic } from './io/atomic.js';
export { initBackend, activeBackend, type BackendInfo } from './backend/index.js';
export { predictFile, checkOutputStems, OUTPUT_KINDS, type OutputKind, type ProbabilityFormat, type PredictFileOptions, type FileResult } from './infer/write-outputs.js';
export { readImage, writeImage, writeTiff } from './io/image.js';
export {
  loadDataset,
  loadStackPair,
  pairByStem,
  listImages,
  readSingleImage,
  toClassIndices,
  instanceIds,
  labelObjects,
  prepareLabels,
  binaryThreshold,
  IMAGE_EXTENSIONS,
  DEFAULT_LABEL_MODE,
  type LabelMode,
  type LoadDatasetOptions,
} from './io/dataset.js';
export { decodeImage, decodeJpeg, decodeTiff, encodeTiff, sniffFormat, type ImageFormat, type DecodeOptions } from './io/image-codecs.js';
export { DEFAULT_MAX_PIXELS } from './io/raster.js';
