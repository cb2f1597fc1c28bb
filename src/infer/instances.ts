/**
 * Instance label maps from a semantic prediction: connected components of the
 * foreground, optionally split by a marker-controlled watershed on the foreground
 * probability. The U-Net's weighted loss (Sec. 3, Eq. 2) teaches it to drop the
 * probability in the thin gaps between touching cells; seeds taken where the
 * probability is high lie inside single cells, and flooding from them down the
 * probability landscape assigns the gap pixels to the nearer cell.
 */
import { labelComponents, type Connectivity } from '../util/components.js';

export interface InstanceOptions {
  /** Pixel neighbourhood of components and of the flood. Default 4. */
  readonly connectivity?: Connectivity;
  /** Foreground probability per pixel (H x W). When given, touching objects are split by a watershed. */
  readonly probability?: ArrayLike<number>;
  /** Seeds are components of foreground pixels with probability >= this. Default 0.9. */
  readonly seedThreshold?: number;
  /** Instances with fewer pixels are removed (set to 0). Default 0 (keep all). */
  readonly minSize?: number;
}

export interface Instances {
  /** 0 background, 1..count one id per object, in raster order of first pixel. */
  readonly labels: Int32Array;
  readonly count: number;
}

/**
 * Instance ids for the foreground pixels (`mask[i] !== 0`) of an H x W map.
 *
 * @example
 *   // mask 1 1 1 1 1, probability .95 .95 .6 .95 .95 (a dip between two objects)
 *   instanceLabels(Uint8Array.of(1,1,1,1,1), 1, 5).count === 1
 *   instanceLabels(Uint8Array.of(1,1,1,1,1), 1, 5, { probability: [.95,.95,.6,.95,.95] }).count === 2
 */
export function instanceLabels(mask: ArrayLike<number>, height: number, width: number, options: InstanceOptions = {}): Instances {
  const connectivity = options.connectivity ?? 4;
  const n = height * width;
  if (mask.length !== n) throw new Error(`instanceLabels: mask has ${mask.length} values, expected ${height}x${width}`);
  let labels: Int32Array;
  if (!options.probability) {
    labels = labelComponents(mask, height, width, connectivity).labels;
  } else {
    const p = options.probability;
    if (p.length !== n) throw new Error(`instanceLabels: probability has ${p.length} values, expected ${height}x${width}`);
    const t = options.seedThreshold ?? 0.9;
    const seedMask = new Uint8Array(n);
    for (let i = 0; i < n; i++) seedMask[i] = mask[i] !== 0 && p[i]! >= t ? 1 : 0;
    const seeds = labelComponents(seedMask, height, width, connectivity);
    labels = seeds.labels;
    let count = seeds.count;
    // A foreground component without any seed keeps its own id: the watershed only splits, never drops.
    const unseeded = labelComponents(mask, height, width, connectivity);
    const hasSeed = new Uint8Array(unseeded.count + 1);
    for (let i = 0; i < n; i++) if (labels[i] !== 0) hasSeed[unseeded.labels[i]!] = 1;
    const extra = new Int32Array(unseeded.count + 1);
    for (let i = 0; i < n; i++) {
      const u = unseeded.labels[i]!;
      if (u === 0 || hasSeed[u]) continue;
      if (extra[u] === 0) extra[u] = ++count;
      labels[i] = extra[u]!;
    }
    flood(labels, mask, p, height, width, connectivity);
  }
  return relabel(labels, options.minSize ?? 0);
}

/** Marker-controlled watershed: grows labelled pixels into unlabelled foreground, highest probability first. */
function flood(labels: Int32Array, mask: ArrayLike<number>, p: ArrayLike<number>, height: number, width: number, connectivity: Connectivity): void {
  const heap = new MaxHeap(1024);
  const queued = new Uint8Array(labels.length);
  const visit = (i: number, fn: (j: number) => void): void => {
    const y = Math.floor(i / width);
    const x = i - y * width;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        if ((dy === 0 && dx === 0) || (connectivity === 4 && dy !== 0 && dx !== 0)) continue;
        const yy = y + dy;
        const xx = x + dx;
        if (yy >= 0 && yy < height && xx >= 0 && xx < width) fn(yy * width + xx);
      }
    }
  };
  const push = (j: number): void => {
    if (labels[j] === 0 && mask[j] !== 0 && !queued[j]) {
      queued[j] = 1;
      heap.push(p[j]!, j);
    }
  };
  for (let i = 0; i < labels.length; i++) if (labels[i] !== 0) visit(i, push);
  while (heap.size > 0) {
    const i = heap.pop();
    // Take the label of the labelled neighbour with the highest probability (the side the flood came from).
    let best = -Infinity;
    let label = 0;
    visit(i, (j) => {
      if (labels[j] !== 0 && p[j]! > best) {
        best = p[j]!;
        label = labels[j]!;
      }
    });
    labels[i] = label;
    visit(i, push);
  }
}

/** Removes instances under `minSize` pixels and renumbers the rest 1..count in raster order. */
function relabel(labels: Int32Array, minSize: number): Instances {
  let max = 0;
  for (const l of labels) if (l > max) max = l;
  const size = new Int32Array(max + 1);
  for (const l of labels) size[l] = size[l]! + 1;
  const map = new Int32Array(max + 1);
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l === 0) continue;
    if (size[l]! < minSize) {
      labels[i] = 0;
      continue;
    }
    if (map[l] === 0) map[l] = ++count;
    labels[i] = map[l]!;
  }
  return { labels, count };
}

/** Binary max-heap of (priority, index) pairs in typed arrays. */
class MaxHeap {
  private prio: Float64Array;
  private idx: Int32Array;
  size = 0;
  constructor(capacity: number) {
    this.prio = new Float64Array(capacity);
    this.idx = new Int32Array(capacity);
  }

  push(priority: number, index: number): void {
    if (this.size === this.prio.length) {
      const prio = new Float64Array(this.size * 2);
      const idx = new Int32Array(this.size * 2);
      prio.set(this.prio);
      idx.set(this.idx);
      this.prio = prio;
      this.idx = idx;
    }
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.prio[parent]! >= priority) break;
      this.prio[i] = this.prio[parent]!;
      this.idx[i] = this.idx[parent]!;
      i = parent;
    }
    this.prio[i] = priority;
    this.idx[i] = index;
  }

  pop(): number {
    const top = this.idx[0]!;
    const lastP = this.prio[--this.size]!;
    const lastI = this.idx[this.size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && this.prio[child + 1]! > this.prio[child]!) child++;
      if (this.prio[child]! <= lastP) break;
      this.prio[i] = this.prio[child]!;
      this.idx[i] = this.idx[child]!;
      i = child;
    }
    this.prio[i] = lastP;
    this.idx[i] = lastI;
    return top;
  }
}
