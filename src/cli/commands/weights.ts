import { mkdir } from 'node:fs/promises';
import { join, parse } from 'node:path';
import { listImages, prepareLabels, readSingleImage } from '../../io/dataset.js';
import { writeImage } from '../../io/image.js';
import { checkOutputStems } from '../../infer/write-outputs.js';
import { makeRaster, type Raster } from '../../io/raster.js';
import { DEFAULT_WEIGHT_MAP, type WeightMapOptions } from '../../loss/weight-map.js';
import {
  CLASSES_HELP, CLASSES_OPTION, classesOption, CONNECTIVITY_HELP, CONNECTIVITY_OPTION, connectivityOption, decodeOptionsFrom, LABEL_MODE_HELP, LABEL_MODE_OPTIONS,
  labelModeFromOptions, MAX_PIXELS_HELP, MAX_PIXELS_OPTION, modeClassesOption, numberOption, optionLine, parseFlags, requireOption, WEIGHT_MAP_HELP, WEIGHT_MAP_OPTIONS, weightMapOptions,
} from '../args.js';

export const WEIGHTS_HELP = `unet weights --labels DIR --out DIR [--w0 X --sigma X] [options]

Writes the border weight map of Sec. 3, Eq. (2) for every label image in DIR:
STEM.weights.tif (float32 values) and STEM.weights.png (heat map, like Fig. 3d; blue = 0,
red = the image's largest weight). With --write-targets also STEM.targets.png: the class index
per pixel that unet train learns with the same options (for instance labels, after the
background line between touching objects is cut), so another framework can train on exactly
unet-ts's targets and weights (experiments/nuclei/torch_reference.py).
${optionLine('--write-targets', 'also write STEM.targets.png (8-bit class indices)')}
${WEIGHT_MAP_HELP}
${optionLine('--class-weights W', 'balanced | none | comma-separated weight per class', DEFAULT_WEIGHT_MAP.classWeights)}
${CLASSES_HELP}
${CONNECTIVITY_HELP}
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
  const values = parseFlags(argv, {
    labels: { type: 'string' },
    out: { type: 'string' },
    ...WEIGHT_MAP_OPTIONS,
    'class-weights': { type: 'string' },
    ...CLASSES_OPTION,
    ...CONNECTIVITY_OPTION,
    ...LABEL_MODE_OPTIONS,
    ...MAX_PIXELS_OPTION,
    'write-targets': { type: 'boolean' },
  }, WEIGHTS_HELP);
  const labelsDir = requireOption(values.labels, 'labels');
  const outDir = requireOption(values.out, 'out');
  const labelMode = labelModeFromOptions(values);
  // Boundary targets always have three classes, as in unet train; --classes may only agree.
  const asked = values.classes === undefined ? undefined : classesOption(values.classes);
  const classes = modeClassesOption(labelMode, asked) ?? asked ?? classesOption(undefined);
  const connectivity = connectivityOption(values.connectivity);
  const cw = values['class-weights'] ?? DEFAULT_WEIGHT_MAP.classWeights;
  const classWeights: WeightMapOptions['classWeights'] = cw === 'balanced' ? 'balanced' : cw === 'none' ? 'none' : cw.split(',').map((s) => numberOption(s, 'class-weights')!);
  const weightMap = { ...weightMapOptions(values), classWeights };
  const decodeOptions = decodeOptionsFrom(values['max-pixels']);
  const files = await listImages(labelsDir, 'unet weights --labels');
  checkOutputStems(files, 'unet weights');
  await mkdir(outDir, { recursive: true });
  for (const [k, file] of files.entries()) {
    const raw = await readSingleImage(file, decodeOptions);
    const start = Date.now();
    const { labels, weights } = prepareLabels(raw, { labelMode, classes, weightMap, connectivity }, file);
    const stem = parse(file).name;
    if (values['write-targets']) await writeImage(join(outDir, `${stem}.targets.png`), labels);
    await writeImage(join(outDir, `${stem}.weights.tif`), weights!);
    await writeImage(join(outDir, `${stem}.weights.png`), heatmap(weights!));
    let max = 0;
    for (const v of weights!.data) if (v > max) max = v;
    process.stderr.write(`unet weights: [${k + 1}/${files.length}] ${stem}: max ${max.toFixed(2)} (${Date.now() - start} ms)\n`);
  }
  return 0;
}
