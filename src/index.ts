/** Node library API: everything in the browser entry plus file I/O and backend selection. */
export * from './browser.js';
export { readPng, writePng, decodePng, encodePng } from './io/png.js';
export { saveModel, loadModel, readModelMetadata } from './io/model-files.js';
export { writeFileAtomic } from './io/atomic.js';
export { initBackend, activeBackend, type BackendInfo } from './backend/index.js';
export { predictFile, OUTPUT_KINDS, type OutputKind, type ProbabilityFormat, type PredictFileOptions, type FileResult } from './infer/write-outputs.js';
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
  IMAGE_EXTENSIONS,
  DEFAULT_LABEL_MODE,
  type LabelMode,
  type LoadDatasetOptions,
} from './io/dataset.js';
export { decodeImage, decodeJpeg, decodeTiff, encodeTiff, sniffFormat, type ImageFormat } from './io/image-codecs.js';
export { exportOnnx, affineNormalization, withSymbolicShapes, ONNX_OPSET, type OnnxExportOptions } from './export/onnx.js';
export { bioimageioPackage, writeBioimageioPackage, preprocessingFor, type BioimageioExportOptions } from './export/bioimageio.js';
export { loadOrt, ortLoadError, ortUnet, ortPredictor, createOrtSession, type OrtUnet, type OrtGraphSpec } from './infer/ort-engine.js';
export { chooseEngine, openEngine, type EngineName, type ModelEngine } from './infer/engine.js';
export { openPackage, packageSpec, applyProcessing, isModelPackage, type PackageSpec, type ProcessingStep } from './io/bioimageio.js';
export { openPackageRunner, predictWithPackage, predictFileWithPackage, runPackageTest, type PackageRunner } from './infer/bioimageio-predict.js';
export { readNpy, writeNpy, type NpyArray } from './io/npy.js';
