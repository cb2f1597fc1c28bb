/**
 * The saved-model format, shared by Node and the browser:
 *   model.json   TF.js layers format (topology + weights manifest)
 *   weights.bin  the weight shard
 *   unet.json    {@link ModelMetadata}: config, normalisation, classes, tile sizes, training summary
 * The browser loads it with {@link loadModelFromUrl}; Node reads the folder (model-files.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../model/dropout.js'; // registers the custom layer for deserialisation
import { fuseConvRelu } from '../model/fused-conv.js';
import { cropInOneSlice } from '../model/crop.js';
import { resolveConfig, type UNetConfig } from '../model/config.js';
import { outputSize, validInputSizes } from '../model/size.js';
import type { Normalization } from './normalize.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const METADATA_JSON = 'unet.json';
export const FORMAT = 'unet-ts-model';

export interface ModelMetadata {
  readonly format: typeof FORMAT;
  readonly version: 1;
  readonly config: UNetConfig;
  /** Tile shape the saved topology was built for. */
  readonly tileSize: readonly [number, number];
  /** Output shape for that tile. */
  readonly outputSize: readonly [number, number];
  /** Valid square input sizes from the smallest up to 1024 (any of them works after a rebuild). */
  readonly validTileSizes: readonly number[];
  readonly normalization: Normalization;
  /** One name per output class. */
  readonly classNames: readonly string[];
  /** How label files were read in training, e.g. { mode: 'binary', threshold: 127, invert: false }. */
  readonly labels?: Readonly<Record<string, unknown>>;
  readonly training?: Readonly<Record<string, unknown>>;
  readonly createdAt: string;
  readonly description?: string;
  /** How weights.bin stores the weights; absent means float32. */
  readonly weightsDtype?: 'float32' | 'float16';
  /** How `unet predict --outputs instances` turns probabilities into objects, unless told otherwise. */
  readonly postprocess?: { readonly instances?: InstancePostprocess };
  /** How `unet predict` (and the web app) runs the network on this model unless told otherwise. */
  readonly inference?: InferenceChoice;
}

/**
 * Inference settings chosen on validation images (`unet tune`, or the end of instance training):
 * `tta` averages the 8 flips/rotations of each tile (Sec. 3.3 of the paper) when they raised the
 * validation score enough to pay for 8 network passes. `tuned` records the comparison.
 */
export interface InferenceChoice {
  readonly tta: boolean;
  readonly tuned?: Readonly<Record<string, unknown>>;
}

/**
 * Instances from the class probabilities (src/infer/instances.ts): the pixels whose most likely
 * class is one of `foregroundClasses` are objects; with `watershed`, the summed probability of
 * `seedClasses` seeds a marker-controlled watershed where it is >= `seedThreshold` (and, with
 * `seedErosion`, more than that many pixels inside such a region) and is the landscape the seeds
 * flood; objects under `minSize` pixels are dropped. With
 * `foregroundThreshold`, object pixels are instead those whose summed `foregroundClasses`
 * probability exceeds it (objectPixels in src/infer/instances.ts says why). `tuned` records the
 * search that chose the values (src/train/tune.ts), when one did.
 */
export interface InstancePostprocess {
  readonly foregroundClasses: readonly number[];
  readonly watershed: boolean;
  readonly seedClasses: readonly number[];
  readonly seedThreshold: number;
  /** Seeds shrunk by a disc of this radius in pixels, breaking the necks between touching objects; absent: 0 (none). */
  readonly seedErosion?: number;
  readonly minSize: number;
  /** Absent: the argmax decides (the most likely class is a foreground class). */
  readonly foregroundThreshold?: number;
  readonly tuned?: Readonly<Record<string, unknown>>;
}

export function makeMetadata(args: {
  config: UNetConfig;
  tileSize: readonly [number, number];
  normalization: Normalization;
  classNames?: readonly string[];
  labels?: Record<string, unknown>;
  training?: Record<string, unknown>;
  description?: string;
  postprocess?: ModelMetadata['postprocess'];
  inference?: InferenceChoice;
}): ModelMetadata {
  const config = resolveConfig(args.config);
  const classNames = args.classNames ?? Array.from({ length: config.classes }, (_, i) => `class${i}`);
  if (classNames.length !== config.classes) throw new Error(`makeMetadata: ${classNames.length} class names for ${config.classes} classes`);
  return {
    format: FORMAT,
    version: 1,
    config,
    tileSize: args.tileSize,
    outputSize: [outputSize(args.tileSize[0], config, 'makeMetadata'), outputSize(args.tileSize[1], config, 'makeMetadata')],
    validTileSizes: validInputSizes(config, 1, 1024),
    normalization: args.normalization,
    classNames,
    ...(args.labels ? { labels: args.labels } : {}),
    ...(args.training ? { training: args.training } : {}),
    createdAt: new Date().toISOString(),
    ...(args.description ? { description: args.description } : {}),
    ...(args.postprocess ? { postprocess: args.postprocess } : {}),
    ...(args.inference ? { inference: args.inference } : {}),
  };
}

/** Checks parsed unet.json content; `source` names the file in errors. */
export function parseMetadata(json: unknown, source: string): ModelMetadata {
  const m = json as Partial<ModelMetadata> | null;
  if (!m || typeof m !== 'object' || m.format !== FORMAT) throw new Error(`${source}: not a unet-ts model metadata file (format must be "${FORMAT}")`);
  if (m.version !== 1) throw new Error(`${source}: unsupported metadata version ${String(m.version)}`);
  let config: UNetConfig;
  try {
    config = resolveConfig(m.config ?? {});
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`, { cause: e });
  }
  if (!Array.isArray(m.tileSize) || m.tileSize.length !== 2) throw new Error(`${source}: tileSize must be [height, width]`);
  if (!m.normalization || typeof m.normalization !== 'object') throw new Error(`${source}: normalization is missing`);
  if (!Array.isArray(m.classNames) || m.classNames.length !== config.classes) throw new Error(`${source}: classNames must list ${config.classes} names`);
  if (m.postprocess?.instances !== undefined) checkInstancePostprocess(m.postprocess.instances, config.classes, source);
  if (m.inference !== undefined && (typeof m.inference !== 'object' || m.inference === null || typeof m.inference.tta !== 'boolean')) {
    throw new Error(`${source}: inference.tta must be true or false, got ${JSON.stringify((m.inference as { tta?: unknown } | null)?.tta)}`);
  }
  return { ...(m as ModelMetadata), config };
}

/** The largest seed erosion a post-processing may ask for, in pixels (a bound for the chunked watershed's context). */
export const MAX_SEED_EROSION = 32;

/**
 * Checks a stored post-processing (unet.json's `postprocess.instances`, or a file written by
 * `unet tune --probs`) for a model of `classes` classes (undefined: not known yet); throws naming `source`.
 */
export function checkInstancePostprocess(value: unknown, classes: number | undefined, source: string): InstancePostprocess {
  if (!value || typeof value !== 'object') throw new Error(`${source}: postprocess.instances must be an object, got ${JSON.stringify(value)}`);
  const pp = value as Partial<InstancePostprocess>;
  const classList = (v: unknown): boolean => Array.isArray(v) && v.length > 0 && v.every((c) => Number.isInteger(c) && c >= 0 && (classes === undefined || c < classes));
  if (!classList(pp.foregroundClasses) || !classList(pp.seedClasses)) {
    throw new Error(`${source}: postprocess.instances foregroundClasses and seedClasses must list ${classes === undefined ? 'class indices >= 0' : `classes 0..${classes - 1}`}`);
  }
  if (typeof pp.watershed !== 'boolean') throw new Error(`${source}: postprocess.instances.watershed must be true or false`);
  if (!(pp.seedThreshold! >= 0 && pp.seedThreshold! <= 1)) throw new Error(`${source}: postprocess.instances.seedThreshold must be in [0, 1], got ${String(pp.seedThreshold)}`);
  if (pp.seedErosion !== undefined && !(typeof pp.seedErosion === 'number' && pp.seedErosion >= 0 && pp.seedErosion <= MAX_SEED_EROSION)) {
    throw new Error(`${source}: postprocess.instances.seedErosion must be a number of pixels in [0, ${MAX_SEED_EROSION}], got ${JSON.stringify(pp.seedErosion)}`);
  }
  if (!Number.isInteger(pp.minSize) || pp.minSize! < 0) throw new Error(`${source}: postprocess.instances.minSize must be an integer >= 0, got ${String(pp.minSize)}`);
  if (pp.foregroundThreshold !== undefined && !(pp.foregroundThreshold >= 0 && pp.foregroundThreshold < 1)) throw new Error(`${source}: postprocess.instances.foregroundThreshold must be in [0, 1), got ${String(pp.foregroundThreshold)}`);
  return pp as InstancePostprocess;
}

/** Serialises `model` to in-memory artifacts (topology + one weight buffer). */
export async function modelArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (saved === null) throw new Error('modelArtifacts: TF.js did not hand over the model artifacts');
  return saved;
}

/**
 * IEEE half-precision bits of `x`, rounded to nearest, ties to even (overflow gives
 * infinity, tiny values subnormals or zero, NaN stays NaN).
 *
 * @example float16Bits(1) === 0x3c00; float16Bits(65504) === 0x7bff; float16Bits(1 + 2 ** -11) === 0x3c00 (tie, even)
 */
export function float16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000; // the implicit leading 1 becomes explicit in a subnormal
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m; // a carry into bit 10 gives the smallest normal, as it should
  }
  const rest = mant & 0x1fff;
  mant >>>= 13;
  if (rest > 0x1000 || (rest === 0x1000 && mant & 1)) {
    mant++;
    if (mant === 0x400) {
      mant = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | mant;
}
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The same artifacts with float32 weights stored as float16 (TF.js' `quantization:
 * {dtype: 'float16'}`, expanded back to float32 when loaded): half the file size.
 * Measure a model's scores after quantising; the README reports it for the bundled ones.
 */
export function quantizeFloat16(artifacts: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData;
  if (!(data instanceof ArrayBuffer)) throw new Error('quantizeFloat16: expected the weights as one buffer');
  if (specs.some((s) => s.dtype !== 'float32' || s.quantization)) throw new Error('quantizeFloat16: only unquantised float32 weights can be converted');
  const values = new Float32Array(data);
  const halves = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) halves[i] = float16Bits(values[i]!);
  return { ...artifacts, weightSpecs: specs.map((s) => ({ ...s, quantization: { dtype: 'float16' } })), weightData: halves.buffer };
}

/** The model.json document for artifacts whose weights live in {@link WEIGHTS_BIN}. */
export function modelJson(artifacts: tf.io.ModelArtifacts): Record<string, unknown> {
  return {
    format: 'layers-model',
    generatedBy: 'unet-ts',
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs }],
  };
}

/** Rebuilds a model from the parts of a saved folder, checking weights against the topology. */
/**
 * The convolution kernel shapes a U-Net of `config` has, by weight name (the names buildUNet
 * gives: enc{l}_conv1/2, bottom_conv1/2, dec{l}_upconv, dec{l}_conv1/2, out_conv).
 * @example expectedKernels({ depth: 1, baseFilters: 2, classes: 2, inputChannels: 1, ... })['out_conv/kernel'] // [1, 1, 2, 2]
 */
export function expectedKernels(config: UNetConfig): Map<string, number[]> {
  const f = (l: number): number => config.baseFilters * 2 ** l;
  const k = new Map<string, number[]>();
  for (let l = 0; l < config.depth; l++) {
    k.set(`enc${l}_conv1/kernel`, [3, 3, l === 0 ? config.inputChannels : f(l - 1), f(l)]);
    k.set(`enc${l}_conv2/kernel`, [3, 3, f(l), f(l)]);
  }
  const d = config.depth;
  k.set('bottom_conv1/kernel', [3, 3, d === 0 ? config.inputChannels : f(d - 1), f(d)]);
  k.set('bottom_conv2/kernel', [3, 3, f(d), f(d)]);
  for (let l = d - 1; l >= 0; l--) {
    k.set(`dec${l}_upconv/kernel`, [2, 2, f(l), f(l + 1)]);
    k.set(`dec${l}_conv1/kernel`, [3, 3, f(l + 1), f(l)]);
    k.set(`dec${l}_conv2/kernel`, [3, 3, f(l), f(l)]);
  }
  k.set('out_conv/kernel', [1, 1, f(0), config.classes]);
  return k;
}

/**
 * Refuses a model folder whose unet.json config does not describe its model.json weights
 * (e.g. a unet.json copied from another model), naming the folder and the first difference,
 * instead of TF.js' "setWeights ... expecting N weights" at the first tile-size rebuild.
 */
export function checkWeightsMatchConfig(json: unknown, config: UNetConfig, source: string): void {
  const doc = json as { weightsManifest?: { weights?: { name: string; shape: number[] }[] }[] };
  if (!Array.isArray(doc?.weightsManifest)) return; // modelFromParts names this case
  const kernels = doc.weightsManifest.flatMap((g) => g.weights ?? []).filter((w) => w.name.endsWith('/kernel'));
  const expected = expectedKernels(config);
  const what = `${METADATA_JSON} (depth ${config.depth}, ${config.baseFilters} base filters, ${config.classes} classes, ${config.inputChannels} input channel(s)) disagrees with ${MODEL_JSON}`;
  for (const w of kernels) {
    const e = expected.get(w.name);
    if (!e) throw new Error(`${source}: ${what}: ${MODEL_JSON} has kernel ${w.name} ${JSON.stringify(w.shape)}, which that config does not have`);
    if (e.join() !== w.shape.join()) throw new Error(`${source}: ${what}: kernel ${w.name} is ${JSON.stringify(w.shape)}, the config gives ${JSON.stringify(e)}`);
  }
  const names = new Set(kernels.map((w) => w.name));
  const missing = [...expected.keys()].filter((n) => !names.has(n));
  if (missing.length) throw new Error(`${source}: ${what}: ${MODEL_JSON} lacks ${missing.join(', ')}`);
}

export async function modelFromParts(json: unknown, weights: ArrayBuffer, source: string): Promise<tfl.LayersModel> {
  const doc = json as { modelTopology?: unknown; weightsManifest?: { weights: tf.io.WeightsManifestEntry[] }[] };
  if (!doc || !doc.modelTopology || !Array.isArray(doc.weightsManifest)) throw new Error(`${source}: ${MODEL_JSON} is not a TF.js layers model`);
  const weightSpecs = doc.weightsManifest.flatMap((g) => g.weights);
  const expectedBytes = weightSpecs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * bytesPerValue(s), 0);
  if (expectedBytes !== weights.byteLength) {
    throw new Error(`${source}: ${WEIGHTS_BIN} has ${weights.byteLength} bytes, ${MODEL_JSON} describes ${expectedBytes}`);
  }
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: doc.modelTopology as object, weightSpecs, weightData: weights }));
  fuseConvRelu(model);
  cropInOneSlice(model);
  return model;
}

function bytesPerValue(spec: tf.io.WeightsManifestEntry): number {
  if (spec.quantization) return spec.quantization.dtype === 'uint8' ? 1 : 2;
  return 4;
}

/** Loads a saved model in a browser (or anywhere with fetch) from the folder URL. */
export async function loadModelFromUrl(baseUrl: string): Promise<{ model: tfl.LayersModel; metadata: ModelMetadata }> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const res = await fetch(`${base}${METADATA_JSON}`);
  if (!res.ok) throw new Error(`${base}${METADATA_JSON}: HTTP ${res.status}`);
  const metadata = parseMetadata(await res.json(), `${base}${METADATA_JSON}`);
  const model = await tfl.loadLayersModel(`${base}${MODEL_JSON}`);
  fuseConvRelu(model);
  cropInOneSlice(model);
  return { model, metadata };
}
