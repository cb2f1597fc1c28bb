import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { augmentTile, type AugmentOptions } from '../../augment/augment.js';
import { pairByStem, readSingleImage, toClassIndices } from '../../io/dataset.js';
import { writeImage } from '../../io/image.js';
import { normalize, parseNormalization } from '../../io/normalize.js';
import { makeRaster } from '../../io/raster.js';
import { Rng } from '../../util/rng.js';
import { intOption, numberOption, requireOption, UsageError } from '../args.js';
import { labelModeFromOptions, LABEL_MODE_HELP, LABEL_MODE_OPTIONS } from './label-options.js';

/** Help for the augmentation flags shared with `unet train`. */
export const AUGMENT_FLAGS_HELP = `Augmentation (defaults are the paper's where it gives them):
  --elastic-std X      elastic displacement std in pixels, 0 = off (10)
  --elastic-grid N     coarse grid nodes per side (3)
  --rotation DEG       largest rotation angle (180: arbitrary)
  --shift PX           largest extra shift (0)
  --no-flips           no random flips
  --interpolation I    cubic | linear, for images (cubic)
  --brightness X --contrast X --gamma X --noise X   gray-value variation (0.1 0.1 0.2 0.01)`;

export const AUGMENT_HELP = `unet augment --images DIR --labels DIR --out DIR [--n 8] [--seed S] [options]

Writes N augmented versions of each image/label pair (matched by file name) as PNGs with
the image on the left and the label (class index scaled to 0..255) on the right, to check
the augmentation of Sec. 3.1 by eye.
  --n N                augmented copies per pair (8)
  --seed S             random seed (0)
  --normalize SPEC     dtype | range:MIN,MAX | minmax | percentile:LOW,HIGH | meanstd[:MEAN,STD]   (dtype)
  --classes N          number of classes (2)
${AUGMENT_FLAGS_HELP}
${LABEL_MODE_HELP}`;

/** Augmentation options shared with `unet train`. */
export const AUGMENT_OPTIONS = {
  'elastic-std': { type: 'string' },
  'elastic-grid': { type: 'string' },
  rotation: { type: 'string' },
  shift: { type: 'string' },
  'no-flips': { type: 'boolean' },
  interpolation: { type: 'string' },
  brightness: { type: 'string' },
  contrast: { type: 'string' },
  gamma: { type: 'string' },
  noise: { type: 'string' },
} as const;

export function augmentOptionsFrom(v: Record<string, string | boolean | undefined>): AugmentOptions {
  const num = (k: string): number | undefined => numberOption(v[k] as string | undefined, k);
  const std = num('elastic-std') ?? 10;
  const interpolation = (v.interpolation as string | undefined) ?? 'cubic';
  if (interpolation !== 'cubic' && interpolation !== 'linear') throw new UsageError(`--interpolation must be cubic or linear, got "${interpolation}"`);
  const o: Record<string, unknown> = {
    elastic: std === 0 ? false : { std, gridSize: intOption(v['elastic-grid'] as string | undefined, 'elastic-grid', 3)! },
    flips: !(v['no-flips'] ?? false),
    interpolation,
  };
  for (const k of ['rotation', 'shift', 'brightness', 'contrast', 'gamma', 'noise']) {
    const x = num(k);
    if (x !== undefined) o[k] = x;
  }
  return o as AugmentOptions;
}

export async function augmentCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      images: { type: 'string' },
      labels: { type: 'string' },
      out: { type: 'string' },
      n: { type: 'string' },
      seed: { type: 'string' },
      normalize: { type: 'string' },
      classes: { type: 'string' },
      ...AUGMENT_OPTIONS,
      ...LABEL_MODE_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${AUGMENT_HELP}\n`);
    return 0;
  }
  const imagesDir = requireOption(values.images, 'images');
  const labelsDir = requireOption(values.labels, 'labels');
  const outDir = requireOption(values.out, 'out');
  const n = intOption(values.n, 'n', 8)!;
  if (n < 1) throw new UsageError(`--n must be >= 1, got ${n}`);
  const classes = intOption(values.classes, 'classes', 2)!;
  const normalization = parseNormalization(values.normalize ?? 'dtype');
  const labelMode = labelModeFromOptions(values);
  const options = augmentOptionsFrom(values);
  const rng = new Rng(intOption(values.seed, 'seed', 0)!);
  const pairs = await pairByStem(imagesDir, labelsDir);
  await mkdir(outDir, { recursive: true });
  for (const p of pairs) {
    const img = await readSingleImage(p.image);
    const raw = await readSingleImage(p.label);
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
