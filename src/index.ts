/** Node library API: everything in the browser entry plus file I/O and backend selection. */
export * from './browser.js';
export { readPng, writePng, decodePng, encodePng } from './io/png.js';
export { saveModel, loadModel, readModelMetadata } from './io/model-files.js';
export { writeFileAtomic } from './io/atomic.js';
export { initBackend, activeBackend, type BackendInfo } from './backend/index.js';
export { predictFile, OUTPUT_KINDS, type OutputKind, type ProbabilityFormat, type PredictFileOptions, type FileResult } from './infer/write-outputs.js';
export { readImage, writeImage, writeTiff } from './io/image.js';
export { openOmeZarrImage, readOmeZarrInfo, writeOmeZarrImage, writeOmeZarrFromSources, type OmeZarrImage, type OmeZarrSelection } from './io/zarr.js';
export { openTiffRegions, type TiffRegionImage } from './io/tiff-region.js';
export { predictOmeZarr, mergeInstances, zarrLayout, type ZarrPredictOptions, type ZarrOutput } from './infer/zarr-predict.js';
export { parseChunkJob, jobChunks, chunkWindows, type ChunkJob } from './infer/chunks.js';
export { rasterSource, normalizedSource, resolveNormalization, type RegionSource } from './infer/source.js';
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
export {
  pairPredictions,
  parsePredictionName,
  evaluatePairs,
  formatTable,
  formatCsv,
  formatCell,
  evaluationJson,
  evaluationText,
  type EvaluationMode,
  type EvaluationPair,
  type EvaluateOptions,
  type EvaluationResult,
  type PredictionKind,
} from './eval/evaluate.js';
export { curvesSpec, renderSvg, rasterizeSvg, writeCurves, binned, runningMean, type TrainingHistory } from './report/curves.js';
export { trainingReport, historyFromMetadata } from './report/report.js';
export { fingerprintDataset, fingerprintFromRasters, detectLabelMode, planFromFingerprint, planTrainArgs, parsePlan, MAX_PLANNED_TILE, type DatasetFingerprint, type TrainingPlan, type PlanOptions } from './plan/plan.js';
export { probeSecondsPerStep, type ProbeResult } from './plan/probe.js';
export { ensemblePredictor, disposableEnsemble } from './infer/ensemble.js';
export { loadEnsemble, type LoadedEnsemble } from './infer/ensemble-models.js';
export { kFoldSplit, summarizeScores, type Fold, type ScoreSummary } from './eval/folds.js';
