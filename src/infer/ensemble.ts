/**
 * Ensembles: a predictor that averages the class probabilities of several predictors on the
 * same tiles (nnU-Net's ensembling of its cross-validation fold models). The tiler runs once,
 * so every member sees the same tiles and mirrored borders; the members must agree on tile
 * shapes, channels, classes and alignment (models of one architecture and normalisation).
 */
import type { DisposablePredictor, TilePredictor } from './predictor.js';

/**
 * The mean of the members' probabilities, tile by tile. Members are called one after another
 * (each holds its own network), each with the whole batch.
 *
 * @example two members predicting 0.2 and 0.6 for a pixel's class 1 give 0.4.
 */
export function ensemblePredictor(members: readonly TilePredictor[]): TilePredictor {
  if (members.length === 0) throw new Error('ensemblePredictor: no members');
  const first = members[0]!;
  members.forEach((m, k) => {
    const same = m.inputShape[0] === first.inputShape[0] && m.inputShape[1] === first.inputShape[1]
      && m.outputShape[0] === first.outputShape[0] && m.outputShape[1] === first.outputShape[1]
      && m.channels === first.channels && m.classes === first.classes && m.alignment === first.alignment;
    if (!same) {
      throw new Error(`ensemblePredictor: member ${k} has input ${m.inputShape.join('x')}, output ${m.outputShape.join('x')}, ${m.channels} channel(s), ${m.classes} classes, alignment ${m.alignment}; member 0 has ${first.inputShape.join('x')}, ${first.outputShape.join('x')}, ${first.channels}, ${first.classes}, ${first.alignment}`);
    }
  });
  if (members.length === 1) return first;
  return {
    inputShape: first.inputShape,
    outputShape: first.outputShape,
    channels: first.channels,
    classes: first.classes,
    alignment: first.alignment,
    async predictBatch(tilesNHWC: Float32Array, n: number): Promise<Float32Array> {
      let sum: Float32Array | null = null;
      for (const m of members) {
        const p = await m.predictBatch(tilesNHWC, n);
        if (sum === null) sum = Float32Array.from(p);
        else for (let i = 0; i < p.length; i++) sum[i]! += p[i]!;
      }
      const inv = 1 / members.length;
      for (let i = 0; i < sum!.length; i++) sum![i]! *= inv;
      return sum!;
    },
  };
}

/** An ensemble that disposes its members' rebuilt networks. */
export function disposableEnsemble(members: readonly DisposablePredictor[]): DisposablePredictor {
  const e = ensemblePredictor(members);
  return { ...e, predictBatch: e.predictBatch.bind(e), dispose: () => { for (const m of members) m.dispose(); } };
}
