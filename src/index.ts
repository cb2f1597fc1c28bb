/** Node library API: everything in the browser entry plus file I/O and backend selection. */
export * from './browser.js';
export { readPng, writePng, decodePng, encodePng } from './io/png.js';
export { saveModel, loadModel, readModelMetadata } from './io/model-files.js';
export { writeFileAtomic } from './io/atomic.js';
export { initBackend, activeBackend, type BackendInfo } from './backend/index.js';
export { predictFile, checkOutputStems, OUTPUT_KINDS, PROBABILITY_FORMATS, DEFAULT_PROBABILITY_FORMAT, type OutputKind, type ProbabilityFormat, type PredictFileOptions, type FileResult } from './infer/write-outputs.js';
export { readImage, writeImage, writeTiff } from './io/image.js';
export { openOmeZarrImage, readOmeZarrInfo, writeOmeZarrImage, writeOmeZarrFromSources, type OmeZarrImage, type OmeZarrSelection } from './io/zarr.js';
export { openTiffRegions, type TiffRegionImage } from './io/tiff-region.js';
export { predictOmeZarr, mergeInstances, finalizeOmeZarr, zarrLayout, type ZarrPredictOptions, type ZarrOutput } from './infer/zarr-predict.js';
export { parseChunkJob, jobChunks, chunkWindows, type ChunkJob } from './infer/chunks.js';
export { rasterSource, normalizedSource, resolveNormalization, type RegionSource } from './infer/source.js';
export {
  loadDataset,
  loadStackPair,
  pairByStem,
  listImages,
  collectImages,
  checkStems,
  readSingleImage,
  toClassIndices,
  instanceIds,
  labelObjects,
  prepareLabels,
  binaryThreshold,
  IMAGE_EXTENSIONS,
  DEFAULT_LABEL_MODE,
  DEFAULT_BINARY_THRESHOLD,
  DEFAULT_CONNECTIVITY,
  type LabelMode,
  type LoadDatasetOptions,
} from './io/dataset.js';
export { decodeImage, decodeJpeg, decodeTiff, encodeTiff, sniffFormat, type ImageFormat, type DecodeOptions } from './io/image-codecs.js';
export { DEFAULT_MAX_PIXELS } from './io/raster.js';
export {
  pairPredictions,
  parsePredictionName,
  evaluatePairs,
  evaluateFiles,
  EVALUATE_DEFAULTS,
  formatTable,
  formatCsv,
  formatCell,
  evaluationJson,
  evaluationText,
  type EvaluationMode,
  type EvaluationPair,
  type EvaluateOptions,
  type EvaluateFilesOptions,
  type EvaluationResult,
  type PredictionKind,
} from './eval/evaluate.js';
export { curvesSpec, renderSvg, rasterizeSvg, writeCurves, binned, runningMean, type TrainingHistory } from './report/curves.js';
export { trainingReport, historyFromMetadata } from './report/report.js';
export { fingerprintDataset, fingerprintFromRasters, detectLabelMode, planFromFingerprint, planTrainArgs, parsePlan, MAX_PLANNED_TILE, DEFAULT_BUDGET_SECONDS, type DatasetFingerprint, type TrainingPlan, type PlanOptions } from './plan/plan.js';
export { probeSecondsPerStep, DEFAULT_PROBE_STEPS, type ProbeResult } from './plan/probe.js';
export { ensemblePredictor, disposableEnsemble } from './infer/ensemble.js';
export { loadEnsemble, type LoadedEnsemble } from './infer/ensemble-models.js';
export { kFoldSplit, summarizeScores, evaluationModeFor, headlineScores, HEADLINE_SCORES, type Fold, type ScoreSummary } from './eval/folds.js';
export { exportOnnx, affineNormalization, withSymbolicShapes, ONNX_OPSET, type OnnxExportOptions } from './export/onnx.js';
export { bioimageioPackage, writeBioimageioPackage, preprocessingFor, type BioimageioExportOptions } from './export/bioimageio.js';
export { loadOrt, ortLoadError, ortUnet, ortPredictor, createOrtSession, type OrtUnet, type OrtGraphSpec } from './infer/ort-engine.js';
export { chooseEngine, openEngine, type EngineName, type ModelEngine } from './infer/engine.js';
export { openPackage, packageSpec, applyProcessing, isModelPackage, type PackageSpec, type ProcessingStep } from './io/bioimageio.js';
export { openPackageRunner, predictWithPackage, predictFileWithPackage, runPackageTest, type PackageRunner } from './infer/bioimageio-predict.js';
export { readNpy, writeNpy, type NpyArray } from './io/npy.js';
