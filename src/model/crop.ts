/**
 * The skip connection's centre crop (Fig. 1, "copy and crop") as one slice.
 *
 * Why: tfjs-layers' Cropping2D slices the height and then the width, two copies of the skip map
 * forward and, as each slice's gradient is a pad, two zero-padded copies of its gradient backward.
 * One 4-D slice gives the same values with one copy each way: in a 16-filter 412 training step on
 * the oneDNN backend the two slices and two pads per crop were 28 ms of 387 (one thread).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { overrideCalls } from './override.js';

interface CroppingInternals {
  cropping: [[number, number], [number, number]];
  dataFormat: string;
}

/**
 * Makes every channels-last Cropping2D layer of `model` crop with one tf.slice (an instance
 * override of `call`, so the saved topology stays a plain Cropping2D). Applied to every U-Net we
 * build or load; returns the number of layers changed.
 *
 * @example cropInOneSlice(buildUNet({ depth: 2, baseFilters: 4 }, 60)) === 2 // one crop per level
 */
export function cropInOneSlice(model: tfl.LayersModel): number {
  return overrideCalls<CroppingInternals>(model, 'Cropping2D', (c) => {
    if (c.dataFormat !== 'channelsLast') return null;
    const [[top, bottom], [left, right]] = c.cropping;
    return (inputs) => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const [batch, h, w, channels] = x.shape;
      return tf.slice(x, [0, top, left, 0], [batch, h - top - bottom, w - left - right, channels]);
    };
  });
}
