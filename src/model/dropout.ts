/**
 * Dropout whose masks come from the caller's seeded generator.
 *
 * tfjs-layers' own Dropout either uses Math.random (not reproducible) or, given a
 * seed, draws the *same* mask on every call. Sec. 3.1 puts dropout at the end of the
 * contracting path as implicit augmentation, which needs a fresh mask per step, and
 * rule 4 needs those masks reproducible from the run's seed: the trainer hands this
 * layer a seed source before every training step.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export interface SeededDropoutArgs {
  rate: number;
  name?: string;
}

export class SeededDropout extends tfl.layers.Layer {
  static readonly className = 'UNetSeededDropout';
  readonly rate: number;
  /** Draws a fresh 32-bit seed per mask; set by the trainer, null outside training. */
  seedSource: (() => number) | null = null;

  constructor(args: SeededDropoutArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    this.rate = args.rate;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (!kwargs.training || this.rate === 0) return tf.clone(x);
    if (this.seedSource === null) {
      throw new Error(`SeededDropout(${this.name}): training call without a seed source; the trainer must set one (see setDropoutSeedSource)`);
    }
    const seed = this.seedSource();
    return tf.tidy(() => {
      const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), this.rate), 'float32');
      return tf.mul(x, tf.mul(keep, 1 / (1 - this.rate)));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}
tf.serialization.registerClass(SeededDropout);

/** Points every SeededDropout of `model` at `next` (or detaches them with null). */
export function setDropoutSeedSource(model: tfl.LayersModel, next: (() => number) | null): void {
  for (const layer of model.layers) if (layer instanceof SeededDropout) layer.seedSource = next;
}
