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
  const k = Math.min(sorted.length - 1, Math.max(1, Math.round(fraction * sorted.length)));
  return new Set(sorted.slice(0, k));
}
