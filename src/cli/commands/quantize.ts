import { parseArgs } from 'node:util';
import { loadModel, saveModel } from '../../io/model-files.js';
import { requireOption, startBackend } from '../args.js';

export const QUANTIZE_HELP = `unet quantize --model DIR --out DIR

Writes a copy of a model folder with its weights stored as float16 (half the size; TF.js
expands them to float32 when loading). Score the copy before relying on it: unet evaluate.`;

export async function quantizeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${QUANTIZE_HELP}\n`);
    return 0;
  }
  const modelDir = requireOption(values.model, 'model');
  const outDir = requireOption(values.out, 'out');
  await startBackend('quantize');
  const { model, metadata } = await loadModel(modelDir);
  await saveModel(outDir, model, metadata, { float16: true });
  model.dispose();
  process.stderr.write(`unet quantize: wrote ${outDir} (float16 weights)\n`);
  return 0;
}
