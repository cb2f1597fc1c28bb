/**
 * Class probability maps on disk, from any network (`unet predict --outputs prob`, or another
 * framework such as experiments/nuclei/torch_reference.py), turned into instances by the same
 * post-processing `unet predict --outputs instances` applies (src/infer/instances.ts). This is
 * how a foreign network's probabilities are tuned (`unet tune --probs`) and scored
 * (`unet instances`) exactly like a unet-ts model's. Node-only (reads and writes files).
 *
 * Accepted files, paired with labels by the stem before the suffix:
 *   <stem>_prob.tif   float32 probabilities in [0, 1], one page per class (what `unet predict` writes),
 *                     or a single page holding the foreground probability p of a 2-class model
 *   <stem>_prob.png   8- or 16-bit foreground probability (p = value / 255 or / 65535), 2 classes
 * A single map p stands for the classes [background 1 - p, foreground p].
 */
import { mkdir } from 'node:fs/promises';
import { join, parse } from 'node:path';
import { checkStems, listImages } from '../io/dataset.js';
import { readImage, writeImage } from '../io/image.js';
import type { DecodeOptions } from '../io/image-codecs.js';
import type { InstancePostprocess } from '../io/model-format.js';
import type { Raster } from '../io/raster.js';
import { parsePredictionName } from '../eval/evaluate.js';
import { instanceImage, instancesFromProbabilities } from './instances.js';

/** The probability files of a folder: stem and path, sorted by stem (see the module doc for the names). */
export async function listProbabilityFiles(dir: string, caller = 'probability maps'): Promise<{ stem: string; path: string }[]> {
  const files = (await listImages(dir, caller)).filter((f) => {
    const kind = parsePredictionName(f).kind;
    return kind === 'prob' || kind === 'probTiff';
  });
  if (files.length === 0) throw new Error(`${caller}: ${dir} holds no <stem>_prob.tif or <stem>_prob.png files`);
  const byStem = new Map<string, string>();
  for (const f of files) {
    const stem = parsePredictionName(f).stem;
    // Two maps of one stem (a_prob.png and a_prob.tif) would pair with one label: refuse.
    const other = byStem.get(stem);
    if (other !== undefined) throw new Error(`${caller}: ${other} and ${f} are both maps of "${stem}"; keep one`);
    byStem.set(stem, f);
  }
  return [...byStem].map(([stem, path]) => ({ stem, path })).sort((a, b) => (a.stem < b.stem ? -1 : a.stem > b.stem ? 1 : 0));
}

/** Values of a raster as probabilities: 8-bit / 255, 16-bit / 65535, floats as they are; each must lie in [0, 1]. */
function unitValues(r: Raster, source: string): Float32Array {
  if (r.channels !== 1) throw new Error(`${source}: a probability page must have one channel, got ${r.channels}`);
  const scale = r.data instanceof Uint8Array ? 1 / 255 : r.data instanceof Uint16Array ? 1 / 65535 : r.data instanceof Float32Array ? 1 : null;
  if (scale === null) throw new Error(`${source}: probabilities must be 8- or 16-bit integers or float32, got ${r.data.constructor.name}`);
  const out = new Float32Array(r.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = r.data[i]! * scale;
    if (!(v >= 0 && v <= 1)) throw new Error(`${source}: value ${r.data[i]} at pixel (${i % r.width}, ${Math.floor(i / r.width)}) is not a probability in [0, 1]`);
    out[i] = v;
  }
  return out;
}

/**
 * The H x W x K class probabilities of one file: K pages as K classes, or one page p as the two
 * classes [1 - p, p].
 *
 * @example a 1-page 16-bit PNG with values 0 and 65535 -> channels 2, pixel 0 [1, 0], pixel 1 [0, 1]
 */
export async function readProbabilityMap(path: string, options: DecodeOptions = {}): Promise<Raster<Float32Array>> {
  const pages = await readImage(path, options);
  const first = pages[0]!;
  for (const [k, p] of pages.entries()) {
    if (p.height !== first.height || p.width !== first.width) throw new Error(`${path}: page ${k + 1} is ${p.height}x${p.width}, page 1 is ${first.height}x${first.width}`);
  }
  const planes = pages.map((p, k) => unitValues(p, pages.length > 1 ? `${path} page ${k + 1}` : path));
  const n = first.height * first.width;
  if (planes.length === 1) {
    const p = planes[0]!;
    const data = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      data[2 * i] = 1 - p[i]!;
      data[2 * i + 1] = p[i]!;
    }
    return { data, height: first.height, width: first.width, channels: 2 };
  }
  const K = planes.length;
  const data = new Float32Array(K * n);
  for (let c = 0; c < K; c++) for (let i = 0; i < n; i++) data[i * K + c] = planes[c]![i]!;
  return { data, height: first.height, width: first.width, channels: K };
}

/** A probability file and the label file of the same stem. */
export interface ProbabilityLabelPair {
  readonly name: string;
  readonly probabilities: string;
  readonly label: string;
}

/**
 * Pairs the probability maps of `probsDir` with the label files of `labelsDir` by stem; throws
 * listing every map without a label and every label without a map (tuning on a silent subset
 * would tune on other images than meant).
 */
export async function pairProbabilityFiles(probsDir: string, labelsDir: string): Promise<ProbabilityLabelPair[]> {
  const probs = await listProbabilityFiles(probsDir, 'probability maps');
  const labels = await listImages(labelsDir, 'labels');
  checkStems(labels, 'labels', 'but labels are matched by stem; keep one');
  const labelByStem = new Map(labels.map((l) => [parse(l).name, l]));
  const probStems = new Set(probs.map((p) => p.stem));
  const noLabel = probs.filter((p) => !labelByStem.has(p.stem)).map((p) => p.path);
  const noProb = labels.filter((l) => !probStems.has(parse(l).name));
  if (noLabel.length || noProb.length) {
    const parts: string[] = [];
    if (noLabel.length) parts.push(`maps without a label: ${noLabel.join(', ')}`);
    if (noProb.length) parts.push(`labels without a map: ${noProb.join(', ')}`);
    throw new Error(`${probsDir} and ${labelsDir} do not match by stem; ${parts.join('; ')}`);
  }
  return probs.map((p) => ({ name: p.stem, probabilities: p.path, label: labelByStem.get(p.stem)! }));
}

export interface InstanceFilesResult {
  /** One entry per map, in stem order: the file written and its object count. */
  readonly files: readonly { readonly stem: string; readonly written: string; readonly count: number }[];
}

/**
 * Writes `<stem>_instances.png` (16-bit ids; a 32-bit `.tif` beyond 65535 objects, as `unet
 * predict` does) into `outDir` for every probability map of `probsDir`, with the post-processing `pp`.
 */
export async function writeInstancesFromProbabilityFiles(probsDir: string, outDir: string, pp: InstancePostprocess, options: DecodeOptions = {}): Promise<InstanceFilesResult> {
  const maps = await listProbabilityFiles(probsDir, 'probability maps');
  await mkdir(outDir, { recursive: true });
  const files: { stem: string; written: string; count: number }[] = [];
  for (const m of maps) {
    const probs = await readProbabilityMap(m.path, options);
    let inst;
    try {
      inst = instancesFromProbabilities(probs, pp);
    } catch (e) {
      throw new Error(`${m.path}: ${(e as Error).message}`, { cause: e });
    }
    const stored = instanceImage(inst, probs.height, probs.width);
    const written = join(outDir, `${m.stem}${stored.file}`);
    await writeImage(written, stored.raster);
    files.push({ stem: m.stem, written, count: inst.count });
  }
  return { files };
}
