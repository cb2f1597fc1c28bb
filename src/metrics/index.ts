/**
 * Segmentation metrics as pure functions on flat H x W label arrays (browser-safe).
 *
 * - pixel.ts: confusion matrix, pixel accuracy/error, per-class IoU and Dice, pixel F-score
 * - rand.ts, information.ts: foreground-restricted V_rand / V_info (ISBI 2012), Rand index, VI
 * - isbi.ts: the ISBI 2012 threshold sweep with boundary thinning (thinning.ts), stack pooling
 * - instances.ts: IoU matching (assignment.ts), F1, DSB2018 AP, Cell Tracking Challenge SEG
 *
 * Not implemented: the warping error of Jain et al. 2010 (topology-preserving warping of the
 * truth by simple-point flips, then counting the remaining mismatches as splits / mergers /
 * object additions / deletions). It needs a simple-point test for the (4,8) topology used here,
 * a priority-ordered flipping loop and the reference's clustering of mismatches into
 * topological errors; none of that exists yet, so `unet evaluate` does not report it.
 */
export { checkSameSize, contingencyTable, type Contingency } from './contingency.js';
export { confusionMatrix, pixelAccuracy, pixelError, perClassScores, nanMean, pixelFScore, binaryCounts, type ConfusionMatrix, type ClassScores, type BinaryCounts } from './pixel.js';
export { adaptedRand, randIndex, randSums, randScoresFromSums, poolRandSums, type PartitionOptions, type RandOptions, type RandSums, type RandScores } from './rand.js';
export { informationScores, informationFromTable, type InformationScores } from './information.js';
export { thinZhangSuen } from './thinning.js';
export { isbiThresholds, isbiSliceScores, isbiStackScores, type IsbiOptions, type IsbiThresholdStats, type IsbiSliceScores, type IsbiStackScores } from './isbi.js';
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
