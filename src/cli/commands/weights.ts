import { mkdir } from 'node:fs/promises';
import { join, parse } from 'node:path';
import { parseArgs } from 'node:util';
import { listImages, prepareLabels, readSingleImage } from '../../io/dataset.js';
import { writeImage } from '../../io/image.js';
import { checkOutputStems } from '../../infer/write-outputs.js';
import { makeRaster, type Raster } from '../../io/raster.js';
import type { WeightMapOptions } from '../../loss/weight-map.js';
import { intOption, numberOption, requireOption } from '../args.js';
import { decodeOptionsFrom, MAX_PIXELS_HELP, MAX_PIXELS_OPTION } from './decode-options.js';
import { connectivityOption, labelModeFromOptions, LABEL_MODE_HELP, LABEL_MODE_OPTIONS } from './label-options.js';

export const WEIGHTS_HELP = `unet weights --labels DIR --out DIR [--w0 10 --sigma 5] [options]

Writes the border weight map of Sec. 3, Eq. (2) for every label image in DIR:
STEM.weights.tif (float32 values) and STEM.weights.png (heat map, like Fig. 3d; blue = 0,
red = the image's largest weight).
  --w0 X               border weight (10)
  --sigma X            border width in pixels (5)
  --class-weights W    balanced | none | comma-separated weight per class (balanced)
  --classes N          number of classes (2)
  --connectivity 4|8   objects from binary/class labels are 4- or 8-connected components (4)
${MAX_PIXELS_HELP}
${LABEL_MODE_HELP}`;

/** Jet-like colour map from 0 (blue) to 1 (red), as in the paper's Fig. 3d. */
export function heatColour(t: number): [number, number, number] {
  const c = (x: number): number => Math.round(255 * Math.min(1, Math.max(0, x)));
  const v = Math.min(1, Math.max(0, t));
  return [c(1.5 - Math.abs(4 * v - 3)), c(1.5 - Math.abs(4 * v - 2)), c(1.5 - Math.abs(4 * v - 1))];
}

export function heatmap(w: Raster<Float32Array>): Raster<Uint8Array> {
  let max = 0;
  for (const v of w.data) if (v > max) max = v;
  const out = new Uint8Array(w.height * w.width * 3);
  for (let i = 0; i < w.data.length; i++) out.set(heatColour(max > 0 ? w.data[i]! / max : 0), i * 3);
  return makeRaster(out, w.height, w.width, 3);
}

export async function weightsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      labels: { type: 'string' },
      out: { type: 'string' },
      w0: { type: 'string' },
      sigma: { type: 'string' },
      'class-weights': { type: 'string' },
      classes: { type: 'string' },
      connectivity: { type: 'string' },
      ...LABEL_MODE_OPTIONS,
      ...MAX_PIXELS_OPTION,
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${WEIGHTS_HELP}\n`);
    return 0;
  }
  const labelsDir = requireOption(values.labels, 'labels');
  const outDir = requireOption(values.out, 'out');
  const classes = intOption(values.classes, 'classes', 2)!;
  const connectivity = connectivityOption(values.connectivity);
  const cw = values['class-weights'] ?? 'balanced';
  const classWeights: WeightMapOptions['classWeights'] = cw === 'balanced' ? 'balanced' : cw === 'none' ? 'none' : cw.split(',').map((s) => numberOption(s, 'class-weights')!);
  const weightMap = { w0: numberOption(values.w0, 'w0', 10)!, sigma: numberOption(values.sigma, 'sigma', 5)!, classWeights };
  const labelMode = labelModeFromOptions(values);
  const decodeOptions = decodeOptionsFrom(values['max-pixels']);
  const files = await listImages(labelsDir, 'unet weights --labels');
  checkOutputStems(files, 'unet weights');
  await mkdir(outDir, { recursive: true });
  for (const [k, file] of files.entries()) {
    const raw = await readSingleImage(file, decodeOptions);
    const start = Date.now();
    const { weights } = prepareLabels(raw, { labelMode, classes, weightMap, connectivity }, file);
    const stem = parse(file).name;
    await writeImage(join(outDir, `${stem}.weights.tif`), weights!);
    await writeImage(join(outDir, `${stem}.weights.png`), heatmap(weights!));
    let max = 0;
    for (const v of weights!.data) if (v > max) max = v;
    process.stderr.write(`unet weights: [${k + 1}/${files.length}] ${stem}: max ${max.toFixed(2)} (${Date.now() - start} ms)\n`);
  }
  return 0;
}
