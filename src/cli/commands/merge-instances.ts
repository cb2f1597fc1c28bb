import { mergeInstances } from '../../infer/zarr-predict.js';
import { parseCommand, UsageError } from '../args.js';
import { isOmeZarr, selectionFromOptions } from './predict-zarr.js';

export const MERGE_INSTANCES_HELP = `unet merge-instances [options] IMAGE.zarr...

After all \`unet predict --chunks I/N\` jobs of an OME-Zarr image: gives objects that straddle
chunk edges and corners one id (union-find over the ids that touch across chunk borders,
chunk by chunk, never the whole label image) and writes labels/unet_instances.
  --name NAME          prefix of the results   (unet)
  --level L, --z Z, --t T   the level and planes that were predicted   (0; every plane)`;

export async function mergeInstancesCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { name: { type: 'string' }, level: { type: 'string' }, z: { type: 'string' }, t: { type: 'string' } }, MERGE_INSTANCES_HELP);
  if (positionals.length === 0) throw new UsageError('give at least one OME-Zarr image');
  for (const p of positionals) if (!isOmeZarr(p)) throw new UsageError(`${p} is not an OME-Zarr folder (no zarr.json or .zattrs)`);
  const select = selectionFromOptions(values);
  for (const p of positionals) {
    const r = await mergeInstances(p, select, values.name ?? 'unet');
    process.stdout.write(`${p}: ${r.objects.join(', ')} object(s) in ${r.array}\n`);
  }
  return 0;
}
