/**
 * ONNX export of a unet-ts model: the TF.js layers graph translated layer by layer into an
 * ONNX graph (opset 17, NCHW), serialised with protobufjs from the official onnx.proto.
 *
 * Why NCHW: it is ONNX's native layout (Conv, MaxPool, BatchNormalization are defined on it)
 * and what deepImageJ, bioimage.io's tools and PyTorch-born U-Nets use ('bcyx' axes).
 *
 * What the graph holds besides the network:
 * - the softmax over the class axis, so its output is class probabilities;
 * - the input normalisation when it is a fixed affine map ('dtype', 'range', 'meanstd' with
 *   fixed mean and std), so the graph takes raw intensities; per-image normalisations
 *   ('minmax', 'percentile', 'meanstd' without values) cannot be one Mul/Add and are left to the
 *   caller, declared in the metadata_props (and in a bioimage.io description).
 * Batch, height and width are dynamic; for a 'valid' net only the sizes listed in the doc string
 * and metadata give whole pooling cells (see src/model/size.ts).
 */
import protobuf from 'protobufjs';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { UNetConfig } from '../model/config.js';
import { outputSize, validInputSizes } from '../model/size.js';
import type { ModelMetadata } from '../io/model-format.js';
import { describeNormalization, type Normalization } from '../io/normalize.js';
import { ONNX_DESCRIPTOR } from './onnx-descriptor.js';

/** The opset the graph is written for (ONNX 1.12 knows up to 17; every op used exists since <= 13). */
export const ONNX_OPSET = 17;
/** IR version 8 goes with opset 17 (ONNX 1.12). */
export const ONNX_IR_VERSION = 8;
const FLOAT = 1; // TensorProto.DataType.FLOAT
const INT64 = 7; // TensorProto.DataType.INT64

export interface OnnxExportOptions {
  /**
   * Put the fixed affine normalisation into the graph (default true). unet-ts' own ONNX engine
   * passes false: it feeds tiles it normalised already.
   */
  readonly embedNormalization?: boolean;
  /**
   * For 'dtype' normalisation: which stored integer type the raw input comes from, fixing
   * the scale to 1/255 or 1/65535 (default 'uint8').
   */
  readonly inputDtype?: 'uint8' | 'uint16';
  /** Producer version written into the model (default: none). */
  readonly producerVersion?: string;
}

/** What the graph applies to its input: x * scale + offset, or nothing. */
export interface GraphNormalization {
  readonly scale: number;
  readonly offset: number;
}

/**
 * The fixed affine map of `n`, or null when it depends on the image.
 *
 * @example affineNormalization({ kind: 'range', min: 0, max: 4095 }) // { scale: 1 / 4095, offset: 0 }
 * @example affineNormalization({ kind: 'meanstd', mean: 10, std: 2 }) // { scale: 0.5, offset: -5 }
 * @example affineNormalization({ kind: 'minmax' }) // null
 */
export function affineNormalization(n: Normalization, inputDtype: 'uint8' | 'uint16' = 'uint8'): GraphNormalization | null {
  switch (n.kind) {
    case 'dtype':
      return { scale: 1 / (inputDtype === 'uint8' ? 255 : 65535), offset: 0 };
    case 'range':
      return { scale: 1 / (n.max - n.min), offset: -n.min / (n.max - n.min) };
    case 'meanstd':
      return n.mean === undefined || n.std === undefined ? null : { scale: 1 / n.std, offset: -n.mean / n.std };
    default:
      return null;
  }
}

interface Node {
  op_type: string;
  input: string[];
  output: string[];
  name: string;
  attribute?: Record<string, unknown>[];
}

interface Tensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

/** The layer-config fields the translation reads (TF.js' serialised layer config). */
interface LayerConfig {
  padding?: string;
  activation?: string;
  strides?: number[];
  kernelSize?: number[];
  poolSize?: number[];
  useBias?: boolean;
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  cropping?: number[][];
  axis?: number | number[];
  dilationRate?: number | number[];
  dataFormat?: string;
}

/**
 * The ONNX model (as bytes) of a unet-ts model: input 'image' [batch, channels, height, width]
 * float32, output 'probabilities' [batch, classes, out_height, out_width] float32.
 *
 * @throws naming the layer, when the model holds a layer or option the translation does not know.
 */
export function exportOnnx(model: tfl.LayersModel, metadata: ModelMetadata, options: OnnxExportOptions = {}): Uint8Array {
  const config = metadata.config;
  const embed = options.embedNormalization ?? true;
  const inputDtype = options.inputDtype ?? 'uint8';
  if (inputDtype !== 'uint8' && inputDtype !== 'uint16') throw new Error(`exportOnnx: inputDtype must be 'uint8' or 'uint16', got ${String(inputDtype)}`);
  const affine = embed ? affineNormalization(metadata.normalization, inputDtype) : null;
  const nodes: Node[] = [];
  const inits: Tensor[] = [];
  /** TF.js layer name -> name of the ONNX value holding its output. */
  const valueOf = new Map<string, string>();
  const inputName = 'image';

  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const name = layer.name;
    const cfg = layer.getConfig() as unknown as LayerConfig;
    const inbound = layer.inboundNodes[0]?.inboundLayers.map((l) => {
      const v = valueOf.get(l.name);
      if (v === undefined) throw new Error(`exportOnnx: layer ${name} reads ${l.name}, which is not translated yet (layers out of topological order)`);
      return v;
    }) ?? [];
    const fail = (why: string): never => {
      throw new Error(`exportOnnx: layer ${name} (${cls}) ${why}`);
    };
    const one = (): string => {
      if (inbound.length !== 1) fail(`has ${inbound.length} inputs, expected 1`);
      return inbound[0]!;
    };
    switch (cls) {
      case 'InputLayer': {
        if (affine === null) {
          valueOf.set(name, inputName);
          break;
        }
        inits.push(floatTensor(`${name}_norm_scale`, [], Float32Array.of(affine.scale)), floatTensor(`${name}_norm_offset`, [], Float32Array.of(affine.offset)));
        nodes.push({ op_type: 'Mul', name: `${name}_norm_mul`, input: [inputName, `${name}_norm_scale`], output: [`${name}_scaled`] });
        nodes.push({ op_type: 'Add', name: `${name}_norm_add`, input: [`${name}_scaled`, `${name}_norm_offset`], output: [`${name}_normalized`] });
        valueOf.set(name, `${name}_normalized`);
        break;
      }
      case 'Conv2D': {
        const x = one();
        checkChannelsLast(cfg, fail);
        const [kernel, bias] = layer.getWeights();
        if (!kernel || kernel.shape.length !== 4) return fail('has no 4-D kernel');
        const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
        if ((cfg.strides ?? [1, 1]).some((s) => s !== 1)) fail(`has strides ${String(cfg.strides)}; only 1 is supported`);
        if (dilations(cfg).some((d) => d !== 1)) fail(`has dilation ${String(cfg.dilationRate)}; only 1 is supported`);
        const pads = convPads(cfg.padding, kh, kw, fail);
        inits.push(floatTensor(`${name}_W`, [cout, cin, kh, kw], hwioToOihw(kernel.dataSync() as Float32Array, kh, kw, cin, cout)));
        const ins = [x, `${name}_W`];
        if (cfg.useBias !== false) {
          if (!bias) return fail('uses a bias but has no bias weight');
          inits.push(floatTensor(`${name}_B`, [cout], Float32Array.from(bias.dataSync())));
          ins.push(`${name}_B`);
        }
        const act = cfg.activation ?? 'linear';
        const convOut = act === 'linear' ? name : `${name}_preact`;
        nodes.push({ op_type: 'Conv', name, input: ins, output: [convOut], attribute: [ints('kernel_shape', [kh, kw]), ints('pads', pads), ints('strides', [1, 1]), ints('dilations', [1, 1])] });
        if (act === 'relu') nodes.push({ op_type: 'Relu', name: `${name}_relu`, input: [convOut], output: [name] });
        else if (act !== 'linear') fail(`has activation '${act}'; only relu and linear are supported`);
        valueOf.set(name, name);
        break;
      }
      case 'Conv2DTranspose': {
        const x = one();
        checkChannelsLast(cfg, fail);
        const [kernel, bias] = layer.getWeights();
        if (!kernel || kernel.shape.length !== 4) return fail('has no 4-D kernel');
        // TF.js stores a transposed-convolution kernel as [kh, kw, out, in]; ONNX wants [in, out, kh, kw].
        const [kh, kw, cout, cin] = kernel.shape as [number, number, number, number];
        const strides = cfg.strides ?? [1, 1];
        if (cfg.padding !== 'valid') fail(`has padding '${String(cfg.padding)}'; only valid is supported`);
        if (strides[0] !== kh || strides[1] !== kw) fail(`has kernel ${kh}x${kw} with strides ${String(strides)}; only non-overlapping (kernel = stride) is supported`);
        const w = new Float32Array(kernel.size);
        const src = kernel.dataSync() as Float32Array;
        for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let o = 0; o < cout; o++) for (let c = 0; c < cin; c++) {
          w[((c * cout + o) * kh + i) * kw + j] = src[((i * kw + j) * cout + o) * cin + c]!;
        }
        inits.push(floatTensor(`${name}_W`, [cin, cout, kh, kw], w));
        const ins = [x, `${name}_W`];
        if (cfg.useBias !== false && bias) {
          inits.push(floatTensor(`${name}_B`, [cout], Float32Array.from(bias.dataSync())));
          ins.push(`${name}_B`);
        }
        const act = cfg.activation ?? 'linear';
        if (act !== 'linear') fail(`has activation '${act}'; only linear is supported`);
        nodes.push({ op_type: 'ConvTranspose', name, input: ins, output: [name], attribute: [ints('kernel_shape', [kh, kw]), ints('strides', strides), ints('pads', [0, 0, 0, 0])] });
        valueOf.set(name, name);
        break;
      }
      case 'BatchNormalization': {
        const x = one();
        const axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis ?? -1];
        if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== 3)) fail(`normalises axis ${String(cfg.axis)}; only the channel axis (-1) is supported`);
        const weights = layer.getWeights();
        const withScale = cfg.scale !== false;
        const withCenter = cfg.center !== false;
        // TF.js orders them gamma (if scale), beta (if center), moving mean, moving variance.
        const gamma = withScale ? weights[0] : undefined;
        const beta = withCenter ? weights[withScale ? 1 : 0] : undefined;
        const [mean, variance] = weights.slice(-2);
        if (!mean || !variance) return fail('lacks its moving mean or variance');
        const n = mean.size;
        inits.push(
          floatTensor(`${name}_scale`, [n], gamma ? Float32Array.from(gamma.dataSync()) : new Float32Array(n).fill(1)),
          floatTensor(`${name}_bias`, [n], beta ? Float32Array.from(beta.dataSync()) : new Float32Array(n)),
          floatTensor(`${name}_mean`, [n], Float32Array.from(mean.dataSync())),
          floatTensor(`${name}_var`, [n], Float32Array.from(variance.dataSync())),
        );
        nodes.push({
          op_type: 'BatchNormalization',
          name,
          input: [x, `${name}_scale`, `${name}_bias`, `${name}_mean`, `${name}_var`],
          output: [name],
          attribute: [{ name: 'epsilon', type: 1, f: cfg.epsilon ?? 1e-3 }],
        });
        valueOf.set(name, name);
        break;
      }
      case 'ReLU':
        nodes.push({ op_type: 'Relu', name, input: [one()], output: [name] });
        valueOf.set(name, name);
        break;
      case 'MaxPooling2D': {
        const x = one();
        checkChannelsLast(cfg, fail);
        const pool = cfg.poolSize ?? [2, 2];
        const strides = cfg.strides ?? pool;
        if (cfg.padding !== undefined && cfg.padding !== 'valid') fail(`has padding '${cfg.padding}'; only valid is supported`);
        nodes.push({ op_type: 'MaxPool', name, input: [x], output: [name], attribute: [ints('kernel_shape', pool), ints('strides', strides), ints('pads', [0, 0, 0, 0])] });
        valueOf.set(name, name);
        break;
      }
      case 'Cropping2D': {
        const x = one();
        checkChannelsLast(cfg, fail);
        const [[top, bottom], [left, right]] = (cfg.cropping ?? [[0, 0], [0, 0]]) as [[number, number], [number, number]];
        // Ends counted from the far side keep the crop valid for every input size.
        inits.push(
          int64Tensor(`${name}_starts`, [top, left]),
          int64Tensor(`${name}_ends`, [bottom > 0 ? -bottom : Number.MAX_SAFE_INTEGER, right > 0 ? -right : Number.MAX_SAFE_INTEGER]),
          int64Tensor(`${name}_axes`, [2, 3]),
        );
        nodes.push({ op_type: 'Slice', name, input: [x, `${name}_starts`, `${name}_ends`, `${name}_axes`], output: [name] });
        valueOf.set(name, name);
        break;
      }
      case 'Concatenate': {
        const axis = cfg.axis ?? -1;
        if (axis !== -1 && axis !== 3) fail(`concatenates along axis ${String(axis)}; only the channel axis (-1) is supported`);
        nodes.push({ op_type: 'Concat', name, input: inbound, output: [name], attribute: [{ name: 'axis', type: 2, i: 1 }] });
        valueOf.set(name, name);
        break;
      }
      case 'UNetSeededDropout':
      case 'Dropout':
        // Inference: dropout is the identity.
        valueOf.set(name, one());
        break;
      default:
        fail('is not supported by the ONNX export');
    }
  }
  const outLayer = model.outputLayers[0];
  const logits = outLayer && valueOf.get(outLayer.name);
  if (logits === undefined) throw new Error('exportOnnx: the model has no translated output layer');
  nodes.push({ op_type: 'Softmax', name: 'softmax', input: [logits], output: ['probabilities'], attribute: [{ name: 'axis', type: 2, i: 1 }] });

  const dim = (v: number | string): Record<string, unknown> => (typeof v === 'number' ? { dim_value: v } : { dim_param: v });
  const valueInfo = (name: string, dims: (number | string)[], doc: string): Record<string, unknown> => ({
    name,
    doc_string: doc,
    type: { tensor_type: { elem_type: FLOAT, shape: { dim: dims.map(dim) } } },
  });
  const props = onnxMetadataProps(metadata, affine, inputDtype);
  const doc = onnxDocString(config, metadata, affine);
  const modelProto = {
    ir_version: ONNX_IR_VERSION,
    producer_name: 'unet-ts',
    producer_version: options.producerVersion ?? '',
    domain: 'org.unet-ts',
    model_version: 1,
    doc_string: doc,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    metadata_props: Object.entries(props).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'unet',
      doc_string: doc,
      node: nodes,
      initializer: inits,
      input: [valueInfo(inputName, ['batch', config.inputChannels, 'height', 'width'], affine ? 'raw intensities (normalised inside the graph)' : `intensities normalised by ${describeNormalization(metadata.normalization)}`)],
      output: [valueInfo('probabilities', ['batch', config.classes, 'out_height', 'out_width'], `softmax over ${config.classes} classes: ${metadata.classNames.join(', ')}`)],
    },
  };
  const type = onnxRoot().lookupType('onnx.ModelProto');
  const message = type.fromObject(modelProto);
  return type.encode(message).finish();
}

/** The key/value pairs stored in the model's metadata_props (all strings). */
export function onnxMetadataProps(metadata: ModelMetadata, affine: GraphNormalization | null, inputDtype: 'uint8' | 'uint16'): Record<string, string> {
  const c = metadata.config;
  return {
    'unet-ts.normalization': JSON.stringify(metadata.normalization),
    /** 'in-graph': feed raw intensities; 'caller': apply unet-ts.normalization before the graph. */
    'unet-ts.normalization_applied': affine ? 'in-graph' : 'caller',
    ...(affine ? { 'unet-ts.graph_normalization': JSON.stringify({ ...affine, ...(metadata.normalization.kind === 'dtype' ? { inputDtype } : {}) }) } : {}),
    'unet-ts.config': JSON.stringify(c),
    'unet-ts.class_names': JSON.stringify(metadata.classNames),
    'unet-ts.valid_input_sizes': JSON.stringify(validInputSizes(c, 1, 1024)),
    'unet-ts.margin': String(c.padding === 'valid' ? (metadata.tileSize[0] - outputSize(metadata.tileSize[0], c)) / 2 : 0),
    'unet-ts.alignment': String(2 ** c.depth),
    ...(metadata.description ? { 'unet-ts.description': metadata.description } : {}),
  };
}

function onnxDocString(c: UNetConfig, m: ModelMetadata, affine: GraphNormalization | null): string {
  const sizes = validInputSizes(c, 1, 1024);
  const sizeText =
    c.padding === 'valid'
      ? `Valid input heights/widths: ${sizes[0]}, ${sizes[1]}, ... (step ${sizes[1]! - sizes[0]!}); output = input - ${sizes[0]! - outputSize(sizes[0]!, c)}.`
      : `Input height and width must be multiples of ${2 ** c.depth}; output size = input size.`;
  const norm = affine ? `Input: raw intensities; the graph applies x * ${affine.scale} + ${affine.offset} (${describeNormalization(m.normalization)}).` : `Input: intensities normalised by ${describeNormalization(m.normalization)} (not in the graph).`;
  return `U-Net (Ronneberger et al. 2015) exported by unet-ts: depth ${c.depth}, ${c.baseFilters} base filters, ${c.padding} padding${c.batchNorm ? ', batch norm' : ''}. ${sizeText} ${norm} Output: softmax probabilities over ${m.classNames.join(', ')}.`;
}

let root: protobuf.Root | null = null;
function onnxRoot(): protobuf.Root {
  root ??= protobuf.Root.fromJSON(ONNX_DESCRIPTOR as unknown as protobuf.INamespace);
  return root;
}

/**
 * The same ONNX model with every fixed dimension of its graph inputs and outputs made symbolic
 * (value_info shape hints dropped), for running a graph exported for one size on another: a
 * package's tile size is a promise about quality, not a limit of fully convolutional ops.
 */
export function withSymbolicShapes(bytes: Uint8Array): Uint8Array {
  const type = onnxRoot().lookupType('onnx.ModelProto');
  const m = type.toObject(type.decode(bytes), { longs: Number, defaults: false }) as { graph?: Record<string, unknown> };
  const g = m.graph;
  if (!g) throw new Error('withSymbolicShapes: the model has no graph');
  type Dim = { dim_value?: number; dim_param?: string };
  type Info = { name?: string; type?: { tensor_type?: { shape?: { dim?: Dim[] } } } };
  for (const list of [g.input, g.output] as (Info[] | undefined)[]) {
    for (const v of list ?? []) {
      v.type?.tensor_type?.shape?.dim?.forEach((d, i) => {
        if (d.dim_param === undefined) {
          delete d.dim_value;
          d.dim_param = `${v.name ?? 'tensor'}_dim${i}`;
        }
      });
    }
  }
  delete g.value_info;
  return type.encode(type.fromObject(m)).finish();
}

/** Decodes ONNX bytes into a plain object (for tests and inspection). */
export function decodeOnnx(bytes: Uint8Array): Record<string, unknown> {
  const type = onnxRoot().lookupType('onnx.ModelProto');
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}

function floatTensor(name: string, dims: number[], values: Float32Array): Tensor {
  return { name, dims, data_type: FLOAT, raw_data: littleEndianBytes(values) };
}

function int64Tensor(name: string, values: number[]): Tensor {
  const a = new BigInt64Array(values.map((v) => BigInt(v)));
  return { name, dims: [values.length], data_type: INT64, raw_data: littleEndianBytes(a) };
}

/** raw_data is little-endian by the ONNX spec; typed arrays are in host order, little-endian on every platform Node ships for. */
function littleEndianBytes(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

function ints(name: string, values: readonly number[]): Record<string, unknown> {
  return { name, type: 7, ints: [...values] }; // AttributeType.INTS
}

function dilations(cfg: LayerConfig): number[] {
  const d = cfg.dilationRate ?? 1;
  return Array.isArray(d) ? d : [d, d];
}

function checkChannelsLast(cfg: LayerConfig, fail: (why: string) => never): void {
  if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') fail(`has data format ${cfg.dataFormat}; only channelsLast is supported`);
}

/** ONNX pads [top, left, bottom, right] of a stride-1 convolution with TF's 'valid' or 'same' padding. */
function convPads(padding: string | undefined, kh: number, kw: number, fail: (why: string) => never): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') return fail(`has padding '${String(padding)}'; only valid and same are supported`);
  // TF 'same' puts the odd pixel at the bottom/right.
  const [t, l] = [Math.floor((kh - 1) / 2), Math.floor((kw - 1) / 2)];
  return [t, l, kh - 1 - t, kw - 1 - l];
}

/** [kh, kw, in, out] (TF) to [out, in, kh, kw] (ONNX). */
function hwioToOihw(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const w = new Float32Array(src.length);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < cin; c++) for (let o = 0; o < cout; o++) {
    w[((o * cin + c) * kh + i) * kw + j] = src[((i * kw + j) * cin + c) * cout + o]!;
  }
  return w;
}
