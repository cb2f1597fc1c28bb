/**
 * Worker-thread side of startTileWorkers (src/train/tile-workers.ts): holds a copy of the
 * training samples and makes the tiles of the jobs it is sent, exactly as the training thread
 * would (makeTile with the augmenter of the same options). Node only.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { makeAugmenter, type AugmentOptions } from '../augment/augment.js';
import { makeTile, type TileJob } from './tile-jobs.js';
import type { TileGeometry, TrainingSample } from './tiles.js';

export interface TileWorkerData {
  readonly samples: readonly TrainingSample[];
  readonly geometry: TileGeometry;
  readonly channels: number;
  readonly augment: AugmentOptions | null;
  /** Requests to make at once, before any arrives (TileWorkerOptions.first). */
  readonly first: readonly TileWorkerRequest[];
}

export type TileWorkerRequest = { readonly id: number; readonly jobs: readonly TileJob[] };
export type TileWorkerReply =
  | { readonly ready: true }
  | { readonly id: number; readonly tiles: { image: Float32Array; labels: Int32Array; weights: Float32Array }[] }
  | { readonly id: number; readonly error: string };

/**
 * The buffers to transfer rather than copy: those each wholly owned by one of `arrays` (a view
 * into a larger buffer, a sample's say, must be copied, or the transfer would detach the sample).
 */
function ownBuffers(arrays: readonly (Float32Array | Int32Array)[]): ArrayBuffer[] {
  const seen = new Set<ArrayBufferLike>();
  const own: ArrayBuffer[] = [];
  for (const a of arrays) {
    if (seen.has(a.buffer)) continue;
    seen.add(a.buffer);
    if (a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) own.push(a.buffer);
  }
  return own;
}

// Lowest priority: the step's compute threads win a contended core, and this thread fills the
// idle time (JS between kernels, the wait at the step's end). On Linux the nice value belongs
// to the calling thread. Lowering it is always permitted; if it fails, the tiles are the same.
try {
  setPriority(19);
} catch {
  // keep the default priority
}

const data = workerData as TileWorkerData;
const augment = data.augment ? makeAugmenter(data.augment) : undefined;
const port = parentPort!;
const make = (req: TileWorkerRequest): void => {
  try {
    const tiles = req.jobs.map((j) => makeTile(data.samples, j, data.geometry, data.channels, augment));
    const reply: TileWorkerReply = { id: req.id, tiles: tiles.map((t) => ({ image: t.image, labels: t.labels, weights: t.weights })) };
    port.postMessage(reply, ownBuffers(tiles.flatMap((t) => [t.image, t.labels, t.weights])));
  } catch (e) {
    port.postMessage({ id: req.id, error: (e as Error).message } satisfies TileWorkerReply);
  }
};
port.on('message', make);
// Said once the module has loaded: a worker can be online and still fail to load its script.
port.postMessage({ ready: true } satisfies TileWorkerReply);
for (const req of data.first) make(req);
