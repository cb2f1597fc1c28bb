/**
 * V_rand / V_info / VI against independent implementations: scikit-image's adapted_rand_error and
 * variation_of_information, and a numpy re-computation of the ISBI (Fiji) formulas, on random
 * label pairs. Stored goldens always run; the live comparison runs scripts/metrics-goldens.py and
 * is skipped, with a visible message, where python3 lacks scikit-image (Debian python3-skimage).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { adaptedRand } from '../src/metrics/rand.js';
import { informationScores } from '../src/metrics/information.js';
import { assertClose, skipUnless } from './helpers.js';

interface GoldenCase {
  height: number;
  width: number;
  truth: number[];
  pred: number[];
  skimage: { adaptedRandError: number; precision: number; recall: number; viForeground: [number, number]; viAll: [number, number] };
  isbiRand: { split: number; merge: number; vRand: number };
  isbiInfo: { hTruth: number; hPred: number; mutualInformation: number; vInfo: number };
}
interface Goldens { seed: number; skimage: string; cases: GoldenCase[] }

const SCRIPT = fileURLToPath(new URL('../scripts/metrics-goldens.py', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/metrics/skimage-goldens.json', import.meta.url));
const TOL = 1e-9;

function checkCase(c: GoldenCase, k: number, source: string): void {
  const truth = Int32Array.from(c.truth);
  const pred = Int32Array.from(c.pred);
  const what = (m: string): string => `${source} case ${k} (${c.height}x${c.width}) ${m}`;
  // scikit-image conventions: pairs of distinct pixels, pred 0 an ordinary segment, truth 0 ignored.
  // skimage 0.19 returns precision = sum p^2 / sum t^2 (our merge) and recall = sum p^2 / sum s^2 (our split).
  const sk = adaptedRand(truth, pred, { pairs: 'unordered', predZero: 'segment' });
  assertClose(sk.error, c.skimage.adaptedRandError, TOL, what('adapted Rand error vs skimage'));
  assertClose(sk.merge, c.skimage.precision, TOL, what('Rand merge vs skimage precision'));
  assertClose(sk.split, c.skimage.recall, TOL, what('Rand split vs skimage recall'));
  const ln2 = Math.LN2;
  const viFg = informationScores(truth, pred, { predZero: 'segment' });
  assertClose(viFg.splitEntropy / ln2, c.skimage.viForeground[0], TOL, what('H(pred|truth) foreground vs skimage'));
  assertClose(viFg.mergeEntropy / ln2, c.skimage.viForeground[1], TOL, what('H(truth|pred) foreground vs skimage'));
  const viAll = informationScores(truth, pred, { ignoreTruthZero: false, predZero: 'segment' });
  assertClose(viAll.splitEntropy / ln2, c.skimage.viAll[0], TOL, what('H(pred|truth) vs skimage'));
  assertClose(viAll.mergeEntropy / ln2, c.skimage.viAll[1], TOL, what('H(truth|pred) vs skimage'));
  // ISBI / Fiji conventions (defaults): N^2 pairs, pred-0 pixels in the truth foreground as singletons.
  const r = adaptedRand(truth, pred);
  assertClose(r.split, c.isbiRand.split, TOL, what('ISBI V_rand split'));
  assertClose(r.merge, c.isbiRand.merge, TOL, what('ISBI V_rand merge'));
  assertClose(r.vRand, c.isbiRand.vRand, TOL, what('ISBI V_rand'));
  const i = informationScores(truth, pred);
  assertClose(i.hTruth, c.isbiInfo.hTruth, TOL, what('ISBI H(T)'));
  assertClose(i.hPred, c.isbiInfo.hPred, TOL, what('ISBI H(S)'));
  assertClose(i.mutualInformation, c.isbiInfo.mutualInformation, TOL, what('ISBI I(S;T)'));
  assertClose(i.vInfo, c.isbiInfo.vInfo, TOL, what('ISBI V_info'));
}

test('V_rand, V_info and VI match the stored scikit-image / numpy goldens', () => {
  const g = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Goldens;
  assert.ok(g.cases.length >= 30, `expected at least 30 golden cases, found ${g.cases.length}`);
  g.cases.forEach((c, k) => checkCase(c, k, `golden (seed ${g.seed}, skimage ${g.skimage})`));
});

function pythonWithSkimage(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(py, ['-c', 'import skimage'], { stdio: 'ignore' });
      return py;
    } catch {
      // try the next interpreter
    }
  }
  return null;
}

const python = pythonWithSkimage();
const skipReason = skipUnless(python ? false : 'python3 with scikit-image not found (install Debian python3-skimage); live comparison skipped');

test('V_rand, V_info and VI agree with scikit-image live on fresh random pairs', { skip: skipReason }, () => {
  const out = execFileSync(python!, [SCRIPT, '--seed', '4242', '--count', '25'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const g = JSON.parse(out) as Goldens;
  g.cases.forEach((c, k) => checkCase(c, k, `live (seed ${g.seed}, skimage ${g.skimage})`));
});
