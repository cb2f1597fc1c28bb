/** --max-pixels, shared by every command that reads images (predict, train, evaluate, weights). */
import { DEFAULT_MAX_PIXELS } from '../../io/raster.js';
import { intOption, UsageError } from '../args.js';

export const MAX_PIXELS_OPTION = { 'max-pixels': { type: 'string' } } as const;

export const MAX_PIXELS_HELP = `  --max-pixels N       refuse images (pages) larger than N pixels, a decompression-bomb guard   (${DEFAULT_MAX_PIXELS} = 2^28)`;

/** The decode options from --max-pixels (empty: the library default). */
export function decodeOptionsFrom(value: string | undefined): { maxPixels?: number } {
  const n = intOption(value, 'max-pixels');
  if (n === undefined) return {};
  if (n < 1) throw new UsageError(`--max-pixels must be a positive integer, got ${n}`);
  return { maxPixels: n };
}
