/**
 * Training tile placement (src/train/tiles.ts, issue 14 §1): under 'uniform' every pixel, border
 * or central, lies in the output window equally often; the old 'inside' placement covers border
 * pixels far less often. Pixels of a window outside the image get weight 0.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { augmentWindow } from '../src/augment/augment.js';
import { clampedCoverageOrigin, cutTile, placeOutputWindow, placementZeroesOutside, uniformCoverageOrigin, zeroWeightsOutside, type TileSampling, type TrainingSample } from '../src/train/tiles.js';
import { Rng } from '../src/util/rng.js';

/**
 * How often each pixel of an H x W image lies in the output window over `draws` placements,
 * as fractions of the draws, and the mean fraction of the window that lies inside the image.
 */
function coverage(placement: TileSampling, [H, W]: [number, number], [outH, outW]: [number, number], draws: number, seed: number): { at: (y: number, x: number) => number; inside: number } {
  const rng = new Rng(seed);
  // Per-axis hit counts suffice: the axes are drawn independently, and a pixel is covered when both are.
  const counts = new Float64Array(H * W);
  let inside = 0;
  for (let d = 0; d < draws; d++) {
    const [oy, ox] = placeOutputWindow(rng, [H, W], [outH, outW], placement);
    const y0 = Math.max(0, oy);
    const y1 = Math.min(H, oy + outH);
    const x0 = Math.max(0, ox);
    const x1 = Math.min(W, ox + outW);
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) counts[y * W + x]!++;
    inside += ((y1 - y0) * (x1 - x0)) / (outH * outW);
  }
  return { at: (y, x) => counts[y * W + x]! / draws, inside: inside / draws };
}

/** |a - b| in standard errors of the difference of two binomial fractions over `draws` draws. */
function zScore(a: number, b: number, draws: number): number {
  const p = (a + b) / 2;
  const se = Math.sqrt((2 * p * (1 - p)) / draws);
  return se === 0 ? (a === b ? 0 : Infinity) : Math.abs(a - b) / se;
}

const CASES: { name: string; image: [number, number]; out: [number, number] }[] = [
  { name: 'image between 1 and 2 outputs (ISBI-like 512 / 388, scaled)', image: [64, 52], out: [40, 40] },
  { name: 'image over 2 outputs', image: [90, 75], out: [28, 28] },
  { name: 'image smaller than the output', image: [20, 30], out: [36, 36] },
];

for (const c of CASES) {
  test(`tile placement, ${c.name}: a border pixel is covered as often as a central one under 'uniform', not under 'inside'`, (t) => {
    const draws = 50000;
    const [H, W] = c.image;
    const probes: [string, number, number][] = [['corner', 0, 0], ['top edge', 0, W >> 1], ['left edge', H >> 1, 0], ['far corner', H - 1, W - 1]];
    const centre: [number, number] = [H >> 1, W >> 1];
    const uni = coverage('uniform', c.image, c.out, draws, 11);
    const old = coverage('inside', c.image, c.out, draws, 11);
    // The exact coverage of 'uniform': 1 / (ny nx), n = ceil(size / out) windows per axis.
    const expected = 1 / (Math.ceil(H / c.out[0]) * Math.ceil(W / c.out[1]));
    t.diagnostic(`uniform: centre ${uni.at(...centre).toFixed(4)}, expected ${expected.toFixed(4)}, window inside the image ${uni.inside.toFixed(3)}; inside: centre ${old.at(...centre).toFixed(4)}`);
    assert.ok(zScore(uni.at(...centre), expected, draws) < 4, `uniform: centre coverage ${uni.at(...centre)} vs the exact ${expected}`);
    let oldFails = false;
    for (const [what, y, x] of probes) {
      const zu = zScore(uni.at(y, x), uni.at(...centre), draws);
      const zo = zScore(old.at(y, x), old.at(...centre), draws);
      t.diagnostic(`${what} (${y}, ${x}): uniform ${uni.at(y, x).toFixed(4)} (z ${zu.toFixed(2)}), inside ${old.at(y, x).toFixed(4)} (z ${zo.toFixed(1)})`);
      assert.ok(zu < 4, `uniform: ${what} pixel covered ${uni.at(y, x)} of the draws, the centre ${uni.at(...centre)} (z = ${zu.toFixed(2)})`);
      if (zo >= 4) oldFails = true;
    }
    // An image no larger than the output is covered whole by every window: both placements are uniform there.
    if (H > c.out[0] || W > c.out[1]) assert.ok(oldFails, "inside: some border pixel's coverage differs from the centre's by 4 standard errors or more");
    // The window's part inside the image is the best any exactly uniform placement reaches: size / (n out) per axis.
    const bound = (H / (Math.ceil(H / c.out[0]) * c.out[0])) * (W / (Math.ceil(W / c.out[1]) * c.out[1]));
    assert.ok(Math.abs(uni.inside - bound) < 0.01, `uniform: ${uni.inside} of the window inside the image, expected ${bound}`);
  });
}

for (const c of CASES) {
  test(`tile placement, ${c.name}: 'clamped' keeps the window inside the image where it fits and covers each pixel 1 to 2 times as often as 'uniform'`, (t) => {
    const draws = 50000;
    const [H, W] = c.image;
    const clamped = coverage('clamped', c.image, c.out, draws, 13);
    const floor = 1 / (Math.ceil(H / c.out[0]) * Math.ceil(W / c.out[1]));
    // Per axis the window is inside when the axis holds one; otherwise it covers the axis whole, as under 'uniform'.
    const insideY = H >= c.out[0] ? 1 : H / (Math.ceil(H / c.out[0]) * c.out[0]);
    const insideX = W >= c.out[1] ? 1 : W / (Math.ceil(W / c.out[1]) * c.out[1]);
    assert.ok(Math.abs(clamped.inside - insideY * insideX) < 1e-9, `clamped: ${clamped.inside} of the window inside the image, expected ${insideY * insideX}`);
    let lo = Infinity;
    let hi = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const v = clamped.at(y, x);
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    t.diagnostic(`clamped: coverage ${lo.toFixed(4)}-${hi.toFixed(4)}, uniform's ${floor.toFixed(4)}, window inside ${clamped.inside.toFixed(3)}`);
    // 4 binomial standard errors of slack on each bound, as in the 'uniform' test.
    const se = (p: number): number => 4 * Math.sqrt((p * (1 - p)) / draws);
    assert.ok(lo >= floor - se(floor), `clamped: least covered pixel ${lo}, under uniform's ${floor}`);
    const ceiling = Math.min(1, 4 * floor);
    assert.ok(hi <= ceiling + se(ceiling), `clamped: most covered pixel ${hi}, over min(1, 4 x uniform's ${floor}) (2 per axis)`);
  });
}

test('clampedCoverageOrigin: uniform origins moved the least distance into [0, size - out], unmoved on an axis shorter than the output', () => {
  const walk = (size: number, out: number, f: (rng: Rng) => number): number[] => {
    const n = Math.ceil(size / out);
    const all: number[] = [];
    for (let shift = size - n * out; shift <= 0; shift++) {
      for (let k = 0; k < n; k++) {
        const answers = [shift, k];
        all.push(f({ int: (): number => answers.shift()! } as unknown as Rng));
      }
    }
    return all;
  };
  for (const [size, out] of [[512, 228], [50, 24], [48, 24], [10, 24]] as const) {
    const uni = walk(size, out, (r) => uniformCoverageOrigin(r, size, out));
    const cla = walk(size, out, (r) => clampedCoverageOrigin(r, size, out));
    for (let i = 0; i < uni.length; i++) {
      const want = size >= out ? Math.min(Math.max(uni[i]!, 0), size - out) : uni[i]!;
      assert.equal(cla[i], want, `size ${size}, out ${out}: uniform origin ${uni[i]} should become ${want}`);
    }
  }
  // The docs' worked example: a 512 px axis, output 228 (a 412 tile): uniform reaches [-172, 456], clamped [0, 284].
  const uni = walk(512, 228, (r) => uniformCoverageOrigin(r, 512, 228));
  const cla = walk(512, 228, (r) => clampedCoverageOrigin(r, 512, 228));
  assert.deepEqual([Math.min(...uni), Math.max(...uni), Math.min(...cla), Math.max(...cla)], [-172, 456, 0, 284]);
  assert.equal(placementZeroesOutside('clamped'), true);
  assert.equal(placementZeroesOutside('uniform'), true);
  assert.equal(placementZeroesOutside('inside'), false);
});

test('uniformCoverageOrigin: over all its draws, every pixel of the axis is covered by exactly 1 / n of them', () => {
  for (const [size, out] of [[50, 24], [48, 24], [10, 24], [513, 388]] as const) {
    const n = Math.ceil(size / out);
    const hits = new Int32Array(size);
    let draws = 0;
    // A generator stub that walks every (shift, window) pair the function can draw.
    for (let shift = size - n * out; shift <= 0; shift++) {
      for (let k = 0; k < n; k++) {
        const answers = [shift, k];
        const stub = { int: (lo: number, hi: number): number => {
          const v = answers.shift()!;
          assert.ok(v >= lo && v <= hi, `draw ${v} outside [${lo}, ${hi}]`);
          return v;
        } } as unknown as Rng;
        const o = uniformCoverageOrigin(stub, size, out);
        for (let x = Math.max(0, o); x < Math.min(size, o + out); x++) hits[x]!++;
        draws++;
      }
    }
    const want = draws / n;
    assert.ok(hits.every((h) => h === want), `size ${size}, out ${out}: coverage ${[...new Set(hits)].join('/')} of ${draws}, expected ${want} for every pixel`);
  }
  assert.throws(() => uniformCoverageOrigin(new Rng(1), 0, 24), /size and out must be positive integers, got 0 and 24/);
  assert.throws(() => placeOutputWindow(new Rng(1), [4, 4], [2, 2], 'grid' as TileSampling), /placement must be one of uniform, clamped, inside, got grid/);
});

/** A sample whose pixel values encode their coordinates (value = 1000 y + x), weights all 2. */
function codedSample(H: number, W: number): TrainingSample {
  const data = new Float32Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * W + x] = 1000 * y + x;
  return {
    name: 'coded',
    image: { data, height: H, width: W, channels: 1 },
    labels: { data: new Uint8Array(H * W).fill(1), height: H, width: W, channels: 1 },
    weights: { data: new Float32Array(H * W).fill(2), height: H, width: W, channels: 1 },
  };
}

test('cutTile with zeroOutside: pixels outside the image keep their mirrored context and get weight 0; without it they keep the mirrored weight', () => {
  const sample = codedSample(12, 10);
  const geo = { input: [8, 8], output: [4, 4] } as const;
  // Output origin (-3, 7): the input window starts at (-5, 5), rows < 0 and columns >= 10 are outside.
  const zero = cutTile(sample, geo, -3, 7, true);
  const mirrored = cutTile(sample, geo, -3, 7);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      const iy = y - 5;
      const ix = x + 5;
      const outside = iy < 0 || ix >= 10;
      assert.equal(zero.weights[y * 8 + x], outside ? 0 : 2, `weight at tile (${y}, ${x}), image (${iy}, ${ix})`);
      assert.equal(mirrored.weights[y * 8 + x], 2, 'without zeroOutside the mirrored weight stays');
      assert.equal(zero.image[y * 8 + x], mirrored.image[y * 8 + x], 'the image context is the same mirrored one');
    }
  }
  assert.deepEqual([...zeroWeightsOutside(Float32Array.of(1, 1, 1), 1, 3, 0, -1, 1, 5)], [0, 1, 1]);
  assert.throws(() => zeroWeightsOutside(new Float32Array(3), 2, 2, 0, 0, 4, 4), /3 weights for a 2x2 window/);
});

test('augmentWindow with zeroOutside: the zero weights follow the flip to where the mirrored pixels land', () => {
  const H = 12;
  const W = 10;
  const s = codedSample(H, W);
  const source = { image: s.image.data, labels: s.labels.data, weights: s.weights!.data, height: H, width: W };
  const options = { elastic: false, rotation: 0, flips: true, brightness: 0, contrast: 0, gamma: 0, noise: 0 } as const;
  let flipped = 0;
  for (let seed = 1; seed <= 12; seed++) {
    // Window of 6 x 6 at (3, -2): columns -2 and -1 are outside the image.
    const tile = augmentWindow(source, 3, -2, 6, 6, 1, new Rng(seed), options, true);
    for (let i = 0; i < 36; i++) {
      // The image value says which source pixel was read; mirrored reads of columns -2, -1 give columns 2, 1.
      const value = tile.image[i]!;
      const x = Math.round(value) % 1000;
      const plain = augmentWindow(source, 3, -2, 6, 6, 1, new Rng(seed), options, false);
      assert.equal(plain.image[i], value, 'zeroOutside changes only the weights');
      assert.equal(plain.weights[i], 2);
      if (tile.weights[i] === 0) assert.ok(x === 1 || x === 2, `tile pixel ${i} has weight 0 but read image column ${x}, not a mirror of column -1 or -2`);
    }
    const zeroCols = new Set<number>();
    for (let i = 0; i < 36; i++) if (tile.weights[i] === 0) zeroCols.add(i % 6);
    assert.equal([...tile.weights].filter((w) => w === 0).length, 12, 'two columns of 6 pixels are outside');
    // Without a flip the outside columns are tile columns 0 and 1; flipped, they are 4 and 5.
    const cols = [...zeroCols].sort().join(',');
    assert.ok(cols === '0,1' || cols === '4,5', `zero-weight columns ${cols}`);
    if (cols === '4,5') flipped++;
  }
  assert.ok(flipped > 0 && flipped < 12, `some draws flip horizontally and some do not (${flipped} of 12)`);
});
