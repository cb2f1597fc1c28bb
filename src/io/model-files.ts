/** Saving and loading model folders on disk (Node). Format: see model-format.ts. */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { writeFileAtomic } from './atomic.js';
import { METADATA_JSON, MODEL_JSON, WEIGHTS_BIN, modelArtifacts, modelFromParts, modelJson, parseMetadata, quantizeFloat16, type ModelMetadata } from './model-format.js';

/**
 * Writes model.json, weights.bin and unet.json into `dir` (created if needed).
 * Files are written under temporary names and renamed, so a crash leaves no half-written model.
 * `float16` stores the weights at half precision ({@link quantizeFloat16}).
 */
export async function saveModel(dir: string, model: tfl.LayersModel, metadata: ModelMetadata, options: { float16?: boolean } = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const artifacts = options.float16 ? quantizeFloat16(await modelArtifacts(model)) : await modelArtifacts(model);
  if (options.float16) metadata = { ...metadata, weightsDtype: 'float16' };
  const weights = artifacts.weightData;
  if (!(weights instanceof ArrayBuffer)) throw new Error('saveModel: expected the weights as one buffer');
  await writeFileAtomic(join(dir, WEIGHTS_BIN), new Uint8Array(weights));
  await writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(modelJson(artifacts)));
  await writeFileAtomic(join(dir, METADATA_JSON), `${JSON.stringify(metadata, null, 2)}\n`);
}

async function readPart(dir: string, name: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, name));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`loadModel: ${join(dir, name)} ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code})`}; a model folder holds ${MODEL_JSON}, ${WEIGHTS_BIN} and ${METADATA_JSON}`, { cause: e });
  }
}

function parsePart(dir: string, buf: Buffer, name: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new Error(`loadModel: ${join(dir, name)} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/** Reads and checks only the unet.json of a model folder (no weights, no tensors). */
export async function readModelMetadata(dir: string): Promise<ModelMetadata> {
  return parseMetadata(parsePart(dir, await readPart(dir, METADATA_JSON), METADATA_JSON), join(dir, METADATA_JSON));
}

/** Reads a folder written by {@link saveModel}; errors name the folder and the missing or bad file. */
export async function loadModel(dir: string): Promise<{ model: tfl.LayersModel; metadata: ModelMetadata }> {
  const metadata = await readModelMetadata(dir);
  const json = parsePart(dir, await readPart(dir, MODEL_JSON), MODEL_JSON);
  const bin = await readPart(dir, WEIGHTS_BIN);
  const weights = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
  const model = await modelFromParts(json, weights, `loadModel: ${dir}`);
  return { model, metadata };
}

/** Rewrites only the unet.json of a model folder (atomically), e.g. after tuning its post-processing. */
export async function writeModelMetadata(dir: string, metadata: ModelMetadata): Promise<void> {
  await writeFileAtomic(join(dir, METADATA_JSON), `${JSON.stringify(metadata, null, 2)}\n`);
}
