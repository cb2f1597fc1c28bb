/**
 * Datasets on disk: an images folder and a labels folder matched by file stem, or a pair
 * of multi-page TIFF stacks (ISBI 2012 train-volume.tif / train-labels.tif) matched by page.
 * Every problem (no images, unmatched names, size or page-count mismatch, unexpected label
 * values) is reported with the offending file names before any training starts.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join, parse } from 'node:path';
import { readImage } from './image.js';
import type { DecodeOptions } from './image-codecs.js';
import { toModelChannels, type LabelMap, type Raster } from './raster.js';
import { normalize, type Normalization } from './normalize.js';
import type { TrainingSample } from '../train/tiles.js';
import { boundaryTargets, interiorObjects } from '../loss/targets.js';
import { instancesFromMask, separateTouching, weightMap, type WeightMapOptions } from '../loss/weight-map.js';
import type { Connectivity } from '../util/components.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.tif', '.tiff'];

/**
 * How label files become class indices.
 * - binary: value > threshold is class 1, else 0; `invert` swaps them (ISBI 2012 labels are
 *   255 = cell interior, 0 = membrane, so `invert` makes the membrane class 1). A label image
 *   whose values are all 0 or 1 is a 0/1 mask, what many tools write: 1 is foreground
 *   whatever the threshold (see binaryThreshold). 1-bit PNG/TIFF masks read as 0/255.
 * - classes: the stored value is the class index and must be < classes.
 * - instances: the stored value is an instance id (0 = background, 1..N = objects, e.g. the
 *   16-bit PNGs of dsb2018_nuclei). `targets` chooses what the network learns:
 *   - 'separated' (default, the paper's): class = id > 0 ? 1 : 0, two classes. With `separate`
 *     (default true) a one-pixel background line is cut between touching objects first
 *     (Sec. 3, Fig. 3c; see separateTouching in src/loss/weight-map.ts), under `connectivity`
 *     (default 8).
 *   - 'boundary': three classes, background 0 / interior 1 / boundary 2, every object's inner
 *     outline being boundary (src/loss/targets.ts); `separate` does not apply, and the weight
 *     map sees the interiors as the objects.
 */
export type InstanceTargets = 'separated' | 'boundary';
export type LabelMode =
  | { readonly mode: 'binary'; readonly threshold: number; readonly invert: boolean }
  | { readonly mode: 'classes' }
  | { readonly mode: 'instances'; readonly separate?: boolean; readonly connectivity?: Connectivity; readonly targets?: InstanceTargets };

/** Classes a label mode needs: 3 for boundary targets, else undefined (the model's choice). */
export function classesForLabelMode(mode: LabelMode): number | undefined {
  return mode.mode === 'instances' && mode.targets === 'boundary' ? 3 : undefined;
}

/** Binary labels split at 127, the middle of 8-bit values: 0/255 masks and anti-aliased ones alike. */
export const DEFAULT_BINARY_THRESHOLD = 127;

export const DEFAULT_LABEL_MODE: LabelMode = { mode: 'binary', threshold: DEFAULT_BINARY_THRESHOLD, invert: false };

/**
 * Connectivity of the objects found as connected components of binary or class labels (for the
 * weight map): 4, so that two cells touching only at a corner stay two objects.
 */
export const DEFAULT_CONNECTIVITY: Connectivity = 4;

/**
 * The threshold binary mode applies to `raw`: `threshold`, except for a 0/1 mask (every value
 * 0 or 1, e.g. labels saved as 0/1 in an 8-bit PNG), where it is 0 so that 1 is foreground;
 * with the default 127 such a mask would otherwise train on all-background labels.
 * @example binaryThreshold({ data: Uint8Array.of(0, 1), height: 1, width: 2, channels: 1 }, 127) === 0
 * @example binaryThreshold({ data: Uint8Array.of(0, 255), height: 1, width: 2, channels: 1 }, 127) === 127
 */
export function binaryThreshold(raw: Raster, threshold: number): number {
  if (threshold < 1) return threshold;
  for (const v of raw.data) if (v !== 0 && v !== 1) return threshold;
  return 0;
}

/** Reads a file that must hold exactly one image (not a stack). */
export async function readSingleImage(path: string, options: DecodeOptions = {}): Promise<Raster> {
  const pages = await readImage(path, options);
  if (pages.length !== 1) throw new Error(`dataset: ${path} has ${pages.length} pages; in a folder dataset every file must hold one image (pass two stack files instead of folders for stacks)`);
  return pages[0]!;
}

/**
 * The image files of a folder (IMAGE_EXTENSIONS, not recursive, dot files skipped), sorted.
 * `caller` starts the messages, e.g. 'evaluate --truth'; both errors name the folder.
 * @example await listImages('data/images', 'dataset images') // ['data/images/a.png', 'data/images/b.tif']
 * @throws "dataset images: data/empty holds no images (looked for .png, .jpg, .jpeg, .tif, .tiff)"
 */
export async function listImages(dir: string, caller = 'listImages'): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new Error(`${caller}: cannot read folder ${dir} (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
  const files = names.filter((n) => IMAGE_EXTENSIONS.includes(extname(n).toLowerCase()) && !n.startsWith('.')).sort();
  if (files.length === 0) throw new Error(`${caller}: ${dir} holds no images (looked for ${IMAGE_EXTENSIONS.join(', ')})`);
  return files.map((n) => join(dir, n));
}

/**
 * Files as given, folders replaced by their images ({@link listImages}), in order: what a
 * command taking IMAGE_OR_DIR... reads.
 * @throws "predict: scans/x.png does not exist"
 */
export async function collectImages(paths: readonly string[], caller: string): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `${caller}: ${p} does not exist` : `${caller}: cannot read ${p} (${code})`, { cause: e });
    }
    if (isDir) files.push(...(await listImages(p, caller)));
    else files.push(p);
  }
  return files;
}

/**
 * Refuses files that share a stem (x.png and x.tif, or a/x.png and b/x.png) where files are
 * told apart by stem, listing every clash with both names and `consequence`.
 * @throws "dataset images: d/x.png and d/x.tif have the same stem "x", but images are matched by stem; keep one"
 */
export function checkStems(files: readonly string[], caller: string, consequence: string): void {
  const byStem = new Map<string, string>();
  const clashes: string[] = [];
  for (const f of files) {
    const stem = parse(f).name;
    const other = byStem.get(stem);
    if (other !== undefined) clashes.push(other === f ? `${f} is given twice` : `${other} and ${f} have the same stem "${stem}"`);
    else byStem.set(stem, f);
  }
  if (clashes.length) throw new Error(`${caller}: ${clashes.join('; ')}, ${consequence}`);
}

/**
 * Pairs the image and label files of two folders by stem (a.png with a.tif); throws listing
 * every unmatched name, and on two files of one folder with the same stem.
 */
export async function pairByStem(imagesDir: string, labelsDir: string): Promise<{ image: string; label: string; name: string }[]> {
  const images = await listImages(imagesDir, 'dataset images');
  const labels = await listImages(labelsDir, 'dataset labels');
  checkStems(images, 'dataset images', 'but images are matched by stem; keep one');
  checkStems(labels, 'dataset labels', 'but labels are matched by stem; keep one');
  const labelByStem = new Map(labels.map((p) => [parse(p).name, p]));
  const imageStems = new Set(images.map((p) => parse(p).name));
  const noLabel = images.filter((p) => !labelByStem.has(parse(p).name));
  const noImage = labels.filter((p) => !imageStems.has(parse(p).name));
  if (noLabel.length || noImage.length) {
    const parts: string[] = [];
    if (noLabel.length) parts.push(`images without a label: ${noLabel.join(', ')}`);
    if (noImage.length) parts.push(`labels without an image: ${noImage.join(', ')}`);
    throw new Error(`dataset: ${imagesDir} and ${labelsDir} do not match by file name; ${parts.join('; ')}`);
  }
  return images.map((image) => ({ image, label: labelByStem.get(parse(image).name)!, name: parse(image).name }));
}

/** Converts a label raster to class indices under `mode`, checking its values. */
export function toClassIndices(raw: Raster, mode: LabelMode, classes: number, source: string): LabelMap {
  if (raw.channels !== 1) throw new Error(`labels: ${source} has ${raw.channels} channels; label images must be single-channel`);
  const out = new Uint8Array(raw.height * raw.width);
  if (mode.mode === 'instances') {
    const ids = instanceIds(raw, mode, source);
    if (mode.targets === 'boundary') {
      if (classes !== 3) throw new Error(`labels: boundary targets (background, interior, boundary) need a 3-class model, got ${classes} classes (reading ${source})`);
      return { data: boundaryTargets(ids, raw.height, raw.width), height: raw.height, width: raw.width, channels: 1 };
    }
    for (let i = 0; i < out.length; i++) out[i] = ids[i]! > 0 ? 1 : 0;
    return { data: out, height: raw.height, width: raw.width, channels: 1 };
  }
  const threshold = mode.mode === 'binary' ? binaryThreshold(raw, mode.threshold) : 0;
  for (let i = 0; i < out.length; i++) {
    const v = raw.data[i]!;
    if (mode.mode === 'binary') {
      const fg = v > threshold ? 1 : 0;
      out[i] = mode.invert ? 1 - fg : fg;
    } else {
      if (!Number.isInteger(v) || v < 0 || v >= classes) {
        throw new Error(`labels: ${source} has value ${v} at pixel (${i % raw.width}, ${Math.floor(i / raw.width)}); class-index labels must be integers in [0, ${classes - 1}]`);
      }
      out[i] = v;
    }
  }
  return { data: out, height: raw.height, width: raw.width, channels: 1 };
}

/**
 * Instance ids of an instance-mode label raster (Int32, 0 = background), after cutting the
 * separating line between touching objects when `mode.separate` is not false.
 */
export function instanceIds(raw: Raster, mode: Extract<LabelMode, { mode: 'instances' }>, source: string): Int32Array {
  if (raw.channels !== 1) throw new Error(`labels: ${source} has ${raw.channels} channels; instance labels must be single-channel`);
  const ids = new Int32Array(raw.height * raw.width);
  for (let i = 0; i < ids.length; i++) {
    const v = raw.data[i]!;
    if (!Number.isInteger(v) || v < 0) {
      throw new Error(`labels: ${source} has value ${v} at pixel (${i % raw.width}, ${Math.floor(i / raw.width)}); instance labels must be integers >= 0`);
    }
    ids[i] = v;
  }
  return mode.separate === false || mode.targets === 'boundary' ? ids : separateTouching(ids, raw.height, raw.width, mode.connectivity ?? 8);
}

/**
 * The objects ("cells") of a label raster for the weight map (Sec. 3):
 * - instances: the instance ids (after separation);
 * - binary: connected components of the pixels with value > threshold, before `invert`
 *   (for ISBI 2012, 255 = cell interior: the cells are the objects whether or not the
 *   membrane is made class 1);
 * - classes: connected components of the pixels with a class index > 0.
 */
export function labelObjects(raw: Raster, mode: LabelMode, source: string, connectivity: Connectivity = DEFAULT_CONNECTIVITY): Int32Array {
  if (raw.channels !== 1) throw new Error(`labels: ${source} has ${raw.channels} channels; label images must be single-channel`);
  if (mode.mode === 'instances') return instanceIds(raw, mode, source);
  const threshold = mode.mode === 'binary' ? binaryThreshold(raw, mode.threshold) : 0;
  return instancesFromMask(raw.data, raw.height, raw.width, connectivity, (v) => v > threshold);
}

/** Class indices and, when `weights` is given, the weight map of Eq. (2) for one label raster. */
export function prepareLabels(
  raw: Raster,
  opts: Pick<LoadDatasetOptions, 'labelMode' | 'classes' | 'weightMap' | 'connectivity'>,
  source: string,
): { labels: LabelMap; weights?: Raster<Float32Array> } {
  const labels = toClassIndices(raw, opts.labelMode, opts.classes, source);
  if (!opts.weightMap) return { labels };
  const objects = labelObjects(raw, opts.labelMode, source, opts.connectivity ?? DEFAULT_CONNECTIVITY);
  const boundary = opts.labelMode.mode === 'instances' && opts.labelMode.targets === 'boundary';
  const ids = boundary ? interiorObjects(objects, labels.data) : objects;
  const instances = { data: ids, height: raw.height, width: raw.width, channels: 1 };
  return { labels, weights: weightMap(instances, labels, opts.classes, opts.weightMap) };
}

export interface LoadDatasetOptions {
  readonly normalization: Normalization;
  readonly labelMode: LabelMode;
  readonly classes: number;
  /** Model input channels: gray images are used as they are for 1; RGB for 3. */
  readonly channels: number;
  /**
   * Precompute the weight map of Eq. (2) for every image with these options (kept in
   * memory with the sample, computed once per image). Absent or false: all weights 1.
   */
  readonly weightMap?: WeightMapOptions | false;
  /** Connectivity of objects found as connected components (binary / classes labels). Default DEFAULT_CONNECTIVITY (4). */
  readonly connectivity?: Connectivity;
  /** Largest image (pixels per page) the decoders accept; default DEFAULT_MAX_PIXELS. */
  readonly maxPixels?: number;
  /**
   * Called with a message for each suspicious but usable input (the library never prints):
   * today a label image that is all background after thresholding.
   */
  readonly onWarning?: (message: string) => void;
}

/** Why a label image holds no foreground, for the warning; null when it has some. */
function allBackground(labels: LabelMap, raw: Raster, mode: LabelMode): string | null {
  for (const v of labels.data) if (v !== 0) return null;
  let max = -Infinity;
  for (const v of raw.data) if (v > max) max = v;
  const rule = mode.mode === 'binary' ? `value > ${binaryThreshold(raw, mode.threshold)}${mode.invert ? ', inverted' : ''}` : mode.mode === 'classes' ? 'class index > 0' : 'instance id > 0';
  return `every pixel is background (${mode.mode} labels, foreground = ${rule}; largest value ${max}); check --label-mode / --threshold / --invert`;
}

function makeSample(name: string, img: Raster, raw: Raster, imageSource: string, labelSource: string, opts: LoadDatasetOptions): TrainingSample {
  if (raw.height !== img.height || raw.width !== img.width) {
    throw new Error(`dataset: ${labelSource} is ${raw.height}x${raw.width} but ${imageSource} is ${img.height}x${img.width}`);
  }
  const image = normalize(toModelChannels(img, opts.channels, imageSource, 'dataset'), opts.normalization, imageSource);
  const prepared = prepareLabels(raw, opts, labelSource);
  const empty = allBackground(prepared.labels, raw, opts.labelMode);
  if (empty) opts.onWarning?.(`dataset: ${labelSource}: ${empty}`);
  // The ids as drawn (no separating line cut), the truth `unet evaluate` and the tuning score against.
  const instances = opts.labelMode.mode === 'instances' ? instanceIds(raw, { ...opts.labelMode, separate: false }, labelSource) : undefined;
  return { name, image, ...prepared, ...(instances ? { instances } : {}) };
}

/**
 * Reads and checks a whole dataset into memory as training samples: either two folders
 * (images and labels matched by stem) or two multi-page TIFF files (matched by page;
 * sample names are STEM_PAGE, page from 0).
 */
export async function loadDataset(imagesDir: string, labelsDir: string, opts: LoadDatasetOptions): Promise<TrainingSample[]> {
  const [imagesIsFile, labelsIsFile] = await Promise.all([isFile(imagesDir), isFile(labelsDir)]);
  if (imagesIsFile !== labelsIsFile) {
    throw new Error(`dataset: ${imagesIsFile ? imagesDir : labelsDir} is a file but ${imagesIsFile ? labelsDir : imagesDir} is not; give two folders or two stack files`);
  }
  if (imagesIsFile) return loadStackPair(imagesDir, labelsDir, opts);
  const pairs = await pairByStem(imagesDir, labelsDir);
  const samples: TrainingSample[] = [];
  const decode = opts.maxPixels === undefined ? {} : { maxPixels: opts.maxPixels };
  for (const p of pairs) samples.push(makeSample(p.name, await readSingleImage(p.image, decode), await readSingleImage(p.label, decode), p.image, p.label, opts));
  return samples;
}

/** A pair of multi-page stacks: page k of the labels belongs to page k of the images. */
export async function loadStackPair(imagesPath: string, labelsPath: string, opts: LoadDatasetOptions): Promise<TrainingSample[]> {
  const decode = opts.maxPixels === undefined ? {} : { maxPixels: opts.maxPixels };
  const [images, labels] = await Promise.all([readImage(imagesPath, decode), readImage(labelsPath, decode)]);
  if (images.length !== labels.length) {
    throw new Error(`dataset: ${imagesPath} has ${images.length} pages but ${labelsPath} has ${labels.length}; image and label stacks must have the same page count`);
  }
  const stem = parse(imagesPath).name;
  return images.map((img, k) => makeSample(`${stem}_${k}`, img, labels[k]!, `${imagesPath} page ${k + 1}`, `${labelsPath} page ${k + 1}`, opts));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (e) {
    throw new Error(`dataset: cannot read ${path} (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
}
