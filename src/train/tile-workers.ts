/**
 * Training tiles made in worker threads, ahead of the step that uses them (Node only).
 *
 * Why: cutting, augmenting and resampling a tile's image, labels and weights took the
 * training thread off the network between steps. Here a worker makes step i + 1's tiles while
 * step i runs (train() asks one step ahead). Jobs are plain data drawn by the training thread
 * (planStep: sample, window, augmentation seed), so the tiles are those the training thread
 * would make itself, bit for bit, whatever the timing (test/tile-workers.test.ts).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AugmentOptions } from '../augment/augment.js';
import type { TileJob, TileProducer } from './tile-jobs.js';
import type { Tile, TileGeometry, TrainingSample } from './tiles.js';
import type { TileWorkerData, TileWorkerReply, TileWorkerRequest } from './tile-worker.js';

/** Worker threads `unet train` starts for its tiles (--data-workers); one keeps ahead of a step on 2 cores. */
export const DEFAULT_TILE_WORKERS = 1;

export interface TileWorkerOptions {
  readonly geometry: TileGeometry;
  readonly channels: number;
  /** The augmentation options (data, so a worker can rebuild the augmenter); null = cut only. */
  readonly augment: AugmentOptions | null;
  /** Worker threads; steps go to them in turn. Default DEFAULT_TILE_WORKERS. */
  readonly workers?: number;
  /**
   * The jobs of the first steps (planStep), made as soon as each worker has loaded, before
   * anyone asks: `unet train` starts its workers before it builds the model, so that the first
   * tiles (a cold worker's slowest) are made meanwhile. make() with equal jobs returns them.
   */
  readonly first?: readonly (readonly TileJob[])[];
}

/** The worker script next to this module: tile-worker.js in dist/, tile-worker.ts when run from source (tsx). */
function workerScript(): string | null {
  const here = fileURLToPath(import.meta.url);
  const script = here.replace(/tile-workers\.(ts|js)$/, 'tile-worker.$1');
  return script !== here && existsSync(script) ? script : null;
}

/**
 * A worker running `script`. From source (a .ts script, run under tsx) the worker registers
 * tsx's loader first: a worker thread does not inherit the loader hooks of its parent.
 */
function startWorker(script: string, workerData: TileWorkerData): Worker {
  if (!script.endsWith('.ts')) return new Worker(script, { workerData });
  const code = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(script).href)}); });`;
  return new Worker(code, { eval: true, workerData });
}

/**
 * A TileProducer of `workers` worker threads, each with its own copy of `samples`, or null
 * when no worker can be started (then make the tiles in-thread: inThreadProducer). Close it
 * when training ends.
 */
export async function startTileWorkers(samples: readonly TrainingSample[], options: TileWorkerOptions): Promise<TileProducer | null> {
  const count = options.workers ?? DEFAULT_TILE_WORKERS;
  if (!Number.isInteger(count) || count < 1) throw new Error(`startTileWorkers: workers must be a positive integer, got ${count}`);
  const script = workerScript();
  if (!script) return null;
  const pending = new Map<number, { resolve: (t: Tile[]) => void; reject: (e: Error) => void }>();
  let failure: Error | null = null;
  const fail = (e: Error): void => {
    failure ??= e;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };
  const awaitReply = (id: number): Promise<Tile[]> => new Promise<Tile[]>((resolve, reject) => pending.set(id, { resolve, reject }));
  // Request ids go to the workers in turn (id % count); the first ones travel with the worker's data.
  let nextId = 0;
  const first = (options.first ?? []).map((jobs) => ({ id: nextId++, jobs }));
  const early = new Map(first.map((r) => [JSON.stringify(r.jobs), awaitReply(r.id)]));
  // A run that stops before asking for them never awaits them.
  for (const tiles of early.values()) tiles.catch(() => undefined);
  let workers: Worker[];
  try {
    workers = Array.from({ length: count }, (_, k) => {
      const data: TileWorkerData = { samples, geometry: options.geometry, channels: options.channels, augment: options.augment, first: first.filter((r) => r.id % count === k) };
      return startWorker(script, data);
    });
  } catch {
    return null;
  }
  // Listening from the start: a worker's first tiles may follow its 'ready' at once.
  const online = workers.map((w) => new Promise<boolean>((resolve) => {
    w.on('message', (reply: TileWorkerReply) => {
      if ('ready' in reply) return resolve(true);
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if ('error' in reply) p.reject(new Error(`tile worker: ${reply.error}`));
      else p.resolve(reply.tiles);
    });
    // A worker that cannot load its script fails before it says it is ready.
    w.once('error', () => resolve(false));
    w.once('exit', () => resolve(false));
  }));
  if (!(await Promise.all(online)).every(Boolean)) {
    await Promise.all(workers.map((w) => w.terminate()));
    return null;
  }
  for (const w of workers) {
    w.on('error', (e) => fail(new Error(`tile worker failed: ${e.message}`)));
    w.on('exit', (code) => fail(new Error(`tile worker exited (code ${code})`)));
  }
  let closed = false;
  return {
    make(jobs: readonly TileJob[]): Promise<Tile[]> {
      if (closed) return Promise.reject(new Error('startTileWorkers: make() after close()'));
      if (failure) return Promise.reject(failure);
      // A tile is a function of its job alone, so tiles made early are the ones asked for.
      const key = JSON.stringify(jobs);
      const made = early.get(key);
      if (made) {
        early.delete(key);
        return made;
      }
      const id = nextId++;
      const tiles = awaitReply(id);
      workers[id % workers.length]!.postMessage({ id, jobs } satisfies TileWorkerRequest);
      return tiles;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      failure ??= new Error('startTileWorkers: closed');
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
