/** Label-mode options shared by `train`, `augment` and `weights`. */
import type { LabelMode } from '../../io/dataset.js';
import type { Connectivity } from '../../util/components.js';
import { intOption, numberOption, UsageError } from '../args.js';

export const LABEL_MODE_OPTIONS = {
  'label-mode': { type: 'string' },
  threshold: { type: 'string' },
  invert: { type: 'boolean' },
  'no-separate': { type: 'boolean' },
  targets: { type: 'string' },
} as const;

export const LABEL_MODE_HELP = `Labels:
  --label-mode MODE    binary | classes | instances   (binary)
  --threshold T        binary labels: value > T is foreground (127)
  --invert             binary labels: swap foreground and background (ISBI: makes the membrane class 1)
  --no-separate        instance labels: do not cut a background line between touching objects
  --targets T          instance labels: separated (2 classes, a background line between touching objects,
                       the paper's) | boundary (3 classes: background, interior, boundary; needs 3 classes,
                       the default then)   (separated)`;

export function labelModeFromOptions(v: { 'label-mode'?: string; threshold?: string; invert?: boolean; 'no-separate'?: boolean; targets?: string }): LabelMode {
  const name = v['label-mode'] ?? 'binary';
  if (v.targets !== undefined && name !== 'instances') throw new UsageError(`--targets applies to --label-mode instances, not "${name}"`);
  if (v.targets !== undefined && v.targets !== 'separated' && v.targets !== 'boundary') throw new UsageError(`--targets must be separated or boundary, got "${v.targets}"`);
  if (name === 'binary') return { mode: 'binary', threshold: numberOption(v.threshold, 'threshold', 127)!, invert: v.invert ?? false };
  if (name === 'classes') return { mode: 'classes' };
  if (name === 'instances') {
    if (v.targets === 'boundary') {
      if (v['no-separate']) throw new UsageError('--no-separate applies to --targets separated; boundary targets never cut lines');
      return { mode: 'instances', targets: 'boundary' };
    }
    return { mode: 'instances', separate: !(v['no-separate'] ?? false) };
  }
  throw new UsageError(`--label-mode must be binary, classes or instances, got "${name}"`);
}

/** --connectivity: 4 or 8 (default 4). */
export function connectivityOption(value: string | undefined): Connectivity {
  const c = intOption(value, 'connectivity', 4)!;
  if (c !== 4 && c !== 8) throw new UsageError(`--connectivity must be 4 or 8, got ${c}`);
  return c;
}
