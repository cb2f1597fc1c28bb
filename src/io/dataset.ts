/**
 * Datasets on disk: an images folder and a labels folder matched by file stem.
 * Every problem (no images, unmatched names, size mismatch, unexpected label values)
 * is reported with the offending file names before any training starts.
 */
import { readdir } from 'node:fs/promises';
import { extname, join, parse } from 'node:path';
import { readPng } from './png.js';
import { channel, type LabelMap, type Raster } from './raster.js';
import { normalize, type Normalization } from './normalize.js';
import type { TrainingSample } from '../train/tiles.js';

export const IMAGE_EXTENSIONS = ['.png'];

/**
 * How label files become class indices.
 * - binary: value > threshold is class 1, else 0; `invert` swaps them (ISBI 2012 labels are
 *   255 = cell interior, 0 = membrane, so `invert` makes the membrane class 1).
 * - classes: the stored value is the class index and must be < classes.
 */
export type LabelMode = { readonly mode: 'binary'; readonly threshold: number; readonly invert: boolean } | { readonly mode: 'classes' };

export const DEFAULT_LABEL_MODE: LabelMode = { mode: 'binary', threshold: 127, invert: false };

export async function listImages(dir: string, caller = 'listImages'): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new Error(`${caller}: cannot read folder ${dir} (${(e as NodeJS.ErrnoException).code})`);
  }
  const files = names.filter((n) => IMAGE_EXTENSIONS.includes(extname(n).toLowerCase()) && !n.startsWith('.')).sort();
  if (files.length === 0) throw new Error(`${caller}: ${dir} holds no images (looked for ${IMAGE_EXTENSIONS.join(', ')})`);
  return files.map((n) => join(dir, n));
}

/** Pairs image and label files by stem; throws listing every unmatched name. */
export async function pairByStem(imagesDir: string, labelsDir: string): Promise<{ image: string; label: string; name: string }[]> {
  const images = await listImages(imagesDir, 'dataset images');
  const labels = await listImages(labelsDir, 'dataset labels');
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
  for (let i = 0; i < out.length; i++) {
    const v = raw.data[i]!;
    if (mode.mode === 'binary') {
      const fg = v > mode.threshold ? 1 : 0;
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

export interface LoadDatasetOptions {
  readonly normalization: Normalization;
  readonly labelMode: LabelMode;
  readonly classes: number;
  /** Model input channels: gray images are used as they are for 1; RGB for 3. */
  readonly channels: number;
}

/** Reads and checks a whole folder pair into memory as training samples. */
export async function loadDataset(imagesDir: string, labelsDir: string, opts: LoadDatasetOptions): Promise<TrainingSample[]> {
  const pairs = await pairByStem(imagesDir, labelsDir);
  const samples: TrainingSample[] = [];
  for (const p of pairs) {
    let img = await readPng(p.image);
    if (img.channels !== opts.channels) {
      if (opts.channels === 1 && img.channels >= 3) throw new Error(`dataset: ${p.image} is RGB but the model takes 1 channel; use --channels 3`);
      if (opts.channels === 1 && img.channels === 2) img = channel(img, 0);
      else throw new Error(`dataset: ${p.image} has ${img.channels} channels, the model takes ${opts.channels}`);
    }
    const raw = await readPng(p.label);
    if (raw.height !== img.height || raw.width !== img.width) {
      throw new Error(`dataset: ${p.label} is ${raw.height}x${raw.width} but ${p.image} is ${img.height}x${img.width}`);
    }
    samples.push({ name: p.name, image: normalize(img, opts.normalization, p.image), labels: toClassIndices(raw, opts.labelMode, opts.classes, p.label) });
  }
  return samples;
}
