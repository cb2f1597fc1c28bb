/**
 * Timing probe for a plan: a few real training steps (model, tiles, augmentation, loss, update)
 * on the given samples, on the active backend, to convert a time budget into a number of steps.
 * The first step is a warm-up (kernel set-up, buffer pools) and is not counted.
 */
import { makeAugmenter } from '../augment/augment.js';
import { resolveConfig, type UNetConfig } from '../model/config.js';
import { initializeWeights } from '../model/init.js';
import { buildUNet } from '../model/unet.js';
import type { TrainingSample } from '../train/tiles.js';
import { train } from '../train/train.js';
import { Rng } from '../util/rng.js';

export interface ProbeResult {
  readonly secondsPerStep: number;
  /** Steps timed (after the warm-up step). */
  readonly steps: number;
}

/** Timed steps of the probe: 3 after the warm-up average out a slow step in a few seconds. */
export const DEFAULT_PROBE_STEPS = 3;

/** Seconds per step of `steps` timed steps (default DEFAULT_PROBE_STEPS) at input `tile`, Adam, batch 1, default augmentation. */
export async function probeSecondsPerStep(samples: readonly TrainingSample[], config: Partial<UNetConfig>, tile: number, steps = DEFAULT_PROBE_STEPS, seed = 1): Promise<ProbeResult> {
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`probeSecondsPerStep: steps must be a positive integer, got ${steps}`);
  if (samples.length === 0) throw new Error('probeSecondsPerStep: no samples');
  const resolved = resolveConfig(config);
  const model = buildUNet(resolved, tile);
  try {
    initializeWeights(model, new Rng(seed));
    let warm = 0;
    let last = 0;
    await train(model, samples, {
      iterations: steps + 1,
      seed,
      optimizer: 'adam',
      learningRate: 0.001,
      augment: makeAugmenter(),
      onProgress: (p) => {
        if (p.iteration === 1) warm = p.elapsedMs;
        last = p.elapsedMs;
      },
    });
    return { secondsPerStep: Math.max(1e-6, (last - warm) / 1000 / steps), steps };
  } finally {
    model.dispose();
  }
}
