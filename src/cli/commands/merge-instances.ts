import { finalizeOmeZarr } from '../../infer/zarr-predict.js';
import { CONNECTIVITY_OPTION, connectivityOption, parseCommand, UsageError } from '../args.js';
import { isOmeZarr, selectionFromOptions } from './predict-zarr.js';

export const MERGE_INSTANCES_HELP = `unet merge-instances [options] IMAGE.zarr...

After all \`unet predict --chunks I/N\` jobs of an OME-Zarr image: gives objects that straddle
chunk edges and corners one id (union-find over the ids that touch across chunk borders, or for
watershed-split objects the same pixel's labels on both sides; chunk by chunk, never the whole
label image), drops objects under --min-size and writes labels/unet_instances; then the levels
above 0 of the label pyramids (unet_mask, unet_instances). Also for mask-only runs.
  --name NAME          prefix of the results   (unet)
  --connectivity 4|8   must be the predict jobs' --connectivity   (theirs)
  --level L, --z Z, --t T   the level and planes that were predicted   (0; every plane)`;

export async function mergeInstancesCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { name: { type: 'string' }, level: { type: 'string' }, z: { type: 'string' }, t: { type: 'string' }, ...CONNECTIVITY_OPTION }, MERGE_INSTANCES_HELP);
  if (positionals.length === 0) throw new UsageError('give at least one OME-Zarr image');
  for (const p of positionals) if (!isOmeZarr(p)) throw new UsageError(`${p} is not an OME-Zarr folder (no zarr.json or .zattrs)`);
  const select = selectionFromOptions(values);
  const connectivity = values.connectivity === undefined ? undefined : connectivityOption(values.connectivity);
  for (const p of positionals) {
    const r = await finalizeOmeZarr(p, select, values.name ?? 'unet', connectivity === undefined ? {} : { connectivity });
    const objects = r.objects ? `${r.objects.join(', ')} object(s) in labels/${values.name ?? 'unet'}_instances; ` : '';
    process.stdout.write(`${p}: ${r.labels.length ? `${objects}pyramids of ${r.labels.join(', ')}` : 'no label outputs (mask, instances) to finalize'}\n`);
  }
  return 0;
}
