import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkInstancePostprocess, type InstancePostprocess } from '../../io/model-format.js';
import { readModelMetadata } from '../../io/model-files.js';
import { describeInstancePostprocess } from '../../infer/instances.js';
import { writeInstancesFromProbabilityFiles } from '../../infer/probability-files.js';
import { startingPostprocess } from '../../train/tune-files.js';
import { parseFlags, requireOption, UsageError } from '../args.js';
import { runEvaluation } from './evaluate.js';

export const INSTANCES_HELP = `unet instances --probs DIR --out DIR (--postprocess FILE | --model DIR) [--evaluate TRUTH_DIR [--json FILE] [--csv FILE]]

Turns probability maps of any network into instances with the post-processing \`unet predict
--outputs instances\` applies (connected components of the argmax foreground, or the seeded
watershed, then the minimum size), and writes <stem>_instances.png for each map (what
\`unet evaluate --mode instances\` scores). Maps: <stem>_prob.tif (float32, a page per class, as
\`unet predict --outputs prob\` writes them; or one page, the foreground probability) or
<stem>_prob.png (8/16-bit foreground probability of a 2-class network).
  --postprocess FILE   the choice \`unet tune --probs ... --out FILE\` wrote
  --model DIR          or the post-processing stored in a model's unet.json
  --evaluate DIR       then score the instances against the instance labels in DIR, as
                       \`unet evaluate --mode instances\` does (F1 at IoU 0.5, DSB 2018 mAP, SEG)
  --json FILE, --csv FILE   with --evaluate: the scores as JSON / the per-image table as CSV`;

/** The post-processing of --postprocess FILE (a unet.json "postprocess" object) or --model DIR. */
async function postprocessFrom(file: string | undefined, modelDir: string | undefined): Promise<{ pp: InstancePostprocess; source: string }> {
  if ((file === undefined) === (modelDir === undefined)) throw new UsageError('give one of --postprocess FILE and --model DIR');
  if (modelDir !== undefined) return { pp: startingPostprocess(await readModelMetadata(modelDir)), source: join(modelDir, 'unet.json') };
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file!, 'utf8'));
  } catch (e) {
    throw new Error(`--postprocess ${file}: cannot read it as JSON (${(e as Error).message})`, { cause: e });
  }
  const instances = (json as { instances?: unknown } | null)?.instances;
  if (instances === undefined) throw new Error(`--postprocess ${file}: no "instances" entry (expected what unet tune --probs --out writes)`);
  // The classes are checked against each map's when it is read (instancesFromProbabilities).
  return { pp: checkInstancePostprocess(instances, undefined, `--postprocess ${file}`), source: file! };
}

export async function instancesCommand(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
    probs: { type: 'string' },
    out: { type: 'string' },
    postprocess: { type: 'string' },
    model: { type: 'string' },
    evaluate: { type: 'string' },
    json: { type: 'string' },
    csv: { type: 'string' },
  }, INSTANCES_HELP);
  const probsDir = requireOption(values.probs, 'probs');
  const outDir = requireOption(values.out, 'out');
  if ((values.json !== undefined || values.csv !== undefined) && values.evaluate === undefined) throw new UsageError('--json and --csv go with --evaluate');
  const { pp, source } = await postprocessFrom(values.postprocess, values.model);
  process.stderr.write(`unet instances: ${describeInstancePostprocess(pp)} (from ${source})\n`);
  const { files } = await writeInstancesFromProbabilityFiles(probsDir, outDir, pp);
  for (const f of files) process.stdout.write(`${f.written} (${f.count} objects)\n`);
  if (values.evaluate !== undefined) {
    await runEvaluation(outDir, values.evaluate, { mode: 'instances', ...(values.json !== undefined ? { json: values.json } : {}), ...(values.csv !== undefined ? { csv: values.csv } : {}) }, files.map((f) => f.written));
  }
  return 0;
}
