/**
 * Bench case names, shared by bench/bench.ts, bench/case.ts and bench/ort-case.ts (and
 * mirrored by bench/torch_unet.py's parse_case): KIND SIZE [x FILTERS] [b BATCH].
 *
 * @example parseCase('train572')     // { kind: 'train', size: 572, filters: 64, batch: 1 }
 * @example parseCase('train412x16b4') // { kind: 'train', size: 412, filters: 16, batch: 4 }
 * @example parseCase('bundled700')   // { kind: 'fwd', size: 700, filters: 16, batch: 1 }: the bundled models' net
 * @example parseCase('e2e')          // { kind: 'e2e', size: 412, filters: 16, batch: 1, dataWorkers: 1 }: `unet train` on ISBI 2012
 * @example parseCase('e2e0')         // the same with --data-workers 0 (tiles made in the training thread)
 */
export interface BenchCase {
  readonly kind: 'train' | 'fwd' | 'conv' | 'e2e';
  readonly size: number;
  readonly filters: number;
  readonly batch: number;
  /** e2e only: `unet train --data-workers`. */
  readonly dataWorkers?: number;
}

export function parseCase(name: string): BenchCase {
  if (name === 'convfwd' || name === 'convfwdbwd') return { kind: 'conv', size: 284, filters: 64, batch: 1 };
  if (name === 'e2e' || name === 'e2e0') return { kind: 'e2e', size: 412, filters: 16, batch: 1, dataWorkers: name === 'e2e' ? 1 : 0 };
  const m = /^(train|fwd|bundled)(\d+)(?:x(\d+))?(?:b(\d+))?$/.exec(name);
  if (!m) throw new Error(`bench: unknown case '${name}' (KIND SIZE [xFILTERS] [bBATCH], KIND train|fwd, e.g. train412x16b4; or bundled700, convfwd, convfwdbwd, e2e, e2e0)`);
  const filters = m[3] ? Number(m[3]) : m[1] === 'bundled' ? 16 : 64;
  return { kind: m[1] === 'train' ? 'train' : 'fwd', size: Number(m[2]), filters, batch: m[4] ? Number(m[4]) : 1 };
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
