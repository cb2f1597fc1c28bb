/**
 * Information-theoretic segmentation scores on label maps (flat H x W arrays of ids).
 *
 * {@link informationScores} implements the foreground-restricted information theoretic score
 * V^Info of the ISBI 2012 challenge (Arganda-Carreras et al. 2015, Front. Neuroanat. 9:142) as
 * Fiji's Trainable Weka Segmentation computes it (VariationOfInformation.foregroundRestrictedStats /
 * foregroundRestrictedFscore), with natural logarithms:
 *
 *   p_ij over truth-foreground pixels (truth id != 0), t_i and s_j its marginals (see rand.ts)
 *   H(T) = -sum t_i log t_i,  H(S) = -sum s_j log s_j,  H(T,S) = -sum p_ij log p_ij
 *   I(S;T) = H(S) + H(T) - H(T,S)
 *   V_split = I / H(S)    V_merge = I / H(T)    V_Info = 2 I / (H(S) + H(T))
 *   VI = H(T|S) + H(S|T) (Meila 2007), H(T|S) = H(T,S) - H(S) (merge error), H(S|T) = H(T,S) - H(T) (split error)
 *
 * Same boundary convention as V^Rand: truth id 0 pruned; pred id 0 pixels inside the truth
 * foreground are singleton segments by default (each contributes (1/n) log(1/n) to H(S) and H(T,S),
 * the reference's `- sum(p_i0) log n` terms).
 */
import { contingencyTable, type Contingency } from './contingency.js';
import type { PartitionOptions } from './rand.js';

export interface InformationScores {
  /** Entropies in nats. */
  readonly hTruth: number;
  readonly hPred: number;
  readonly hJoint: number;
  readonly mutualInformation: number;
  /** H(S|T): information the proposal adds that the truth lacks (false splits). */
  readonly splitEntropy: number;
  /** H(T|S): truth information the proposal misses (false merges). */
  readonly mergeEntropy: number;
  /** Variation of information = splitEntropy + mergeEntropy. */
  readonly vi: number;
  /** I / H(S); 1 = no false splits. */
  readonly split: number;
  /** I / H(T); 1 = no false merges. */
  readonly merge: number;
  /** V^Info: harmonic mean of split and merge. 1 = identical partitions. */
  readonly vInfo: number;
  readonly pixels: number;
}

const xlogx = (x: number): number => (x > 0 ? x * Math.log(x) : 0);

/** Scores from a contingency table under `options` (see {@link informationScores}). */
export function informationFromTable(table: Contingency, options: PartitionOptions = {}): InformationScores {
  const n = table.total;
  if (n === 0) return { hTruth: NaN, hPred: NaN, hJoint: NaN, mutualInformation: NaN, splitEntropy: NaN, mergeEntropy: NaN, vi: NaN, split: NaN, merge: NaN, vInfo: NaN, pixels: 0 };
  const singletons = (options.predZero ?? 'singletons') === 'singletons';
  let sumJoint = 0;
  let singletonPixels = 0;
  for (let c = 0; c < table.counts.length; c++) {
    const x = table.counts[c]!;
    if (singletons && table.predIds[c] === 0) singletonPixels += x;
    else sumJoint += xlogx(x / n);
  }
  let sumPred = 0;
  for (const [id, s] of table.predSizes) if (!(singletons && id === 0)) sumPred += xlogx(s / n);
  let sumTruth = 0;
  for (const t of table.truthSizes.values()) sumTruth += xlogx(t / n);
  // k singletons of probability 1/n each: k * (1/n) log(1/n).
  const single = singletonPixels * xlogx(1 / n);
  const hTruth = -sumTruth;
  const hPred = -(sumPred + single);
  const hJoint = -(sumJoint + single);
  // Clamp rounding noise: entropies and I are >= 0 and I <= min(H(T), H(S)).
  const mutualInformation = Math.max(0, hTruth + hPred - hJoint);
  const splitEntropy = Math.max(0, hJoint - hTruth);
  const mergeEntropy = Math.max(0, hJoint - hPred);
  // A side with zero entropy is a single segment: it cannot have split (resp. merged) anything.
  // With both zero the partitions are identical (one segment each) and score 1; the reference
  // returns F = 0 there, we do not (identical segmentations must score perfectly).
  const split = hPred === 0 ? 1 : Math.min(1, mutualInformation / hPred);
  const merge = hTruth === 0 ? 1 : Math.min(1, mutualInformation / hTruth);
  let vInfo: number;
  if (hPred === 0 && hTruth === 0) vInfo = 1;
  else vInfo = (2 * mutualInformation) / (hPred + hTruth);
  return { hTruth, hPred, hJoint, mutualInformation, splitEntropy, mergeEntropy, vi: splitEntropy + mergeEntropy, split, merge, vInfo, pixels: n };
}

/**
 * Foreground-restricted information theoretic scoring V^Info with split and merge parts and
 * the variation of information (see the module doc). With `{ ignoreTruthZero: false, predZero:
 * 'segment' }` this is the plain VI of two label maps (scikit-image `variation_of_information`
 * returns [splitEntropy, mergeEntropy] in bits, i.e. divided by ln 2).
 *
 * @example a truth cell split in two halves (truth 1 1 1 1, pred 1 1 2 2):
 *   H(T) = 0, H(S) = ln 2, I = 0 -> split 0, merge 1, vInfo 0, VI = ln 2 (all split entropy)
 * @example two equal truth cells merged (truth 1 1 2 2, pred 1 1 1 1):
 *   H(T) = ln 2, H(S) = 0 -> split 1, merge 0, vInfo 0, VI = ln 2 (all merge entropy)
 */
export function informationScores(truth: ArrayLike<number>, pred: ArrayLike<number>, options: PartitionOptions = {}): InformationScores {
  return informationFromTable(contingencyTable(truth, pred, options.ignoreTruthZero ?? true, 'informationScores'), options);
}
