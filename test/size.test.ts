import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  invalidSizeMessage,
  isValidInputSize,
  marginPerSide,
  minValidInputSize,
  nearestValidSizes,
  outputSize,
  outputSizeOrNull,
  skipCropPerSide,
  validInputSizes,
} from '../src/model/size.js';

const paper = { depth: 4, padding: 'valid' } as const;

test('outputSize: the paper net maps 572 to 388 (Fig. 1)', () => {
  assert.equal(outputSize(572, paper), 388);
});

test('outputSize: hand-traced sizes for depth 4 and depth 2', () => {
  // in = 2^D (t + 4) - 4, out = 2^D (t - 8) + 4 for bottom size t.
  for (let t = 9; t < 60; t++) {
    assert.equal(outputSizeOrNull(16 * (t + 4) - 4, paper), 16 * (t - 8) + 4, `depth 4, t=${t}`);
    assert.equal(outputSizeOrNull(4 * (t + 4) - 4, { depth: 2, padding: 'valid' }), 4 * (t - 8) + 4, `depth 2, t=${t}`);
  }
  assert.equal(outputSizeOrNull(252, paper), 68, 'the 252 tile of the benchmark gives a 68 output');
});

test('isValidInputSize: valid and invalid sizes', () => {
  for (const v of [188, 204, 252, 508, 556, 572, 588, 1084]) assert.ok(isValidInputSize(v, paper), `${v} should be valid`);
  for (const v of [0, 1, 100, 187, 189, 570, 571, 573, 574, 576, 512]) assert.ok(!isValidInputSize(v, paper), `${v} should be invalid`);
  assert.ok(isValidInputSize(256, { depth: 4, padding: 'same' }));
  assert.ok(!isValidInputSize(250, { depth: 4, padding: 'same' }), "'same' needs a multiple of 2^depth");
});

test('nearestValidSizes and the error message name the two neighbours', () => {
  assert.deepEqual(nearestValidSizes(570, paper), { below: 556, above: 572 });
  assert.deepEqual(nearestValidSizes(572, paper), { below: 572, above: 572 });
  assert.deepEqual(nearestValidSizes(10, paper), { below: null, above: 188 });
  assert.throws(() => outputSize(570, paper), /input 570 is not a valid U-Net input \(depth 4, valid padding\); nearest valid sizes are 556 and 572/);
  assert.match(invalidSizeMessage(10, paper), /nearest valid size is 188$/);
});

test('marginPerSide and skip crops are the constants of Fig. 1', () => {
  assert.equal(marginPerSide(paper), 92);
  assert.equal(marginPerSide({ depth: 4, padding: 'same' }), 0);
  assert.deepEqual([0, 1, 2, 3].map((l) => skipCropPerSide(l, paper)), [88, 40, 16, 4]);
  assert.equal(minValidInputSize(paper), 188);
  assert.deepEqual(validInputSizes(paper, 500, 600), [508, 524, 540, 556, 572, 588]);
  for (const v of validInputSizes(paper, 188, 1200)) assert.equal((v - outputSize(v, paper)) / 2, 92, `margin at ${v}`);
});
