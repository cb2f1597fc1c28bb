/** Hand-computed cases for src/metrics (values worked out in the comments). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { confusionMatrix, perClassScores, pixelAccuracy, pixelError, pixelFScore, binaryCounts } from '../src/metrics/pixel.js';
import { adaptedRand, randIndex } from '../src/metrics/rand.js';
import { informationScores } from '../src/metrics/information.js';
import { thinZhangSuen } from '../src/metrics/thinning.js';
import { isbiSliceScores, isbiStackScores, isbiThresholds } from '../src/metrics/isbi.js';
import { dsbAveragePrecision, matchInstances, segMeasure } from '../src/metrics/instances.js';
import { maxWeightAssignment } from '../src/metrics/assignment.js';
import { labelComponents } from '../src/util/components.js';
import { assertClose } from './helpers.js';

const I = (...v: number[]): Int32Array => Int32Array.from(v);

test('pixel metrics: accuracy, error, per-class IoU and Dice on a 3-pixel example', () => {
  const m = confusionMatrix(Uint8Array.of(0, 1, 1), Uint8Array.of(0, 1, 0), 2);
  assert.deepEqual([...m.counts], [1, 0, 1, 1]);
  assertClose(pixelAccuracy(m), 2 / 3, 1e-12, 'accuracy');
  assertClose(pixelError(m), 1 / 3, 1e-12, 'error');
  const s = perClassScores(m);
  assertClose(s[1]!.iou, 1 / 2, 1e-12, 'class 1 IoU');
  assertClose(s[1]!.dice, 2 / 3, 1e-12, 'class 1 Dice');
  assertClose(s[0]!.iou, 1 / 2, 1e-12, 'class 0 IoU');
  const same = perClassScores(confusionMatrix(Uint8Array.of(0, 2, 2), Uint8Array.of(0, 2, 2), 3));
  assert.deepEqual(same.map((c) => c.iou), [1, NaN, 1], 'identical maps: IoU 1, absent class NaN');
  assert.throws(() => confusionMatrix(Uint8Array.of(0, 3), Uint8Array.of(0, 1), 2), /truth value 3 at pixel 1/);
  assert.throws(() => confusionMatrix(Uint8Array.of(0), Uint8Array.of(0, 1), 2), /truth has 1 pixels but pred has 2/);
  // pixel F: truth 1 1 0 0, pred 1 0 1 0 -> tp 1, fp 1, fn 1 -> F = 2/4
  assertClose(pixelFScore(binaryCounts(Uint8Array.of(1, 1, 0, 0), Uint8Array.of(1, 0, 1, 0))), 0.5, 1e-12, 'pixel F');
});

test('V_rand: identical partitions score 1, one split and one merge give 2/3', () => {
  const id = adaptedRand(I(1, 1, 2, 2, 0, 3), I(7, 7, 9, 9, 0, 4));
  assert.equal(id.vRand, 1);
  assert.equal(id.split, 1);
  assert.equal(id.merge, 1);
  // Split: truth 1 1 1 1, pred 1 1 2 2. sum n_ij^2 = 8, sum s^2 = 8, sum t^2 = 16.
  const split = adaptedRand(I(1, 1, 1, 1), I(1, 1, 2, 2));
  assertClose(split.split, 1, 1e-12, 'split case: split score');
  assertClose(split.merge, 0.5, 1e-12, 'split case: merge score');
  assertClose(split.vRand, 2 / 3, 1e-12, 'split case: V_rand');
  // Merge: truth 1 1 2 2, pred 1 1 1 1. sum n^2 = 8, sum s^2 = 16, sum t^2 = 8.
  const merge = adaptedRand(I(1, 1, 2, 2), I(1, 1, 1, 1));
  assertClose(merge.split, 0.5, 1e-12, 'merge case: split score');
  assertClose(merge.merge, 1, 1e-12, 'merge case: merge score');
  assertClose(merge.vRand, 2 / 3, 1e-12, 'merge case: V_rand');
});

test('V_rand: proposal boundary pixels in the truth foreground are singletons; truth background is ignored', () => {
  // truth 1 1 1 1, pred 1 1 1 0: together 3^2 + 1 (singleton) = 10, pred 9 + 1 = 10, truth 16.
  const r = adaptedRand(I(1, 1, 1, 1), I(1, 1, 1, 0));
  assertClose(r.split, 1, 1e-12, 'split');
  assertClose(r.merge, 10 / 16, 1e-12, 'merge');
  // As one segment (scikit-image convention) the 0 pixel is a separate segment: 9+1 over 9+1 and 16.
  const seg = adaptedRand(I(1, 1, 1, 1), I(1, 1, 1, 0), { predZero: 'segment' });
  assertClose(seg.merge, 10 / 16, 1e-12, 'segment merge (same here: one pixel)');
  // Two boundary pixels: singletons give together 2^2 + 2 = 6; one segment gives 2^2 + 2^2 = 8.
  assertClose(adaptedRand(I(1, 1, 1, 1), I(1, 1, 0, 0)).merge, 6 / 16, 1e-12, 'two singletons');
  assertClose(adaptedRand(I(1, 1, 1, 1), I(1, 1, 0, 0), { predZero: 'segment' }).merge, 8 / 16, 1e-12, 'one zero segment');
  // Anything the proposal does on truth-background (0) pixels is ignored.
  assert.equal(adaptedRand(I(1, 1, 0, 0), I(1, 1, 5, 6)).vRand, 1);
  assert.ok(Number.isNaN(adaptedRand(I(0, 0), I(1, 1)).vRand), 'no truth foreground: undefined');
});

test('classic Rand index (Rand 1971) on the merge example is 1/3', () => {
  assertClose(randIndex(I(1, 1, 2, 2), I(1, 1, 1, 1)), 1 / 3, 1e-12, 'RI');
  assert.equal(randIndex(I(3, 3, 4), I(1, 1, 0)), 1);
});

test('V_info: identical scores 1; split and merge examples give 0 with the right conditional entropy', () => {
  const id = informationScores(I(1, 1, 2, 2, 3), I(5, 5, 6, 6, 7));
  assertClose(id.vInfo, 1, 1e-12, 'identical V_info');
  assertClose(id.vi, 0, 1e-12, 'identical VI');
  const single = informationScores(I(1, 1), I(4, 4));
  assert.equal(single.vInfo, 1, 'one segment each: identical, scores 1');
  const split = informationScores(I(1, 1, 1, 1), I(1, 1, 2, 2));
  assertClose(split.vInfo, 0, 1e-12, 'split V_info');
  assertClose(split.splitEntropy, Math.LN2, 1e-12, 'split entropy = ln 2');
  assertClose(split.mergeEntropy, 0, 1e-12, 'no merge entropy');
  const merge = informationScores(I(1, 1, 2, 2), I(1, 1, 1, 1));
  assertClose(merge.mergeEntropy, Math.LN2, 1e-12, 'merge entropy = ln 2');
  assertClose(merge.split, 1, 1e-12, 'merge case split score');
  // Partial merge: truth 1 1 2 2 3 3 3 3, pred 1 1 1 1 2 2 2 2. H(T) = 1.5 ln2... computed:
  // t = (1/4, 1/4, 1/2): H(T) = 1.5 ln 2; s = (1/2, 1/2): H(S) = ln 2; H(T,S) = H(T) (pred is coarser).
  // I = H(S) = ln 2 -> split = 1, merge = 1/1.5 = 2/3, V_info = 2 ln2 / 2.5 ln2 = 0.8.
  const pm = informationScores(I(1, 1, 2, 2, 3, 3, 3, 3), I(1, 1, 1, 1, 2, 2, 2, 2));
  assertClose(pm.split, 1, 1e-12, 'partial merge split');
  assertClose(pm.merge, 2 / 3, 1e-12, 'partial merge merge');
  assertClose(pm.vInfo, 0.8, 1e-12, 'partial merge V_info');
  // Singleton convention: truth 1 1 1 1, pred 1 1 0 0 -> pred segments {2 px}, {1}, {1}:
  // H(S) = -(1/2 ln 1/2 + 2 * 1/4 ln 1/4) = 1.5 ln 2; H(T) = 0 -> V_info = 0 (splits only).
  const sg = informationScores(I(1, 1, 1, 1), I(1, 1, 0, 0));
  assertClose(sg.hPred, 1.5 * Math.LN2, 1e-12, 'singleton entropy');
});

test('thinZhangSuen: thick bar thins to one pixel, keeps a separating line separating', () => {
  // 3-thick vertical band splitting a 7x7 image into two 4-connected halves.
  const h = 7;
  const w = 7;
  const band = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 2; x <= 4; x++) band[y * w + x] = 1;
  const thin = thinZhangSuen(band, h, w, 1);
  for (let y = 0; y < h; y++) {
    const row = [...thin.slice(y * w, y * w + w)];
    assert.equal(row.reduce((a, b) => a + b, 0), 1, `row ${y} of the thinned band has one pixel: ${row.join('')}`);
  }
  const outside = thin.map((v) => 1 - v);
  assert.equal(labelComponents(outside, h, w, 4).count, 2, 'the thinned band still separates two regions');
  assert.deepEqual([...thinZhangSuen(Uint8Array.of(0, 1, 0), 1, 3)], [0, 1, 0], 'single pixel is kept');
});

test('isbiSliceScores: perfect probability map scores 1; thick boundaries hurt only before thinning', () => {
  // Two cells separated by a 1-pixel membrane column; the proposal draws it 3 pixels thick.
  const h = 8;
  const w = 9;
  const truth = new Uint8Array(h * w).fill(1);
  const prob = new Float32Array(h * w).fill(0.9);
  for (let y = 0; y < h; y++) {
    truth[y * w + 4] = 0;
    for (let x = 3; x <= 5; x++) prob[y * w + x] = 0.05;
  }
  const perfect = isbiSliceScores(truth, Float32Array.from(truth), h, w);
  assert.equal(perfect.vRand, 1);
  assert.equal(perfect.vInfo, 1);
  assert.equal(perfect.randError, 0);
  assert.equal(perfect.pixelError, 0);
  const thick = isbiSliceScores(truth, prob, h, w);
  assertClose(thick.vRand, 1, 1e-12, 'V_rand after thinning the thick membrane');
  assertClose(thick.vInfo, 1, 1e-12, 'V_info after thinning');
  // Without thinning: 16 truth pixels (columns 3 and 5) become singletons out of 64.
  // Each cell: 24 px kept together + 8 singletons: together = 2*(24^2 + 8) = 1168, pred = 1168,
  // truth = 2 * 32^2 = 2048 -> F = 2*1168/(1168+2048).
  assertClose(thick.randError, 1 - (2 * 1168) / (1168 + 2048), 1e-12, 'unthinned Rand error');
  const noThin = isbiSliceScores(truth, prob, h, w, { thin: false });
  assertClose(noThin.vRand, (2 * 1168) / (1168 + 2048), 1e-12, 'V_rand without thinning');
  const stack = isbiStackScores([perfect, perfect]);
  assert.equal(stack.vRand, 1);
  assert.equal(stack.slices, 2);
  assert.equal(isbiThresholds().length, 11);
  assert.ok(isbiThresholds()[10]! < 1 && isbiThresholds()[10]! > 0.9999, 'last threshold accumulates to just below 1 as in the reference loop');
  assert.throws(() => isbiSliceScores(truth, prob.subarray(1), h, w), /isbiSliceScores: truth has 72 and proposal 71 pixels/);
});

test('instance matching: identical maps are perfect; one split and one merge counted as worked out', () => {
  const truth = I(1, 1, 0, 2, 2, 0, 3, 3, 3, 3);
  const same = matchInstances(truth, I(5, 5, 0, 6, 6, 0, 7, 7, 7, 7));
  assert.deepEqual([same.tp, same.fp, same.fn, same.f1], [3, 0, 0, 1]);
  assert.equal(dsbAveragePrecision(truth, truth).ap, 1);
  assert.equal(segMeasure(truth, truth).seg, 1);
  // Merge objects 1 and 2 into one (covering the gap pixel too), split object 3 into halves.
  const pred = I(1, 1, 1, 1, 1, 0, 2, 2, 3, 3);
  // IoUs: (t1,p1) 2/5, (t2,p1) 2/5, (t3,p2) 2/4, (t3,p3) 2/4 -> none > 0.5.
  const m = matchInstances(truth, pred);
  assert.deepEqual([m.tp, m.fp, m.fn], [0, 3, 3]);
  assert.equal(dsbAveragePrecision(truth, pred).ap, 0);
  // At IoU > 0.3 Hungarian matches t1 or t2 to p1 and t3 to p2 or p3: tp 2, fp 1, fn 1.
  const low = matchInstances(truth, pred, { iouThreshold: 0.3 });
  assert.deepEqual([low.tp, low.fp, low.fn], [2, 1, 1]);
  assertClose(low.f1, 4 / 6, 1e-12, 'F1 at 0.3');
  // SEG is lenient to merges: t1 and t2 each lie inside p1 (|R∩S| = 2 > 0.5*2), J = 2/5 each;
  // t3's overlaps are exactly half (2 = 0.5*4, not >) -> 0. SEG = (2/5 + 2/5 + 0)/3 = 4/15.
  assertClose(segMeasure(truth, pred).seg, 4 / 15, 1e-12, 'SEG');
});

test('instance metrics: DSB AP over 0.5:0.05:0.95 and SEG on a partially overlapping object', () => {
  // Truth one 4-pixel object; pred covers 3 of them plus 1 extra pixel: IoU 3/5 = 0.6.
  const truth = I(1, 1, 1, 1, 0);
  const pred = I(4, 4, 4, 0, 4);
  const ap = dsbAveragePrecision(truth, pred);
  // Matches at t = 0.5, 0.55 (IoU 0.6 > t), not at 0.6 .. 0.95 -> AP = 2/10.
  assertClose(ap.ap, 0.2, 1e-12, 'AP');
  assert.equal(ap.perThreshold.length, 10);
  assertClose(segMeasure(truth, pred).seg, 0.6, 1e-12, 'SEG = J = 3/5');
  assert.equal(dsbAveragePrecision(I(0, 0), I(0, 0)).ap, 1, 'empty vs empty');
  assert.ok(Number.isNaN(segMeasure(I(0, 0), I(1, 1)).seg), 'SEG undefined without reference objects');
});

test('maxWeightAssignment: optimal on small matrices against brute force', () => {
  assert.deepEqual([...maxWeightAssignment(Float64Array.of(1, 2, 3, 1), 2, 2)], [1, 0]);
  assert.deepEqual([...maxWeightAssignment(Float64Array.of(0.2, 0.9, 0.8), 1, 3)], [1]);
  let seed = 3;
  const rnd = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let trial = 0; trial < 20; trial++) {
    const n = 4;
    const w = Float64Array.from({ length: n * n }, () => Math.round(rnd() * 10));
    const a = maxWeightAssignment(w, n, n);
    const total = [...a].reduce((s, j, i) => s + (j >= 0 ? w[i * n + j]! : 0), 0);
    let best = 0;
    const perm = (used: number[], i: number, s: number): void => {
      if (i === n) { best = Math.max(best, s); return; }
      for (let j = 0; j < n; j++) if (!used.includes(j)) perm([...used, j], i + 1, s + w[i * n + j]!);
    };
    perm([], 0, 0);
    assert.equal(total, best, `trial ${trial}: Hungarian total ${total} vs brute force ${best}`);
  }
});
