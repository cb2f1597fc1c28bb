/**
 * bioimage.io export: a unet-ts model as a model package (format_version 0.5.7) that
 * deepImageJ (Fiji), napari, ilastik and bioimage.io's tools load.
 *
 * What goes in:
 *   bioimageio.yaml    the description (axes batch/channel/y/x, sizes, processing, weights, tests)
 *   weights.onnx       the graph of src/export/onnx.ts without the normalisation (it is declared as preprocessing)
 *   tfjs-layers.zip    the TF.js layers model (model.json + weights.bin), the original weights
 *   test_input.npy / test_output.npy   a crop of a sample image and unet-ts' (TF.js) output for it
 *   sample_input.png / sample_output.png, cover.png (overlay), README.md (documentation)
 *
 * Sizes: a 'valid' net's output is its input less 2 x margin on each axis, so the output axes
 * refer to the input's with offset -2 x margin and need no halo; a 'same' net keeps the size and
 * declares the margin a valid net of its depth would have as halo (the context its tile borders lack).
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { zipSync } from 'fflate';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../io/atomic.js';
import { applyProcessing, type ProcessingStep } from '../io/bioimageio.js';
import { encodePng } from '../io/png.js';
import { modelArtifacts, modelJson, type ModelMetadata } from '../io/model-format.js';
import { describeNormalization, type Normalization } from '../io/normalize.js';
import { writeNpy } from '../io/npy.js';
import type { PixelArray, Raster } from '../io/raster.js';
import { overlay, quantizeProbability } from '../infer/render.js';
import { marginPerSide, outputSize, validInputSizes } from '../model/size.js';
import { withInputSize } from '../model/unet.js';
import { exportOnnx, ONNX_OPSET } from './onnx.js';

export const BIOIMAGEIO_FORMAT_VERSION = '0.5.7';

export interface BioimageioExportOptions {
  /** A sample image (raw values, the model's channels) for the test tensors, the samples and the cover. */
  readonly sample: Raster<PixelArray>;
  /** Where the sample comes from, for the documentation. */
  readonly sampleName?: string;
  readonly name?: string;
  readonly authors?: readonly { readonly name: string; readonly affiliation?: string }[];
  readonly license?: string;
  /** For 'dtype' normalisation: the stored integer type of the inputs (default uint8). */
  readonly inputDtype?: 'uint8' | 'uint16';
  /** The package version of unet-ts, for the description's `config`. */
  readonly producerVersion?: string;
}

/** The declared preprocessing equivalent to unet-ts' normalisation `n`. */
export function preprocessingFor(n: Normalization, inputDtype: 'uint8' | 'uint16' = 'uint8'): ProcessingStep[] {
  const f32: ProcessingStep = { id: 'ensure_dtype', kwargs: { dtype: 'float32' } };
  switch (n.kind) {
    case 'dtype':
      return [f32, { id: 'scale_linear', kwargs: { gain: 1 / (inputDtype === 'uint8' ? 255 : 65535), offset: 0 } }];
    case 'range':
      return [f32, { id: 'scale_linear', kwargs: { gain: 1 / (n.max - n.min), offset: -n.min / (n.max - n.min) } }];
    case 'minmax':
      return [f32, { id: 'scale_range', kwargs: { axes: ['channel', 'y', 'x'], min_percentile: 0, max_percentile: 100 } }];
    case 'percentile':
      return [f32, { id: 'scale_range', kwargs: { axes: ['channel', 'y', 'x'], min_percentile: n.low, max_percentile: n.high } }, { id: 'clip', kwargs: { min: 0, max: 1 } }];
    case 'meanstd':
      return n.mean === undefined || n.std === undefined
        ? [f32, { id: 'zero_mean_unit_variance', kwargs: { axes: ['channel', 'y', 'x'] } }]
        : [f32, { id: 'fixed_zero_mean_unit_variance', kwargs: { mean: n.mean, std: n.std } }];
  }
}

/** Files of a package: name -> bytes, the description first. */
export type PackageFiles = Record<string, Uint8Array>;

/**
 * The package's files for `model` (nothing written). The test tensors are a crop of
 * `options.sample` to the largest valid input size that fits (at most 512), and unet-ts'
 * own output for it: TF.js' softmax of the net after the declared preprocessing.
 */
export async function bioimageioPackage(model: tfl.LayersModel, metadata: ModelMetadata, options: BioimageioExportOptions): Promise<PackageFiles> {
  const c = metadata.config;
  const sample = options.sample;
  if (sample.channels !== c.inputChannels) throw new Error(`bioimageioPackage: the sample has ${sample.channels} channel(s), the model takes ${c.inputChannels}`);
  const inputDtype = options.inputDtype ?? 'uint8';
  const valid = c.padding === 'valid';
  const step = 2 ** c.depth;
  const margin = marginPerSide({ ...c, padding: 'valid' });
  const halo = valid ? 0 : margin;
  const sizes = validInputSizes(c, 1, 4096).filter((s) => valid || s > 2 * halo);
  const min = sizes[0]!;
  const side = Math.min(sample.height, sample.width, 512);
  const testSize = [...sizes].reverse().find((s) => s <= side);
  if (testSize === undefined) throw new Error(`bioimageioPackage: the sample (${sample.height}x${sample.width}) is smaller than the smallest valid input ${min}`);
  const input = centreCrop(sample, testSize);
  const inputF32: Raster<Float32Array> = { data: Float32Array.from(input.data), height: testSize, width: testSize, channels: c.inputChannels };
  const preprocessing = preprocessingFor(metadata.normalization, inputDtype);
  const pre = applyProcessing(inputF32, preprocessing, 'preprocessing');
  const out = outputSize(testSize, c);
  const net = withInputSize(model, c, testSize);
  const probs = tf.tidy(() => tf.softmax(net.predict(tf.tensor4d(pre.data, [1, testSize, testSize, c.inputChannels])) as tf.Tensor4D).dataSync() as Float32Array);
  net.dispose();
  const K = c.classes;

  const nchw = (values: Float32Array, h: number, w: number, ch: number): Float32Array => {
    const dst = new Float32Array(values.length);
    for (let i = 0; i < h * w; i++) for (let k = 0; k < ch; k++) dst[k * h * w + i] = values[i * ch + k]!;
    return dst;
  };
  const files: PackageFiles = {};
  files['test_input.npy'] = writeNpy({ dtype: 'float32', shape: [1, c.inputChannels, testSize, testSize], data: nchw(inputF32.data, testSize, testSize, c.inputChannels) });
  files['test_output.npy'] = writeNpy({ dtype: 'float32', shape: [1, K, out, out], data: nchw(probs, out, out, K) });
  const onnx = exportOnnx(model, metadata, { embedNormalization: false, ...(options.producerVersion ? { producerVersion: options.producerVersion } : {}) });
  files['weights.onnx'] = onnx;
  const artifacts = await modelArtifacts(model);
  files['tfjs-layers.zip'] = zipSync({ 'model.json': new TextEncoder().encode(JSON.stringify(modelJson(artifacts))), 'weights.bin': new Uint8Array(artifacts.weightData as ArrayBuffer) });

  // Samples for people: the (cropped) input as PNG, the foreground probability (classes 1..K-1) as 8-bit PNG, and the overlay as cover.
  const offset = (testSize - out) / 2;
  const shown = centreCrop(input, out);
  const mask = new Uint8Array(out * out);
  const fg = new Float32Array(out * out);
  for (let i = 0; i < out * out; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (probs[i * K + k]! > probs[i * K + best]!) best = k;
    mask[i] = best;
    fg[i] = 1 - probs[i * K]!;
  }
  files['sample_input.png'] = encodePng(toPngRaster(input));
  files['sample_output.png'] = encodePng({ data: quantizeProbability(fg, 8), height: out, width: out, channels: 1 });
  files['cover.png'] = encodePng(overlay(shown, { data: mask, height: out, width: out, channels: 1 }, { mode: 'classes' }));
  files['README.md'] = new TextEncoder().encode(documentation(metadata, { testSize, out, min, step, halo, offset, sampleName: options.sampleName ?? 'a sample image', preprocessing }));

  const sha = (name: string): string => createHash('sha256').update(files[name]!).digest('hex');
  const channelNames = c.inputChannels === 1 ? ['gray'] : ['red', 'green', 'blue'];
  const spatialOut = (id: 'y' | 'x'): Record<string, unknown> => ({
    type: 'space',
    id,
    size: { tensor_id: 'image', axis_id: id, ...(valid ? { offset: -2 * margin } : {}) },
    ...(valid ? {} : { halo }),
  });
  const description = {
    format_version: BIOIMAGEIO_FORMAT_VERSION,
    type: 'model',
    name: options.name ?? `unet-ts ${metadata.classNames.join('-')} U-Net`.slice(0, 128),
    description: (metadata.description ?? `U-Net (Ronneberger et al. 2015) trained with unet-ts: ${metadata.classNames.join(', ')}`).slice(0, 1024),
    authors: (options.authors ?? [{ name: 'unet-ts contributors' }]).map((a) => ({ ...a })),
    cite: citations(metadata),
    license: options.license ?? 'MIT',
    tags: ['unet', 'unet-ts', '2d', 'segmentation', 'onnx', 'tensorflow-js'],
    documentation: 'README.md',
    covers: ['cover.png'],
    timestamp: metadata.createdAt,
    inputs: [
      {
        id: 'image',
        description: `raw intensities (${c.inputChannels === 1 ? 'gray' : 'RGB'}); unet-ts normalisation ${describeNormalization(metadata.normalization)}`,
        axes: [
          { type: 'batch' },
          { type: 'channel', channel_names: channelNames },
          { type: 'space', id: 'y', size: { min, step } },
          { type: 'space', id: 'x', size: { min, step } },
        ],
        test_tensor: { source: 'test_input.npy', sha256: sha('test_input.npy') },
        sample_tensor: { source: 'sample_input.png', sha256: sha('sample_input.png') },
        data: { type: 'float32' },
        preprocessing,
      },
    ],
    outputs: [
      {
        id: 'probabilities',
        description: `softmax class probabilities: ${metadata.classNames.join(', ')}`,
        axes: [{ type: 'batch' }, { type: 'channel', channel_names: metadata.classNames.map((n) => n.replace(/[^A-Za-z0-9_-]+/g, '_')) }, spatialOut('y'), spatialOut('x')],
        test_tensor: { source: 'test_output.npy', sha256: sha('test_output.npy') },
        sample_tensor: { source: 'sample_output.png', sha256: sha('sample_output.png') },
        data: { type: 'float32', range: [0, 1] },
      },
    ],
    weights: {
      tensorflow_js: { source: 'tfjs-layers.zip', sha256: sha('tfjs-layers.zip'), tensorflow_version: tf.version_core },
      onnx: { source: 'weights.onnx', sha256: sha('weights.onnx'), opset_version: ONNX_OPSET, parent: 'tensorflow_js' },
    },
    config: { 'unet-ts': { config: c, normalization: metadata.normalization, classNames: metadata.classNames, ...(options.producerVersion ? { version: options.producerVersion } : {}) } },
  };
  return { 'bioimageio.yaml': new TextEncoder().encode(stringify(description)), ...files };
}

/** Writes the package into a folder, or as one .zip when `out` ends in .zip. */
export async function writeBioimageioPackage(out: string, files: PackageFiles): Promise<string[]> {
  if (out.toLowerCase().endsWith('.zip')) {
    await mkdir(dirname(out), { recursive: true });
    await writeFileAtomic(out, zipSync(files));
    return [out];
  }
  await mkdir(out, { recursive: true });
  const written: string[] = [];
  for (const [name, bytes] of Object.entries(files)) {
    await writeFileAtomic(join(out, name), bytes);
    written.push(join(out, name));
  }
  return written;
}

function citations(m: ModelMetadata): Record<string, string>[] {
  const cite = [{ text: 'Ronneberger, O., Fischer, P., Brox, T. U-Net: Convolutional Networks for Biomedical Image Segmentation. MICCAI 2015.', doi: '10.1007/978-3-319-24574-4_28' }];
  const about = `${m.description ?? ''} ${JSON.stringify(m.training ?? {})}`;
  if (/isbi/i.test(about)) cite.push({ text: 'Arganda-Carreras, I. et al. Crowdsourcing the creation of image segmentation algorithms for connectomics (ISBI 2012 EM segmentation challenge). Front. Neuroanat. 2015.', doi: '10.3389/fnana.2015.00142' });
  if (/dsb|data science bowl/i.test(about)) cite.push({ text: 'Caicedo, J. C. et al. Nucleus segmentation across imaging experiments: the 2018 Data Science Bowl. Nat. Methods 2019.', doi: '10.1038/s41592-019-0612-7' });
  return cite;
}

function documentation(m: ModelMetadata, d: { testSize: number; out: number; min: number; step: number; halo: number; offset: number; sampleName: string; preprocessing: ProcessingStep[] }): string {
  const c = m.config;
  const evaluation = (m as unknown as { evaluation?: Record<string, unknown> }).evaluation;
  return [
    `# ${m.classNames.join(' / ')} U-Net (unet-ts)`,
    '',
    m.description ?? 'A U-Net (Ronneberger et al. 2015) trained with unet-ts.',
    '',
    '## Network',
    `Depth ${c.depth}, ${c.baseFilters} base filters, ${c.padding} padding${c.batchNorm ? ', batch norm' : ''}, ${c.inputChannels} input channel(s), ${c.classes} classes (${m.classNames.join(', ')}).`,
    c.padding === 'valid'
      ? `Valid convolutions: input sizes ${d.min} + k x ${d.step}; the output is ${2 * d.offset} px smaller than the input on each axis (tile with overlap, mirrored borders).`
      : `Same convolutions: input sizes ${d.min} + k x ${d.step}; crop a halo of ${d.halo} px from each output tile.`,
    '',
    '## Input and output',
    `Input: raw intensities; preprocessing ${d.preprocessing.map((s) => s.id).join(', ')} (unet-ts normalisation \`${describeNormalization(m.normalization)}\`). Output: softmax probabilities per class.`,
    '',
    '## Training and scores',
    '```json',
    JSON.stringify({ training: summarise(m.training), evaluation: evaluation ?? null }, null, 2),
    '```',
    '',
    ...beyondTheNetwork(m),
    '## How to run',
    '- unet-ts: `unet predict --model THIS_PACKAGE --out DIR IMAGES...` (or the original folder with `unet predict --model DIR`).',
    '- deepImageJ (Fiji) or napari / bioimageio.core: install this package; they read `bioimageio.yaml` and run `weights.onnx`.',
    `- Test tensors: a ${d.testSize} x ${d.testSize} crop of ${d.sampleName} and unet-ts' own (TF.js) output for it.`,
    '',
  ].join('\n');
}

/**
 * What `unet predict --model DIR` does with the original folder beyond one network pass, which
 * the package's ONNX weights alone do not: test-time augmentation and the tuned way objects are
 * made. Said so that other tools can do the same (or know why their result differs).
 */
function beyondTheNetwork(m: ModelMetadata): string[] {
  const lines: string[] = [];
  if (m.inference?.tta) lines.push('- Test-time augmentation: the probabilities averaged over the 8 flips/rotations of each tile (chosen on validation images, where it raised the score).');
  const pp = m.postprocess?.instances;
  if (pp) {
    const fg = pp.foregroundThreshold === undefined ? `the most likely class is one of ${pp.foregroundClasses.join(', ')}` : `the summed probability of class(es) ${pp.foregroundClasses.join(', ')} exceeds ${pp.foregroundThreshold}`;
    const split = pp.watershed ? `split by a watershed seeded where the probability of class(es) ${pp.seedClasses.join(', ')} is >= ${pp.seedThreshold}${pp.seedErosion ? ` and more than ${pp.seedErosion} px inside such a region (the seed regions eroded by a disc)` : ''}` : 'connected components';
    lines.push(`- Objects: pixels where ${fg}, ${split}, objects under ${pp.minSize} px dropped${pp.tuned ? ' (tuned on validation images)' : ''}.`);
  }
  return lines.length === 0 ? [] : ['## Beyond the network (what unet-ts adds)', ...lines, ''];
}

function summarise(t: ModelMetadata['training']): unknown {
  if (!t) return null;
  const keep = ['iterations', 'seed', 'optimizer', 'learningRate', 'tile', 'command', 'normalization'];
  return Object.fromEntries(Object.entries(t).filter(([k]) => keep.includes(k)));
}

function centreCrop<T extends PixelArray>(r: Raster<T>, size: number): Raster<T> {
  const top = Math.floor((r.height - size) / 2);
  const left = Math.floor((r.width - size) / 2);
  const C = r.channels;
  const data = new (r.data.constructor as new (n: number) => T)(size * size * C);
  for (let y = 0; y < size; y++) data.set(r.data.subarray(((top + y) * r.width + left) * C, ((top + y) * r.width + left + size) * C) as never, y * size * C);
  return { data, height: size, width: size, channels: C };
}

function toPngRaster(r: Raster<PixelArray>): Raster<Uint8Array | Uint16Array> {
  if (r.data instanceof Uint8Array || r.data instanceof Uint16Array) return r as Raster<Uint8Array | Uint16Array>;
  const u = new Uint16Array(r.data.length);
  for (let i = 0; i < u.length; i++) u[i] = Math.max(0, Math.min(65535, Math.round(r.data[i]!)));
  return { data: u, height: r.height, width: r.width, channels: r.channels };
}
