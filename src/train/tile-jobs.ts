/**
 * The tiles of a training step as plain data (TileJob), and the in-thread producer.
 *
 * Why jobs: which sample a step trains on, where its window lies and the seed of its
 * augmentation are drawn here, cheaply, from a generator that depends only on the run's seed
 * and the step number (streamSeed). Cutting and augmenting the window (the expensive part) can
 * then run anywhere, ahead of time, in another thread (src/train/tile-workers.ts), and give the
 * same tiles: the tiles of step i never depend on timing, on other steps or on a resume.
 * Browser-safe: no Node imports here.
 */
import { Rng, streamSeed } from '../util/rng.js';
import { cutTile, placeOutputWindow, placementZeroesOutside, type Tile, type TileAugmenter, type TileGeometry, type TileSampling, type TrainingSample } from './tiles.js';

/**
 * One tile to make: the index of its sample, its output window's origin, its augmentation's
 * seed, and whether output pixels outside the image get weight 0 (the 'uniform' and 'clamped'
 * placements, whose windows may reach past the image: src/train/tiles.ts placementZeroesOutside).
 */
export interface TileJob {
  readonly sample: number;
  readonly outTop: number;
  readonly outLeft: number;
  readonly seed: number;
  readonly zeroOutside: boolean;
}

/**
 * Makes the tiles of a step. train() asks for step i + 1 before it runs step i, so a producer
 * that works off the main thread prepares them while the step computes.
 */
export interface TileProducer {
  /** The tiles of `jobs`, in order. */
  make(jobs: readonly TileJob[]): Promise<Tile[]>;
  /** Frees the producer's threads; make() is not called afterwards. */
  close(): Promise<void>;
}

/**
 * The jobs of training step `step` (1-based) of a run seeded with `seed`: per tile, a sample
 * drawn uniformly, a window placed by placeOutputWindow with `placement`, and a 32-bit
 * augmentation seed.
 *
 * @example planStep(1, 5, 2, samples, geo, 'uniform') // the same two jobs in every run with seed 1, whatever ran before
 */
export function planStep(seed: number, step: number, batchSize: number, samples: readonly TrainingSample[], geo: TileGeometry, placement: TileSampling): TileJob[] {
  const rng = new Rng(streamSeed(seed, step));
  const jobs: TileJob[] = [];
  for (let b = 0; b < batchSize; b++) {
    const sample = rng.int(0, samples.length - 1);
    const s = samples[sample]!;
    const [outTop, outLeft] = placeOutputWindow(rng, [s.image.height, s.image.width], geo.output, placement);
    jobs.push({ sample, outTop, outLeft, seed: rng.nextUint32(), zeroOutside: placementZeroesOutside(placement) });
  }
  return jobs;
}

/** Cuts (and with `augment`, augments with a generator seeded by job.seed) the tile of one job. */
export function makeTile(samples: readonly TrainingSample[], job: TileJob, geo: TileGeometry, channels: number, augment?: TileAugmenter): Tile {
  const sample = samples[job.sample];
  if (!sample) throw new Error(`makeTile: job names sample ${job.sample}, there are ${samples.length}`);
  return augment
    ? augment(sample, geo, job.outTop, job.outLeft, channels, new Rng(job.seed), job.zeroOutside)
    : cutTile(sample, geo, job.outTop, job.outLeft, job.zeroOutside);
}

/** The producer that makes tiles in the calling thread when asked (browsers, or no worker threads). */
export function inThreadProducer(samples: readonly TrainingSample[], geo: TileGeometry, channels: number, augment?: TileAugmenter): TileProducer {
  return {
    make: (jobs) => {
      try {
        return Promise.resolve(jobs.map((j) => makeTile(samples, j, geo, channels, augment)));
      } catch (e) {
        return Promise.reject(e as Error);
      }
    },
    close: () => Promise.resolve(),
  };
}
