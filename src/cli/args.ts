/** Small helpers shared by CLI commands: typed option parsing with helpful errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { initBackend, type BackendInfo } from '../backend/index.js';
import type { UNetConfig } from '../model/config.js';

export class UsageError extends Error {}

export function intOption(value: string | undefined, name: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got "${value}"`);
  return n;
}

export function numberOption(value: string | undefined, name: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

/**
 * Long names of the options given in `argv`, in order, whichever way each was written
 * (`--out DIR`, `--out=DIR`, `-h`): count options from this, never from argv.length.
 *
 * @example givenOptions(['--resume=runs/a'], { resume: { type: 'string' } }) // ['resume']
 */
export function givenOptions(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const { tokens } = parseArgs({ args: [...argv], options, strict: true, tokens: true });
  return tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : []));
}

export function requireOption(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** Architecture options shared by `info` and `train`. */
export const MODEL_OPTIONS = {
  depth: { type: 'string' },
  filters: { type: 'string' },
  classes: { type: 'string' },
  channels: { type: 'string' },
  padding: { type: 'string' },
  'batch-norm': { type: 'boolean' },
  dropout: { type: 'string' },
} as const;

export function modelConfigFromOptions(v: Record<string, string | boolean | undefined>): Partial<UNetConfig> {
  const padding = v.padding as string | undefined;
  if (padding !== undefined && padding !== 'valid' && padding !== 'same') throw new UsageError(`--padding must be valid or same, got "${padding}"`);
  return {
    depth: intOption(v.depth as string | undefined, 'depth'),
    baseFilters: intOption(v.filters as string | undefined, 'filters'),
    classes: intOption(v.classes as string | undefined, 'classes'),
    inputChannels: intOption(v.channels as string | undefined, 'channels'),
    padding: padding as UNetConfig['padding'] | undefined,
    batchNorm: v['batch-norm'] as boolean | undefined,
    dropout: numberOption(v.dropout as string | undefined, 'dropout'),
  } as Partial<UNetConfig>;
}

export const MODEL_HELP = `Architecture (defaults are the paper's):
  --depth N        pooling steps (4)          --filters N   first-level channels (64)
  --classes N      output classes (2)         --channels N  image channels, 1 or 3 (1)
  --padding P      valid | same (valid)       --batch-norm  batch norm after each conv
  --dropout R      dropout at the end of the contracting path (0.5)`;

/** Activates the backend and says once on stderr why the native one is not in use, if it is not. */
export async function startBackend(command: string): Promise<BackendInfo> {
  const backend = await initBackend();
  if (backend.note) process.stderr.write(`unet ${command}: ${backend.note}\n`);
  return backend;
}
