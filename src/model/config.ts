/**
 * U-Net variants are data: one config object with documented defaults, the
 * defaults being the paper's (Ronneberger et al. 2015, Fig. 1 and Sec. 3).
 */
export type Padding = 'valid' | 'same';

export interface UNetConfig {
  /** Number of 2x2 max-pool steps in the contracting path. Paper: 4. */
  readonly depth: number;
  /** Channels of the first level; each level doubles them. Paper: 64 (64 -> 1024). */
  readonly baseFilters: number;
  /** Output classes (logit channels of the final 1x1 conv). Paper: 2. */
  readonly classes: number;
  /** Image channels: 1 (gray) or 3 (RGB). Paper: 1. */
  readonly inputChannels: number;
  /** 'valid' = unpadded 3x3 convs as in the paper; 'same' keeps sizes. */
  readonly padding: Padding;
  /** Batch norm after each 3x3 conv (not in the paper). */
  readonly batchNorm: boolean;
  /** Dropout rate at the end of the contracting path (Sec. 3.1: "Drop-out layers at the end of the contracting path"). 0 disables. */
  readonly dropout: number;
}

export const PAPER_CONFIG: UNetConfig = Object.freeze({
  depth: 4,
  baseFilters: 64,
  classes: 2,
  inputChannels: 1,
  padding: 'valid',
  batchNorm: false,
  dropout: 0.5,
});

/** Fills in the paper's defaults and checks every field, naming the bad one. */
export function resolveConfig(partial: Partial<UNetConfig> = {}): UNetConfig {
  const c: UNetConfig = { ...PAPER_CONFIG, ...stripUndefined(partial) };
  const int = (name: keyof UNetConfig, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new Error(`UNetConfig: ${name} must be an integer in [${min}, ${max}], got ${v}`);
    }
  };
  int('depth', c.depth, 1, 8);
  int('baseFilters', c.baseFilters, 1, 4096);
  int('classes', c.classes, 2, 1024);
  if (c.inputChannels !== 1 && c.inputChannels !== 3) {
    throw new Error(`UNetConfig: inputChannels must be 1 or 3, got ${c.inputChannels}`);
  }
  if (c.padding !== 'valid' && c.padding !== 'same') {
    throw new Error(`UNetConfig: padding must be 'valid' or 'same', got ${String(c.padding)}`);
  }
  if (typeof c.batchNorm !== 'boolean') throw new Error(`UNetConfig: batchNorm must be a boolean, got ${String(c.batchNorm)}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`UNetConfig: dropout must be in [0, 1), got ${c.dropout}`);
  return Object.freeze(c);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
