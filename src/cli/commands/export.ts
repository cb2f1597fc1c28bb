import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { exportOnnx } from '../../export/onnx.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { loadModel } from '../../io/model-files.js';
import { describeNormalization } from '../../io/normalize.js';
import { requireOption, startBackend, UsageError } from '../args.js';
import { resolveModelDir } from './predict.js';

export const EXPORT_HELP = `unet export MODEL --format onnx --out FILE.onnx [options]

Writes a unet-ts model (a folder, or a bundled model: isbi, nuclei) in another format.
  --format F             onnx   (opset 17, input 'image' [batch, channels, height, width],
                         output 'probabilities' [batch, classes, out_height, out_width] after softmax)
  --out PATH             output file
  --input-dtype T        for 'dtype' normalisation: uint8 | uint16, the scale the graph applies   (uint8)
  --no-normalization     leave a fixed normalisation out of the graph (feed normalised input)
A fixed normalisation (dtype, range, meanstd:MEAN,STD) is applied inside the graph, so it takes
raw intensities; a per-image one (minmax, percentile, meanstd) is not, and the metadata_props say which.`;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      format: { type: 'string' },
      out: { type: 'string' },
      'input-dtype': { type: 'string' },
      'no-normalization': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${EXPORT_HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`give exactly one MODEL (folder or bundled name), got ${positionals.length}`);
  const format = requireOption(values.format, 'format');
  const out = requireOption(values.out, 'out');
  if (format !== 'onnx') throw new UsageError(`--format must be onnx, got "${format}"`);
  const inputDtype = values['input-dtype'] ?? 'uint8';
  if (inputDtype !== 'uint8' && inputDtype !== 'uint16') throw new UsageError(`--input-dtype must be uint8 or uint16, got "${inputDtype}"`);
  const modelDir = resolveModelDir(positionals[0]);
  await startBackend('export');
  const { model, metadata } = await loadModel(modelDir);
  try {
    const bytes = exportOnnx(model, metadata, { embedNormalization: !values['no-normalization'], inputDtype });
    await mkdir(dirname(out), { recursive: true });
    await writeFileAtomic(out, bytes);
    const norm = describeNormalization(metadata.normalization);
    process.stderr.write(`unet export: wrote ${out} (${(bytes.length / 2 ** 20).toFixed(1)} MiB, ONNX opset 17, normalisation ${norm})\n`);
  } finally {
    model.dispose();
  }
  return 0;
}
