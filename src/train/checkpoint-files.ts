/**
 * Checkpoints on disk (Node). Each is a folder `<root>/iter-NNNNNNN/` holding a
 * complete saved model (model.json, weights.bin, unet.json) plus the optimizer slots
 * (optimizer.json + optimizer.bin) and the loop state (state.json). A folder is
 * written under a temporary name, every file fsynced, then renamed into place, so a
 * crash or kill at any moment leaves either the whole checkpoint or none of it.
 */
import { cp, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { writeFileAtomic } from '../io/atomic.js';
import { loadModel, saveModel } from '../io/model-files.js';
import type { ModelMetadata } from '../io/model-format.js';
import type { NamedTensor, TrainCheckpoint, TrainState } from './train.js';

const PREFIX = 'iter-';
const BEST = 'best';

/** @example checkpointName(120) === 'iter-0000120' (zero-padded so names sort by iteration) */
export function checkpointName(iteration: number): string {
  return `${PREFIX}${String(iteration).padStart(7, '0')}`;
}

export interface CheckpointStoreOptions {
  /** Checkpoints kept besides `best`. Default 3. */
  readonly keepLast?: number;
}

export class CheckpointStore {
  private readonly keepLast: number;
  /** Validation loss of `best`; read from disk on the first write, so a resumed run keeps the bar. */
  private bestLoss: number | null = null;

  constructor(
    readonly root: string,
    options: CheckpointStoreOptions = {},
  ) {
    this.keepLast = options.keepLast ?? 3;
    if (!Number.isInteger(this.keepLast) || this.keepLast < 1) throw new Error(`CheckpointStore: keepLast must be a positive integer, got ${this.keepLast}`);
  }

  /** Writes one checkpoint, rotates old ones and refreshes `best`; returns the checkpoint folder. */
  async write(model: tfl.LayersModel, checkpoint: TrainCheckpoint, metadata: ModelMetadata): Promise<string> {
    await mkdir(this.root, { recursive: true });
    const name = checkpointName(checkpoint.state.iteration);
    const tmp = join(this.root, `.tmp-${name}-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await saveModel(tmp, model, metadata);
    const { data, specs } = await tf.io.encodeWeights(checkpoint.optimizerWeights.map((w) => ({ name: w.name, tensor: w.tensor })));
    await writeFileAtomic(join(tmp, 'optimizer.bin'), new Uint8Array(data as ArrayBuffer));
    await writeFileAtomic(join(tmp, 'optimizer.json'), JSON.stringify(specs));
    await writeFileAtomic(join(tmp, 'state.json'), `${JSON.stringify({ ...checkpoint.state, reason: checkpoint.reason }, null, 1)}\n`);
    const final = join(this.root, name);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);

    this.bestLoss ??= await bestLossOnDisk(this.root);
    const lastVal = checkpoint.state.validation.at(-1);
    if (lastVal && lastVal.iteration === checkpoint.state.iteration && lastVal.loss < this.bestLoss) {
      this.bestLoss = lastVal.loss;
      const bestTmp = join(this.root, `.tmp-${BEST}-${process.pid}`);
      await rm(bestTmp, { recursive: true, force: true });
      await cp(final, bestTmp, { recursive: true });
      await rm(join(this.root, BEST), { recursive: true, force: true });
      await rename(bestTmp, join(this.root, BEST));
    }
    const all = await listCheckpoints(this.root);
    for (const old of all.slice(0, Math.max(0, all.length - this.keepLast))) await rm(join(this.root, old), { recursive: true, force: true });
    return final;
  }
}

/** Validation loss recorded in `<root>/best/state.json`, or Infinity when there is no best yet. */
async function bestLossOnDisk(root: string): Promise<number> {
  try {
    const state = JSON.parse(await readFile(join(root, BEST, 'state.json'), 'utf8')) as TrainState;
    return state.validation.at(-1)?.loss ?? Infinity;
  } catch {
    return Infinity;
  }
}

/** Checkpoint folder names under `root`, oldest first (temporary folders excluded). */
export async function listCheckpoints(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(PREFIX) && /^iter-\d+$/.test(n)).sort();
}

/** The newest checkpoint folder under `root`, or null. */
export async function latestCheckpoint(root: string): Promise<string | null> {
  const all = await listCheckpoints(root);
  return all.length ? join(root, all[all.length - 1]!) : null;
}

export interface LoadedCheckpoint {
  readonly model: tfl.LayersModel;
  readonly metadata: ModelMetadata;
  readonly state: TrainState;
  readonly optimizerWeights: NamedTensor[];
}

/** Reads a checkpoint folder written by {@link CheckpointStore.write}; errors name the folder. */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const { model, metadata } = await loadModel(dir);
  let state: TrainState;
  let specs: tf.io.WeightsManifestEntry[];
  let bin: Buffer;
  try {
    state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as TrainState;
    specs = JSON.parse(await readFile(join(dir, 'optimizer.json'), 'utf8')) as tf.io.WeightsManifestEntry[];
    bin = await readFile(join(dir, 'optimizer.bin'));
  } catch (e) {
    throw new Error(`readCheckpoint: ${dir} is not a complete checkpoint (${(e as Error).message})`, { cause: e });
  }
  const decoded = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer, specs);
  const optimizerWeights = specs.map((s) => ({ name: s.name, tensor: decoded[s.name]! }));
  return { model, metadata, state, optimizerWeights };
}
