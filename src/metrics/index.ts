/**
 * Segmentation metrics as pure functions on flat H x W label arrays (browser-safe).
 *
 * - pixel.ts: confusion matrix, pixel accuracy/error, per-class IoU and Dice, pixel F-score
 * - rand.ts, information.ts: foreground-restricted V_rand / V_info (ISBI 2012), Rand index, VI
 * - isbi.ts: the ISBI 2012 threshold sweep with boundary thinning (thinning.ts), stack pooling
 * - instances.ts: IoU matching (assignment.ts), F1, DSB2018 AP, Cell Tracking Challenge SEG
 * - warping.ts: the warping error of Jain et al. 2010 (ISBI 2012; simple-pixel warping of the
 *   truth toward the proposal, remaining disagreements classified as splits / mergers / ...)
 */
export { checkSameSize, contingencyTable, type Contingency } from './contingency.js';
export { confusionMatrix, pixelAccuracy, pixelError, perClassScores, nanMean, pixelFScore, binaryCounts, type ConfusionMatrix, type ClassScores, type BinaryCounts } from './pixel.js';
export { adaptedRand, randIndex, randSums, randScoresFromSums, poolRandSums, type PartitionOptions, type RandOptions, type RandSums, type RandScores } from './rand.js';
export { informationScores, informationFromTable, type InformationScores } from './information.js';
export { thinZhangSuen } from './thinning.js';
export { isbiThresholds, isbiSliceScores, isbiStackScores, type IsbiOptions, type IsbiThresholdStats, type IsbiSliceScores, type IsbiStackScores } from './isbi.js';
export {
  warpingError,
  warpingErrorSweep,
  warpingStackScores,
  classifyWarping,
  classifyWarpingErrors,
  clusteredErrors,
  topologicalNumbers,
  isSimpleCode,
  type WarpingOptions,
  type WarpingResult,
  type WarpingClasses,
  type WarpingErrorKind,
  type WarpingSweep,
  type WarpingStackScores,
} from './warping.js';
export { maxWeightAssignment } from './assignment.js';
export {
  instanceOverlaps,
  matchInstances,
  matchOverlaps,
  dsbAveragePrecision,
  segMeasure,
  DSB_THRESHOLDS,
  type InstanceOverlaps,
  type MatchOptions,
  type InstanceMatching,
  type AveragePrecision,
  type SegMeasure,
} from './instances.js';
