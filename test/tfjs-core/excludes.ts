/**
 * Specs of tfjs-core 4.22.0's own op suite that are not run against unet-ts' backends,
 * each with the reason. `match` is a substring of the spec's full name ("<describe>
 * <backend> {} <spec>"); an entry limited to `backends` applies only to those runs.
 * The runner reports entries that match nothing, so the list cannot go stale silently.
 */
export interface Exclude {
  readonly match: string;
  readonly reason: string;
  readonly backends?: readonly string[];
}

export const EXCLUDES: readonly Exclude[] = [];

/**
 * The entry of `excludes` that leaves out spec `fullName` on `backend`, or null to run it.
 *
 * Example: with `[{ match: 'maxPool onednn {} x=[2,2,3]', reason: '...' }]`, the spec
 * "maxPool onednn {} x=[2,2,3] f=[1,1] s=2 p=1" is excluded on every backend.
 */
export function excludeReason(fullName: string, backend: string, excludes: readonly Exclude[] = EXCLUDES): Exclude | null {
  for (const e of excludes) {
    if (e.backends && !e.backends.includes(backend)) continue;
    if (fullName.includes(e.match)) return e;
  }
  return null;
}
