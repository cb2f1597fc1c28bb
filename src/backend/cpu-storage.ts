/**
 * Reading the CPU backend's storage entries ('cpu', and 'onednn', which extends it), shared by
 * the in-place optimizers (src/train/optimizers.ts) and the onednn backend's move of weights into
 * native memory (src/backend/onednn.ts filterHandlesForUpdate).
 */

/**
 * The Float32Array of `size` values a plain CPU storage entry owns alone (refCount 1), which may
 * be written in place or taken over; null for anything else: a natively held tensor (a class
 * instance), storage shared with another tensor, another element type or length.
 */
export function ownedFloat32(entry: unknown, size: number): Float32Array | null {
  if (entry === null || typeof entry !== 'object' || Object.getPrototypeOf(entry) !== Object.prototype) return null;
  const e = entry as { values?: unknown; refCount?: number };
  return e.refCount === 1 && e.values instanceof Float32Array && e.values.length === size ? e.values : null;
}
