import { loadModel, saveModel } from '../../io/model-files.js';
import { parseFlags, requireOption, startBackend } from '../args.js';

export const QUANTIZE_HELP = `unet quantize --model DIR --out DIR

Writes a copy of a model folder with its weights stored as float16 (half the size; TF.js
expands them to float32 when loading). Score the copy before relying on it: unet evaluate.`;

export async function quantizeCommand(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { model: { type: 'string' }, out: { type: 'string' } }, QUANTIZE_HELP);
  const modelDir = requireOption(values.model, 'model');
  const outDir = requireOption(values.out, 'out');
  await startBackend('quantize');
  const { model, metadata } = await loadModel(modelDir);
  await saveModel(outDir, model, metadata, { float16: true });
  model.dispose();
  process.stderr.write(`unet quantize: wrote ${outDir} (float16 weights)\n`);
  return 0;
}
