/** Shared test helpers: paths to ../shared/data and small numeric assertions. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `../shared/data` beside the repository root (also in CI's fresh clone). */
export const SHARED_DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
export const ISBI = `${SHARED_DATA}isbi2012_em/`;
export const DSB = `${SHARED_DATA}dsb2018_nuclei/`;
export const hasSharedData = existsSync(ISBI) && existsSync(DSB);

/** Asserts |actual - expected| <= tol, naming `what` in the message. */
export function assertClose(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: expected ${expected} +/- ${tol}, got ${actual} (diff ${Math.abs(actual - expected)})`);
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
