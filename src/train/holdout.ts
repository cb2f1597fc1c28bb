/**
 * A seeded validation hold-out: when the user gives no validation images, a fraction of the
 * training images is set aside (nnU-Net style: the data, not the user, provides the validation
 * set) for the validation loss and for tuning the post-processing.
 */
import { Rng } from '../util/rng.js';

/** The fraction `unet train` holds out when it has to (one image in ten: validation without starving training). */
export const DEFAULT_HOLDOUT_FRACTION = 0.1;

/**
 * The names to hold out: round(fraction x n) of them (at least 1, at most n - 1), drawn by a
 * seeded shuffle of the sorted names, so the choice depends only on the names and the seed.
 *
 * @example holdoutNames(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'], 0.1, 1).size === 1
 */
export function holdoutNames(names: readonly string[], fraction: number, seed: number): Set<string> {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`holdoutNames: fraction must be in (0, 1), got ${fraction}`);
  if (names.length < 2) throw new Error(`holdoutNames: need at least 2 images to hold one out, got ${names.length}`);
  const sorted = [...names].sort();
  const rng = new Rng(seed);
  for (let i = sorted.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [sorted[i], sorted[j]] = [sorted[j]!, sorted[i]!];
  }
  return new Set(sorted.slice(0, holdoutCount({ mode: 'instances', images: sorted.length, fraction, asked: true })));
}

/** What decides whether `unet train` holds images out (see {@link holdoutCount}). */
export interface HoldoutRequest {
  /** The label mode: instance training needs validation images to tune its post-processing. */
  readonly mode: 'binary' | 'classes' | 'instances';
  /** How many training images there are. */
  readonly images: number;
  /** The fraction to hold out. */
  readonly fraction: number;
  /** Whether the user asked for this fraction (--holdout) rather than getting the default. */
  readonly asked: boolean;
}

/**
 * How many images `unet train` holds out when no validation images are given (0: none), by the
 * rule of issue 14 §4 (the task's metric needs images the net did not train on):
 * - instance labels: as holdoutNames does (at least 1 of 2 or more), since the post-processing is
 *   tuned on them and untuned post-processing costs more than one image of training;
 * - binary or class labels with the default fraction: only when the fraction of the images is at
 *   least one image, so a small set (a few annotated images, the paper's case) is never cut by more
 *   than the fraction for what is only a score and a 'best' checkpoint;
 * - binary or class labels with --holdout: as asked (at least 1 of 2 or more).
 *
 * @example holdoutCount({ mode: 'binary', images: 25, fraction: 0.1, asked: false }) === 3
 * @example holdoutCount({ mode: 'binary', images: 9, fraction: 0.1, asked: false }) === 0
 * @example holdoutCount({ mode: 'binary', images: 9, fraction: 0.1, asked: true }) === 1
 * @example holdoutCount({ mode: 'instances', images: 2, fraction: 0.1, asked: false }) === 1
 */
export function holdoutCount(request: HoldoutRequest): number {
  const { mode, images, fraction, asked } = request;
  if (!(fraction > 0 && fraction < 1)) throw new Error(`holdoutCount: fraction must be in (0, 1), got ${fraction}`);
  if (images < 2) return 0;
  if (mode !== 'instances' && !asked && fraction * images < 1) return 0;
  return Math.min(images - 1, Math.max(1, Math.round(fraction * images)));
}
