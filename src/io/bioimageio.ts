/**
 * bioimage.io model packages (format_version 0.5.x), read side: a folder or .zip holding
 * `bioimageio.yaml` (or `rdf.yaml`), the weights and test tensors. This module reads the
 * description into a checked {@link PackageSpec} for 2D models with ONNX weights and applies
 * the declared pre- and postprocessing to images; anything it cannot honour is refused with the
 * offending field named, never run approximately.
 *
 * Image layout here: one sample as a Raster (H x W x C, channel-last, float32). The package's
 * own tensor axes (e.g. batch, channel, y, x) are mapped onto it by {@link PackageSpec}.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { parse as parseYaml } from 'yaml';
import type { NpyArray } from './npy.js';
import type { Raster } from './raster.js';

/** The description's file names, in the order tools look for them. */
export const DESCRIPTION_FILES = ['bioimageio.yaml', 'rdf.yaml'];

/** Access to a package's files, whether a folder or a .zip. */
export interface ModelPackage {
  /** The folder or zip path, for messages. */
  readonly source: string;
  /** Name of the description file inside the package. */
  readonly descriptionFile: string;
  /** The raw parsed description. */
  readonly description: Record<string, unknown>;
  readFile(name: string): Promise<Uint8Array>;
}

/** Whether `path` looks like a bioimage.io package: a .zip file, or a folder with a bioimageio.yaml or rdf.yaml. */
export function isModelPackage(path: string): boolean {
  if (!existsSync(path)) return false;
  if (!statSync(path).isDirectory()) return path.toLowerCase().endsWith('.zip');
  return DESCRIPTION_FILES.some((d) => existsSync(join(path, d)));
}

/** Opens a package folder or .zip and parses its description. */
export async function openPackage(path: string): Promise<ModelPackage> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new Error(`openPackage: ${path} does not exist`);
  }
  let read: (name: string) => Promise<Uint8Array | null>;
  if (isDir) {
    read = async (name) => {
      try {
        return await readFile(join(path, name));
      } catch {
        return null;
      }
    };
  } else {
    let entries: Record<string, Uint8Array>;
    try {
      entries = unzipSync(await readFile(path));
    } catch (e) {
      throw new Error(`openPackage: ${path} is neither a folder nor a readable .zip (${(e as Error).message})`, { cause: e });
    }
    // Some zips put everything under one top folder.
    const names = Object.keys(entries);
    const descIn = names.find((n) => DESCRIPTION_FILES.some((d) => n === d || n.endsWith(`/${d}`)));
    const prefix = descIn && descIn.includes('/') ? descIn.slice(0, descIn.lastIndexOf('/') + 1) : '';
    read = async (name) => entries[prefix + name] ?? null;
  }
  for (const d of DESCRIPTION_FILES) {
    const bytes = await read(d);
    if (!bytes) continue;
    let description: unknown;
    try {
      description = parseYaml(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new Error(`openPackage: ${path}/${d} is not valid YAML (${(e as Error).message})`, { cause: e });
    }
    if (!description || typeof description !== 'object') throw new Error(`openPackage: ${path}/${d} does not hold a YAML mapping`);
    return {
      source: path,
      descriptionFile: d,
      description: description as Record<string, unknown>,
      readFile: async (name) => {
        if (/^[a-z]+:\/\//i.test(name)) throw new Error(`openPackage: ${path} refers to ${name}, a URL; only files inside the package can be read (nothing is downloaded)`);
        const b = await read(name);
        if (!b) throw new Error(`openPackage: ${path} has no file ${name}`);
        return b;
      },
    };
  }
  throw new Error(`openPackage: ${path} holds no ${DESCRIPTION_FILES.join(' or ')}`);
}

/** One processing step as declared: `id` and its kwargs. */
export interface ProcessingStep {
  readonly id: string;
  readonly kwargs: Readonly<Record<string, unknown>>;
}

/** Steps this module implements, for the input and the output. */
export const PREPROCESSING = ['ensure_dtype', 'zero_mean_unit_variance', 'fixed_zero_mean_unit_variance', 'scale_range', 'scale_linear', 'clip', 'binarize', 'sigmoid'] as const;
export const POSTPROCESSING = PREPROCESSING;

/** Input size rule of one spatial axis: a fixed size, or min + k * step. */
export type AxisSize = { readonly fixed: number } | { readonly min: number; readonly step: number };

/** What unet-ts needs of a package to run it: checked, in its own terms. */
export interface PackageSpec {
  readonly name: string;
  readonly inputId: string;
  /** Axis ids of the input tensor in its order, e.g. ['batch', 'channel', 'y', 'x']. */
  readonly inputAxes: readonly string[];
  readonly outputId: string;
  readonly outputAxes: readonly string[];
  /** Input channels (1 when the input has no channel axis). */
  readonly channels: number;
  /** Output channels. */
  readonly outputChannels: number;
  readonly channelNames: readonly string[];
  readonly sizeY: AxisSize;
  readonly sizeX: AxisSize;
  /** Output = input + offset on each spatial axis (0 for same-size outputs). */
  readonly outputOffset: readonly [y: number, x: number];
  /** Output pixels per side to discard (unreliable border context). */
  readonly halo: readonly [y: number, x: number];
  readonly preprocessing: readonly ProcessingStep[];
  readonly postprocessing: readonly ProcessingStep[];
  /** File of the ONNX weights inside the package. */
  readonly onnxFile: string;
  readonly opsetVersion?: number;
  readonly testInput?: string;
  readonly testOutput?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a parsed description and extracts a {@link PackageSpec}.
 *
 * @throws naming the field, for: not a model, format_version other than 0.5.x, more than one
 *   input or output, a z (3D) or time axis, an unknown processing step, no onnx weights.
 */
export function packageSpec(description: Obj, source = 'bioimageio.yaml'): PackageSpec {
  const bad = (field: string, why: string): never => {
    throw new Error(`${source}: ${field} ${why}`);
  };
  if (description.type !== 'model') bad('type', `is ${JSON.stringify(description.type)}; only model packages can be run`);
  const fv = String(description.format_version ?? '');
  if (!/^0\.5\.\d+$/.test(fv)) bad('format_version', `is "${fv}"; supported: 0.5.x (update older packages with bioimageio.spec)`);
  const inputs = description.inputs;
  const outputs = description.outputs;
  if (!Array.isArray(inputs) || inputs.length !== 1 || !isObj(inputs[0])) bad('inputs', `must list exactly one input tensor, got ${Array.isArray(inputs) ? inputs.length : typeof inputs}`);
  if (!Array.isArray(outputs) || outputs.length !== 1 || !isObj(outputs[0])) bad('outputs', `must list exactly one output tensor, got ${Array.isArray(outputs) ? outputs.length : typeof outputs}`);
  const input = (inputs as Obj[])[0]!;
  const output = (outputs as Obj[])[0]!;
  const inputId = String(input.id ?? 'input');
  const outputId = String(output.id ?? 'output');

  const axesOf = (t: Obj, field: string): Obj[] => {
    if (!Array.isArray(t.axes) || !t.axes.every(isObj)) return bad(`${field}.axes`, 'must be a list of axis descriptions (format 0.5)');
    return t.axes as Obj[];
  };
  // Default ids of format 0.5: batch, channel, index, time 'time' and space 'x'.
  const axisId = (a: Obj): string => String(a.id ?? ({ batch: 'batch', channel: 'channel', index: 'index', time: 'time', space: 'x' } as Record<string, string>)[String(a.type)] ?? '');
  const inAxes = axesOf(input, 'inputs[0]');
  const outAxes = axesOf(output, 'outputs[0]');
  const checkAxes = (axes: Obj[], field: string): string[] => {
    const ids = axes.map(axisId);
    axes.forEach((a, i) => {
      const f = `${field}.axes[${i}]`;
      if (a.type === 'time') bad(f, "is a time axis; only 2D images ('y', 'x') are supported");
      if (a.type === 'index') bad(f, 'is an index axis; only batch, channel, y and x are supported');
      if (a.type === 'space' && ids[i] === 'z') bad(f, "is the space axis 'z': 3D models are not supported");
      if (a.type === 'space' && ids[i] !== 'y' && ids[i] !== 'x') bad(f, `is space axis '${ids[i]}'; only y and x are supported`);
      if (!['batch', 'channel', 'space'].includes(String(a.type))) bad(f, `has type ${JSON.stringify(a.type)}; expected batch, channel or space`);
      if (a.scale !== undefined && a.scale !== 1) bad(`${f}.scale`, `is ${String(a.scale)}; only 1 is supported`);
    });
    for (const need of ['y', 'x']) if (!ids.includes(need)) bad(`${field}.axes`, `has no space axis '${need}' (ids: ${ids.join(', ')})`);
    return ids;
  };
  const inputAxes = checkAxes(inAxes, 'inputs[0]');
  const outputAxes = checkAxes(outAxes, 'outputs[0]');
  const batchIn = inAxes.find((a) => a.type === 'batch');
  if (batchIn && typeof batchIn.size === 'number' && batchIn.size !== 1) bad('inputs[0].axes[batch].size', `is ${batchIn.size}; only 1 or free is supported`);

  const channelCount = (axes: Obj[], field: string): { n: number; names: string[] } => {
    const ch = axes.find((a) => a.type === 'channel');
    if (!ch) return { n: 1, names: ['channel0'] };
    if (!Array.isArray(ch.channel_names)) return bad(`${field}.axes[channel].channel_names`, 'must be a list');
    return { n: ch.channel_names.length, names: ch.channel_names.map(String) };
  };
  const inCh = channelCount(inAxes, 'inputs[0]');
  const outCh = channelCount(outAxes, 'outputs[0]');

  const sizeOf = (id: 'y' | 'x'): AxisSize => {
    const a = inAxes.find((ax) => axisId(ax) === id)!;
    const f = `inputs[0].axes[${id}].size`;
    if (typeof a.size === 'number') {
      if (!Number.isInteger(a.size) || a.size < 1) bad(f, `must be a positive integer, got ${a.size}`);
      return { fixed: a.size };
    }
    if (isObj(a.size) && typeof a.size.min === 'number' && typeof a.size.step === 'number') {
      if (!Number.isInteger(a.size.min) || a.size.min < 1 || !Number.isInteger(a.size.step) || a.size.step < 0) bad(f, `must have integer min >= 1 and step >= 0, got ${JSON.stringify(a.size)}`);
      return a.size.step === 0 ? { fixed: a.size.min } : { min: a.size.min, step: a.size.step };
    }
    return bad(f, `is ${JSON.stringify(a.size)}; expected a number or {min, step}`);
  };
  const outSpatial = (id: 'y' | 'x'): { offset: number; halo: number } => {
    const a = outAxes.find((ax) => axisId(ax) === id)!;
    const f = `outputs[0].axes[${id}]`;
    const halo = a.halo === undefined ? 0 : Number(a.halo);
    if (!Number.isInteger(halo) || halo < 0) bad(`${f}.halo`, `must be a non-negative integer, got ${String(a.halo)}`);
    if (isObj(a.size) && a.size.tensor_id !== undefined) {
      if (a.size.tensor_id !== inputId || a.size.axis_id !== id) bad(`${f}.size`, `refers to ${String(a.size.tensor_id)}.${String(a.size.axis_id)}; only the input's own '${id}' axis is supported`);
      const offset = a.size.offset === undefined ? 0 : Number(a.size.offset);
      if (!Number.isInteger(offset)) bad(`${f}.size.offset`, `must be an integer, got ${String(a.size.offset)}`);
      return { offset, halo };
    }
    return bad(`${f}.size`, `is ${JSON.stringify(a.size)}; only a reference to the input's '${id}' axis is supported (output size follows the input)`);
  };
  const oy = outSpatial('y');
  const ox = outSpatial('x');

  const steps = (list: unknown, field: string): ProcessingStep[] => {
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list)) return bad(field, 'must be a list');
    return list.map((s, i) => {
      if (!isObj(s) || typeof s.id !== 'string') return bad(`${field}[${i}]`, 'must have an id');
      if (!(PREPROCESSING as readonly string[]).includes(s.id)) bad(`${field}[${i}].id`, `is '${s.id}', which unet-ts does not implement (supported: ${PREPROCESSING.join(', ')})`);
      const kwargs = s.kwargs === undefined ? {} : s.kwargs;
      if (!isObj(kwargs)) bad(`${field}[${i}].kwargs`, 'must be a mapping');
      checkStep(s.id, kwargs as Obj, `${field}[${i}]`, bad, inputId);
      return { id: s.id, kwargs: kwargs as Obj };
    });
  };
  const preprocessing = steps(input.preprocessing, 'inputs[0].preprocessing');
  const postprocessing = steps(output.postprocessing, 'outputs[0].postprocessing');

  const weights = description.weights;
  if (!isObj(weights)) return bad('weights', 'is missing');
  const onnx = weights.onnx;
  if (!isObj(onnx) || typeof onnx.source !== 'string') bad('weights', `has ${Object.keys(weights).join(', ') || 'no entries'} but no onnx entry; unet-ts runs ONNX weights only (torchscript and pytorch_state_dict need PyTorch)`);
  const testOf = (t: Obj): string | undefined => (isObj(t.test_tensor) && typeof t.test_tensor.source === 'string' ? t.test_tensor.source : undefined);
  const testInput = testOf(input);
  const testOutput = testOf(output);
  const onnxObj = onnx as Obj;
  return {
    name: String(description.name ?? source),
    inputId,
    inputAxes,
    outputId,
    outputAxes,
    channels: inCh.n,
    outputChannels: outCh.n,
    channelNames: outCh.names,
    sizeY: sizeOf('y'),
    sizeX: sizeOf('x'),
    outputOffset: [oy.offset, ox.offset],
    halo: [oy.halo, ox.halo],
    preprocessing,
    postprocessing,
    onnxFile: onnxObj.source as string,
    ...(typeof onnxObj.opset_version === 'number' ? { opsetVersion: onnxObj.opset_version } : {}),
    ...(testInput ? { testInput } : {}),
    ...(testOutput ? { testOutput } : {}),
  };
}

function checkStep(id: string, k: Obj, field: string, bad: (f: string, why: string) => never, inputId: string): void {
  const num = (name: string, required: boolean): void => {
    const v = k[name];
    if (v === undefined) {
      if (required) bad(`${field}.kwargs.${name}`, 'is required');
      return;
    }
    const ok = typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
    if (!ok) bad(`${field}.kwargs.${name}`, `must be a number or a list of numbers, got ${JSON.stringify(v)}`);
    if (Array.isArray(v) && k.axis !== 'channel') bad(`${field}.kwargs.axis`, `must be 'channel' for per-channel ${name} values, got ${JSON.stringify(k.axis)}`);
  };
  switch (id) {
    case 'ensure_dtype':
      if (!['float32', 'float64', 'uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'bool'].includes(String(k.dtype))) bad(`${field}.kwargs.dtype`, `is ${JSON.stringify(k.dtype)}`);
      break;
    case 'fixed_zero_mean_unit_variance':
      num('mean', true);
      num('std', true);
      break;
    case 'scale_linear':
      num('gain', false);
      num('offset', false);
      break;
    case 'clip':
      num('min', false);
      num('max', false);
      break;
    case 'binarize':
      num('threshold', true);
      break;
    case 'scale_range':
      if (k.reference_tensor !== undefined && k.reference_tensor !== null && k.reference_tensor !== inputId) bad(`${field}.kwargs.reference_tensor`, `is ${JSON.stringify(k.reference_tensor)}; only the tensor itself is supported`);
      break;
    default:
      break;
  }
  if (k.axes !== undefined && k.axes !== null) {
    if (!Array.isArray(k.axes) || !k.axes.every((a) => ['batch', 'channel', 'y', 'x'].includes(String(a)))) bad(`${field}.kwargs.axes`, `must list axes among batch, channel, y, x, got ${JSON.stringify(k.axes)}`);
    const a = k.axes as string[];
    if (!(a.includes('y') && a.includes('x'))) bad(`${field}.kwargs.axes`, `must include y and x (statistics per row or column are not supported), got ${JSON.stringify(k.axes)}`);
  }
}

/** Per-channel value `v` of a kwarg for channel `c` (a scalar applies to all). */
function perChannel(v: unknown, c: number, fallback: number, C: number, what: string): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'number') return v;
  const list = v as number[];
  if (list.length !== C) throw new Error(`${what}: ${list.length} per-channel values for ${C} channels`);
  return list[c]!;
}

/** Linear-interpolation percentile (numpy's default) of sorted values. */
export function percentileSorted(sorted: Float64Array | Float32Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Applies `steps` in order to `image` (H x W x C, one sample), returning a new float32 raster.
 * Statistics (zero_mean_unit_variance, scale_range) are taken over the whole image, jointly over
 * channels when kwargs.axes lists 'channel' (or is absent), else per channel: this is why
 * tiled prediction normalises the image before cutting it into tiles.
 *
 * @example applyProcessing(r, [{ id: 'scale_linear', kwargs: { gain: 2, offset: 1 } }]) // 2 x + 1
 */
export function applyProcessing(image: Raster<Float32Array>, steps: readonly ProcessingStep[], what = 'processing'): Raster<Float32Array> {
  const { height: H, width: W, channels: C } = image;
  const n = H * W;
  let x: Float32Array = Float32Array.from(image.data);
  for (const [si, step] of steps.entries()) {
    const k = step.kwargs;
    const name = `${what}[${si}] ${step.id}`;
    const joint = k.axes === undefined || k.axes === null || (k.axes as string[]).includes('channel');
    /** Channel groups the statistics are computed over. */
    const groups: number[][] = joint ? [Array.from({ length: C }, (_, c) => c)] : Array.from({ length: C }, (_, c) => [c]);
    const eps = typeof k.eps === 'number' ? k.eps : 1e-6;
    switch (step.id) {
      case 'ensure_dtype':
        x = castTo(x, String(k.dtype));
        break;
      case 'zero_mean_unit_variance':
        for (const g of groups) {
          let s = 0;
          for (let i = 0; i < n; i++) for (const c of g) s += x[i * C + c]!;
          const mean = s / (n * g.length);
          let q = 0;
          for (let i = 0; i < n; i++) for (const c of g) q += (x[i * C + c]! - mean) ** 2;
          const std = Math.sqrt(q / (n * g.length));
          for (let i = 0; i < n; i++) for (const c of g) x[i * C + c] = (x[i * C + c]! - mean) / (std + eps);
        }
        break;
      case 'fixed_zero_mean_unit_variance':
        for (let c = 0; c < C; c++) {
          const mean = perChannel(k.mean, c, 0, C, name);
          const std = perChannel(k.std, c, 1, C, name);
          for (let i = 0; i < n; i++) x[i * C + c] = (x[i * C + c]! - mean) / (std + eps);
        }
        break;
      case 'scale_range': {
        const pLo = typeof k.min_percentile === 'number' ? k.min_percentile : 0;
        const pHi = typeof k.max_percentile === 'number' ? k.max_percentile : 100;
        if (!(pLo >= 0 && pHi <= 100 && pLo < pHi)) throw new Error(`${name}: percentiles must satisfy 0 <= min_percentile < max_percentile <= 100, got ${pLo}, ${pHi}`);
        for (const g of groups) {
          const vals = new Float64Array(n * g.length);
          let j = 0;
          for (let i = 0; i < n; i++) for (const c of g) vals[j++] = x[i * C + c]!;
          vals.sort();
          const lo = percentileSorted(vals, pLo);
          const hi = percentileSorted(vals, pHi);
          for (let i = 0; i < n; i++) for (const c of g) x[i * C + c] = (x[i * C + c]! - lo) / (hi - lo + eps);
        }
        break;
      }
      case 'scale_linear':
        for (let c = 0; c < C; c++) {
          const gain = perChannel(k.gain, c, 1, C, name);
          const offset = perChannel(k.offset, c, 0, C, name);
          for (let i = 0; i < n; i++) x[i * C + c] = x[i * C + c]! * gain + offset;
        }
        break;
      case 'clip': {
        const lo = typeof k.min === 'number' ? k.min : -Infinity;
        const hi = typeof k.max === 'number' ? k.max : Infinity;
        for (let i = 0; i < x.length; i++) x[i] = Math.min(hi, Math.max(lo, x[i]!));
        break;
      }
      case 'binarize':
        for (let c = 0; c < C; c++) {
          const t = perChannel(k.threshold, c, 0.5, C, name);
          for (let i = 0; i < n; i++) x[i * C + c] = x[i * C + c]! > t ? 1 : 0;
        }
        break;
      case 'sigmoid':
        for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]!));
        break;
      default:
        throw new Error(`${name}: not implemented`);
    }
  }
  return { data: x, height: H, width: W, channels: C };
}

/** ensure_dtype: values as the given dtype would hold them (rounded and clamped for integers), kept in float32. */
function castTo(x: Float32Array, dtype: string): Float32Array {
  const ranges: Record<string, [number, number]> = { uint8: [0, 255], int8: [-128, 127], uint16: [0, 65535], int16: [-32768, 32767], uint32: [0, 4294967295], int32: [-2147483648, 2147483647] };
  if (dtype === 'float32' || dtype === 'float64') return x;
  if (dtype === 'bool') return x.map((v) => (v !== 0 ? 1 : 0));
  const [lo, hi] = ranges[dtype]!;
  // numpy's astype truncates towards zero and wraps; bioimageio.core clips first. Round-to-nearest after clipping is what an image writer does.
  return x.map((v) => Math.min(hi, Math.max(lo, Math.round(v))));
}

/**
 * Input tile size of one axis for an image side of `side` pixels: fixed sizes as they are, else
 * the smallest min + k * step reaching `side + 2 * halo` (so one tile covers small images), capped at `maxTile`.
 *
 * @example tileSizeFor({ min: 64, step: 16 }, 500, 32, 1024) === 576
 * @example tileSizeFor({ fixed: 512 }, 1024, 32, 1024) === 512
 */
export function tileSizeFor(rule: AxisSize, side: number, halo: number, maxTile: number): number {
  if ('fixed' in rule) return rule.fixed;
  const want = Math.min(side + 2 * halo, maxTile);
  const k = Math.max(0, Math.ceil((want - rule.min) / rule.step));
  return rule.min + k * rule.step;
}

/** Whether `size` satisfies `rule`. */
export function isValidTileSize(rule: AxisSize, size: number): boolean {
  if ('fixed' in rule) return size === rule.fixed;
  return size >= rule.min && (size - rule.min) % rule.step === 0;
}

/**
 * One sample of a tensor with named `axes` (batch, channel, y, x in any order; batch and
 * channel optional) as an H x W x C float32 raster.
 *
 * @throws when the array's rank differs from the axes, or it holds more than one sample.
 */
export function npyToRaster(a: NpyArray, axes: readonly string[], source = 'tensor'): Raster<Float32Array> {
  if (a.shape.length !== axes.length) throw new Error(`${source}: shape (${a.shape.join(', ')}) has ${a.shape.length} axes, the description names ${axes.length} (${axes.join(', ')})`);
  const size = (id: string): number => (axes.includes(id) ? a.shape[axes.indexOf(id)]! : 1);
  if (size('batch') !== 1) throw new Error(`${source}: batch size ${size('batch')}; one sample expected`);
  const H = size('y');
  const W = size('x');
  const C = size('channel');
  const strides: Record<string, number> = { batch: 0, channel: 0, y: 0, x: 0 };
  let s = 1;
  for (let i = axes.length - 1; i >= 0; i--) {
    strides[axes[i]!] = s;
    s *= a.shape[i]!;
  }
  const out = new Float32Array(H * W * C);
  let i = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) out[i++] = Number(a.data[y * strides.y! + x * strides.x! + c * strides.channel!]!);
  return { data: out, height: H, width: W, channels: C };
}

/** An H x W x C raster as a float32 tensor with named `axes` (batch of 1). */
export function rasterToNpy(r: Raster<Float32Array>, axes: readonly string[]): NpyArray {
  const dimOf: Record<string, number> = { batch: 1, channel: r.channels, y: r.height, x: r.width };
  const shape = axes.map((a) => dimOf[a]!);
  const strides: Record<string, number> = { batch: 0, channel: 0, y: 0, x: 0 };
  let s = 1;
  for (let i = axes.length - 1; i >= 0; i--) {
    strides[axes[i]!] = s;
    s *= shape[i]!;
  }
  const data = new Float32Array(r.data.length);
  let i = 0;
  for (let y = 0; y < r.height; y++) for (let x = 0; x < r.width; x++) for (let c = 0; c < r.channels; c++) data[y * strides.y! + x * strides.x! + c * strides.channel!] = r.data[i++]!;
  return { dtype: 'float32', shape, data };
}
