import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { augmentTile } from '../../augment/augment.js';
import { pairByStem, readSingleImage, toClassIndices } from '../../io/dataset.js';
import { writeImage } from '../../io/image.js';
import { normalize } from '../../io/normalize.js';
import { makeRaster } from '../../io/raster.js';
import { Rng } from '../../util/rng.js';
import {
  AUGMENT_FLAGS_HELP, AUGMENT_OPTIONS, augmentOptionsFrom, CLASSES_HELP, CLASSES_OPTION, classesOption, decodeOptionsFrom, intOption, LABEL_MODE_HELP, LABEL_MODE_OPTIONS,
  labelModeFromOptions, MAX_PIXELS_HELP, MAX_PIXELS_OPTION, NORMALIZE_HELP, NORMALIZE_OPTION, normalizationOption, parseFlags, requireOption, UsageError,
} from '../args.js';

export const AUGMENT_HELP = `unet augment --images DIR --labels DIR --out DIR [--n 8] [--seed S] [options]

Writes N augmented versions of each image/label pair (matched by file name) as PNGs with
the image on the left and the label (class index scaled to 0..255) on the right, to check
the augmentation of Sec. 3.1 by eye.
  --n N                augmented copies per pair (8)
  --seed S             random seed (0)
${NORMALIZE_HELP}
${CLASSES_HELP}
${MAX_PIXELS_HELP}
${AUGMENT_FLAGS_HELP}
${LABEL_MODE_HELP}`;

export async function augmentCommand(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
    images: { type: 'string' },
    labels: { type: 'string' },
    out: { type: 'string' },
    n: { type: 'string' },
    seed: { type: 'string' },
    ...NORMALIZE_OPTION,
    ...CLASSES_OPTION,
    ...MAX_PIXELS_OPTION,
    ...AUGMENT_OPTIONS,
    ...LABEL_MODE_OPTIONS,
  }, AUGMENT_HELP);
  const imagesDir = requireOption(values.images, 'images');
  const labelsDir = requireOption(values.labels, 'labels');
  const outDir = requireOption(values.out, 'out');
  const n = intOption(values.n, 'n', 8)!;
  if (n < 1) throw new UsageError(`--n must be >= 1, got ${n}`);
  const classes = classesOption(values.classes);
  const normalization = normalizationOption(values.normalize);
  const decode = decodeOptionsFrom(values['max-pixels']);
  const labelMode = labelModeFromOptions(values);
  const options = augmentOptionsFrom(values);
  const rng = new Rng(intOption(values.seed, 'seed', 0)!);
  const pairs = await pairByStem(imagesDir, labelsDir);
  await mkdir(outDir, { recursive: true });
  for (const p of pairs) {
    const img = await readSingleImage(p.image, decode);
    const raw = await readSingleImage(p.label, decode);
    if (raw.height !== img.height || raw.width !== img.width) throw new Error(`${p.label} is ${raw.height}x${raw.width} but ${p.image} is ${img.height}x${img.width}`);
    const image = normalize(img, normalization, p.image);
    const labels = toClassIndices(raw, labelMode, classes, p.label);
    const { height: h, width: w, channels: c } = image;
    for (let k = 0; k < n; k++) {
      const tile = { image: Float32Array.from(image.data), labels: Int32Array.from(labels.data), weights: new Float32Array(h * w).fill(1) };
      const out = augmentTile(tile, h, w, c, rng, options);
      // Side by side: image (clipped to [0, 1] and scaled to 0..255) | label.
      const pic = new Uint8Array(h * 2 * w * c);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let ch = 0; ch < c; ch++) {
            pic[(y * 2 * w + x) * c + ch] = Math.round(255 * Math.min(1, Math.max(0, out.image[(y * w + x) * c + ch]!)));
            pic[(y * 2 * w + w + x) * c + ch] = Math.round((255 * out.labels[y * w + x]!) / Math.max(1, classes - 1));
          }
        }
      }
      await writeImage(join(outDir, `${p.name}_aug${k}.png`), makeRaster(pic, h, 2 * w, c));
    }
    process.stderr.write(`unet augment: ${p.name}: ${n} samples\n`);
  }
  return 0;
}
