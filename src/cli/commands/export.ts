import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { exportOnnx } from '../../export/onnx.js';
import { bioimageioPackage, writeBioimageioPackage } from '../../export/bioimageio.js';
import { readImage } from '../../io/image.js';
import { toModelChannels } from '../../io/raster.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { loadModel } from '../../io/model-files.js';
import { describeNormalization } from '../../io/normalize.js';
import { parseCommand, requireOption, startBackend, UsageError } from '../args.js';
import { PACKAGE_ROOT, resolveModelDir } from './predict.js';

/** The bundled sample matching a bundled model, if `modelDir` is one. */
function defaultSample(modelDir: string): string | undefined {
  const name = basename(modelDir.replace(/[\\/]+$/, ''));
  const sample = { 'isbi2012-membrane': 'isbi2012-test-00.png', 'nuclei-fluo': 'dsb2018-fluo-00071198.png' }[name];
  const path = sample && join(PACKAGE_ROOT, 'samples', sample);
  return path && existsSync(path) ? path : undefined;
}

export const EXPORT_HELP = `unet export MODEL --format onnx --out FILE.onnx [options]
unet export MODEL --format bioimageio --out DIR|FILE.zip [--sample IMAGE] [options]

Writes a unet-ts model (a folder, or a bundled model: isbi, nuclei) in another format.
  --format F             onnx   (opset 17, input 'image' [batch, channels, height, width],
                                 output 'probabilities' [batch, classes, out_height, out_width] after softmax)
                         bioimageio   a bioimage.io model package (format 0.5.7: ONNX and TF.js weights,
                                 test tensors, cover, documentation) for deepImageJ, napari, bioimage.io
  --out PATH             output file (onnx), folder or .zip (bioimageio)
  --sample IMAGE         bioimageio: image for the test tensors and cover (bundled models: their sample)
  --author NAME          bioimageio: author to name   (unet-ts contributors)
  --input-dtype T        for 'dtype' normalisation: uint8 | uint16, the scale the graph applies   (uint8)
  --no-normalization     leave a fixed normalisation out of the graph (feed normalised input)
A fixed normalisation (dtype, range, meanstd:MEAN,STD) is applied inside the graph, so it takes
raw intensities; a per-image one (minmax, percentile, meanstd) is not, and the metadata_props say which.`;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    format: { type: 'string' },
    out: { type: 'string' },
    'input-dtype': { type: 'string' },
    'no-normalization': { type: 'boolean' },
    sample: { type: 'string' },
    author: { type: 'string' },
  }, EXPORT_HELP);
  if (positionals.length !== 1) throw new UsageError(`give exactly one MODEL (folder or bundled name), got ${positionals.length}`);
  const format = requireOption(values.format, 'format');
  const out = requireOption(values.out, 'out');
  if (format !== 'onnx' && format !== 'bioimageio') throw new UsageError(`--format must be onnx or bioimageio, got "${format}"`);
  const inputDtype = values['input-dtype'] ?? 'uint8';
  if (inputDtype !== 'uint8' && inputDtype !== 'uint16') throw new UsageError(`--input-dtype must be uint8 or uint16, got "${inputDtype}"`);
  const modelDir = resolveModelDir(positionals[0]);
  await startBackend('export');
  const { model, metadata } = await loadModel(modelDir);
  try {
    if (format === 'bioimageio') {
      const samplePath = values.sample ?? defaultSample(modelDir);
      if (!samplePath) throw new UsageError('--sample IMAGE is required for a model without a bundled sample');
      const page = (await readImage(samplePath))[0]!;
      const sample = toModelChannels(page, metadata.config.inputChannels, samplePath, 'export');
      const files = await bioimageioPackage(model, metadata, {
        sample,
        sampleName: basename(samplePath),
        inputDtype,
        ...(values.author ? { authors: [{ name: values.author }] } : {}),
      });
      const written = await writeBioimageioPackage(out, files);
      process.stderr.write(`unet export: wrote ${out} (bioimage.io package, ${written.length === 1 ? 'zip' : `${written.length} files`})\n`);
      return 0;
    }
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
