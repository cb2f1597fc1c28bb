/**
 * Checkpoints on disk (Node). Each is a folder `<root>/iter-NNNNNNN/` holding a
 * complete saved model (model.json, weights.bin, unet.json) plus the optimizer slots
 * (optimizer.json + optimizer.bin) and the loop state (state.json). A folder is
 * written under a temporary name, every file and the folder fsynced, then renamed
 * into place and the parent folder fsynced (so the rename itself survives a power
 * loss), so a crash or kill at any moment leaves either the whole checkpoint or none.
 *
 * Replacing a folder (`best`, or a checkpoint of the same iteration): POSIX cannot
 * rename a folder over a non-empty one, and rm-then-rename would leave a window with
 * no `best`. So the old folder is renamed aside (`.old-<name>`), the new one renamed
 * in, and only then the old one removed. A crash between the two renames leaves the
 * complete old folder under `.old-<name>`; the next {@link CheckpointStore.write}
 * (a resumed run) renames it back first, and {@link bestCheckpoint} reads it there.
 *
 * A corrupt `best/state.json` is an error, not "no best yet": treating it as missing
 * would let any later, worse checkpoint replace `best`. The error names the file; the
 * checkpoint being written is already in place, so after moving the bad `best` away
 * `--resume` continues.
 */
import { cp, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { writeFileAtomic } from '../io/atomic.js';
import { loadModel, saveModel } from '../io/model-files.js';
import type { ModelMetadata } from '../io/model-format.js';
import type { NamedTensor, TrainCheckpoint, TrainState } from './train.js';
import { isBetterValidation, type ValidationEntry } from './validation-metric.js';

const PREFIX = 'iter-';
const BEST = 'best';
const ASIDE = '.old-';

/** @example checkpointName(120) === 'iter-0000120' (zero-padded; past 9,999,999 the name grows, so listings sort by number) */
export function checkpointName(iteration: number): string {
  return `${PREFIX}${String(iteration).padStart(7, '0')}`;
}

/** @example checkpointIteration('iter-10000000') === 10000000; checkpointIteration('best') === null */
export function checkpointIteration(name: string): number | null {
  return /^iter-\d+$/.test(name) ? Number(name.slice(PREFIX.length)) : null;
}

/** Checkpoints a store keeps besides `best`: enough to step back past a bad one, few enough to stay small. */
export const DEFAULT_KEEP_LAST = 3;

export interface CheckpointStoreOptions {
  /** Checkpoints kept besides `best`. Default DEFAULT_KEEP_LAST (3). */
  readonly keepLast?: number;
}

export class CheckpointStore {
  private readonly keepLast: number;
  /** Validation entry of `best`; read from disk on the first write, so a resumed run keeps the bar. */
  private bestEntry: ValidationEntry | null | undefined = undefined;
  private recovered = false;

  constructor(
    readonly root: string,
    options: CheckpointStoreOptions = {},
  ) {
    this.keepLast = options.keepLast ?? DEFAULT_KEEP_LAST;
    if (!Number.isInteger(this.keepLast) || this.keepLast < 1) throw new Error(`CheckpointStore: keepLast must be a positive integer, got ${this.keepLast}`);
  }

  /** The validation entry of the `best` folder as of the last write (null: none yet). */
  get best(): ValidationEntry | null {
    return this.bestEntry ?? null;
  }

  /**
   * Writes one checkpoint, rotates old ones and refreshes `best`: a checkpoint validated at its
   * own step replaces `best` when it is better by the validation metric, or by the validation
   * loss where the entries carry no metric (src/train/validation-metric.ts isBetterValidation).
   * Returns the checkpoint folder.
   */
  async write(model: tfl.LayersModel, checkpoint: TrainCheckpoint, metadata: ModelMetadata): Promise<string> {
    await mkdir(this.root, { recursive: true });
    if (!this.recovered) {
      await recoverAside(this.root);
      this.recovered = true;
    }
    const name = checkpointName(checkpoint.state.iteration);
    const tmp = join(this.root, `.tmp-${name}-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await saveModel(tmp, model, metadata);
    const { data, specs } = await tf.io.encodeWeights(checkpoint.optimizerWeights.map((w) => ({ name: w.name, tensor: w.tensor })));
    await writeFileAtomic(join(tmp, 'optimizer.bin'), new Uint8Array(data as ArrayBuffer));
    await writeFileAtomic(join(tmp, 'optimizer.json'), JSON.stringify(specs));
    await writeFileAtomic(join(tmp, 'state.json'), `${JSON.stringify({ ...checkpoint.state, reason: checkpoint.reason }, null, 1)}\n`);
    await fsyncDir(tmp);
    const final = join(this.root, name);
    await replaceDir(this.root, tmp, name);

    if (this.bestEntry === undefined) this.bestEntry = await bestEntryOnDisk(this.root);
    const lastVal = checkpoint.state.validation.at(-1);
    if (lastVal && lastVal.iteration === checkpoint.state.iteration && (this.bestEntry === null || isBetterValidation(lastVal, this.bestEntry))) {
      const bestTmp = join(this.root, `.tmp-${BEST}-${process.pid}`);
      await rm(bestTmp, { recursive: true, force: true });
      await cp(final, bestTmp, { recursive: true });
      await fsyncTree(bestTmp);
      await replaceDir(this.root, bestTmp, BEST);
      this.bestEntry = lastVal;
    }
    const all = await listCheckpoints(this.root);
    for (const old of all.slice(0, Math.max(0, all.length - this.keepLast))) await rm(join(this.root, old), { recursive: true, force: true });
    return final;
  }
}

/**
 * Puts the complete folder `root/tmp` in place as `root/name`: the old `name` (if any) is
 * renamed aside, the new one renamed in, the parent fsynced, and only then the old one
 * removed. If the second rename fails the old folder is renamed back before rethrowing.
 */
async function replaceDir(root: string, tmp: string, name: string): Promise<void> {
  const dest = join(root, name);
  const aside = join(root, `${ASIDE}${name}`);
  await rm(aside, { recursive: true, force: true });
  let hadOld = true;
  try {
    await rename(dest, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    hadOld = false;
  }
  try {
    await rename(tmp, dest);
  } catch (e) {
    if (hadOld) await rename(aside, dest);
    throw e;
  }
  await fsyncDir(root);
  if (hadOld) await rm(aside, { recursive: true, force: true });
}

/**
 * After a crash between the two renames of {@link replaceDir}: each `.old-<name>` whose
 * `<name>` is missing is renamed back (it is complete); one whose `<name>` exists is stale.
 */
async function recoverAside(root: string): Promise<void> {
  const names = new Set(await readdir(root));
  for (const n of names) {
    if (!n.startsWith(ASIDE)) continue;
    const name = n.slice(ASIDE.length);
    if (names.has(name)) await rm(join(root, n), { recursive: true, force: true });
    else await rename(join(root, n), join(root, name));
  }
  await fsyncDir(root);
}

/** fsync of a folder, so renames and new entries in it are durable. Windows cannot open folders; there it is skipped. */
async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync of every file and folder under `dir` (a copied checkpoint). */
async function fsyncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await fsyncTree(path);
    } else {
      const fh = await open(path, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }
  await fsyncDir(dir);
}

/**
 * The validation entry recorded in `<root>/best/state.json` (or its `.old-best` during a
 * replacement), or null when there is no best yet. Throws, naming the file, when the
 * folder exists but its state is unreadable or records no validation loss.
 */
async function bestEntryOnDisk(root: string): Promise<ValidationEntry | null> {
  const dir = await bestCheckpoint(root);
  if (dir === null) return null;
  const file = join(dir, 'state.json');
  let text: string;
  let state: Partial<TrainState>;
  try {
    text = await readFile(file, 'utf8');
    state = JSON.parse(text) as Partial<TrainState>;
  } catch (e) {
    throw new Error(`CheckpointStore: ${file} is unreadable (${(e as Error).message}); 'best' was left as is and not compared; move ${dir} away to let a new best be chosen`, { cause: e });
  }
  const entry = Array.isArray(state.validation) ? state.validation.at(-1) : undefined;
  if (typeof entry?.loss !== 'number' || Number.isNaN(entry.loss)) {
    throw new Error(`CheckpointStore: ${file} records no validation loss (validation: ${JSON.stringify(state.validation)}); 'best' was left as is and not compared; move ${dir} away to let a new best be chosen`);
  }
  return entry;
}

/** The `best` checkpoint folder under `root` (or its `.old-best` copy if a crash left it aside), or null. */
export async function bestCheckpoint(root: string): Promise<string | null> {
  for (const name of [BEST, `${ASIDE}${BEST}`]) {
    try {
      await readdir(join(root, name));
      return join(root, name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return null;
}

/** Checkpoint folder names under `root`, oldest first by iteration (temporary folders excluded). */
export async function listCheckpoints(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  return names.filter((n) => checkpointIteration(n) !== null).sort((a, b) => checkpointIteration(a)! - checkpointIteration(b)!);
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
