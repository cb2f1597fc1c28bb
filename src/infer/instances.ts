/**
 * Instance label maps from a semantic prediction: connected components of the
 * foreground, optionally split by a marker-controlled watershed on the foreground
 * probability. The U-Net's weighted loss (Sec. 3, Eq. 2) teaches it to drop the
 * probability in the thin gaps between touching cells; seeds taken where the
 * probability is high lie inside single cells, and flooding from them down the
 * probability landscape assigns the gap pixels to the nearer cell.
 */
import type { InstancePostprocess } from '../io/model-format.js';
import type { Raster } from '../io/raster.js';
import { labelComponents, type Connectivity } from '../util/components.js';
import { squaredEdt } from '../util/edt.js';
import { classMask, summedProbability } from './predict.js';

/**
 * Defaults of InstanceOptions (also `unet predict`'s --seed-threshold and --min-size when the
 * model stores no post-processing): 4-connected objects, so diagonal neighbours across a
 * one-pixel gap stay apart; seeds at probability 0.9, inside cells and clear of the gaps;
 * no size filter, since the smallest real object depends on the data (unet tune chooses one).
 */
export const DEFAULT_INSTANCE_OPTIONS = { connectivity: 4, seedThreshold: 0.9, minSize: 0 } as const;

export interface InstanceOptions {
  /** Pixel neighbourhood of components and of the flood. Default DEFAULT_INSTANCE_OPTIONS.connectivity (4). */
  readonly connectivity?: Connectivity;
  /** Foreground probability per pixel (H x W). When given, touching objects are split by a watershed. */
  readonly probability?: ArrayLike<number>;
  /** Seeds are components of foreground pixels with probability >= this. Default DEFAULT_INSTANCE_OPTIONS.seedThreshold (0.9). */
  readonly seedThreshold?: number;
  /**
   * Seeds keep only the pixels more than this many pixels (Euclidean) from the edge of their
   * region: an erosion by a disc of this radius, so that two touching objects whose seed regions
   * still meet through a neck narrower than 2 x this get a seed each. Default 0 (no erosion).
   */
  readonly seedErosion?: number;
  /** Instances with fewer pixels are removed (set to 0). Default DEFAULT_INSTANCE_OPTIONS.minSize (0: keep all). */
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
  const connectivity = options.connectivity ?? DEFAULT_INSTANCE_OPTIONS.connectivity;
  const n = height * width;
  if (mask.length !== n) throw new Error(`instanceLabels: mask has ${mask.length} values, expected ${height}x${width}`);
  let labels: Int32Array;
  if (!options.probability) {
    labels = labelComponents(mask, height, width, connectivity).labels;
  } else {
    const p = options.probability;
    if (p.length !== n) throw new Error(`instanceLabels: probability has ${p.length} values, expected ${height}x${width}`);
    const t = options.seedThreshold ?? DEFAULT_INSTANCE_OPTIONS.seedThreshold;
    const seedMask = new Uint8Array(n);
    for (let i = 0; i < n; i++) seedMask[i] = mask[i] !== 0 && p[i]! >= t ? 1 : 0;
    const erosion = options.seedErosion ?? 0;
    if (!(erosion >= 0)) throw new Error(`instanceLabels: seedErosion must be >= 0 pixels, got ${erosion}`);
    if (erosion > 0) erodeByDisc(seedMask, height, width, erosion);
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
  return relabel(labels, options.minSize ?? DEFAULT_INSTANCE_OPTIONS.minSize);
}

/**
 * Keeps the pixels of `mask` (0/1, in place) whose distance to the nearest 0 pixel exceeds
 * `radius`: the erosion by a disc of that radius (the image edge is not a 0 pixel).
 * @example erodeByDisc(Uint8Array.of(1, 1, 0, 1, 1), 1, 5, 1) // [1, 0, 0, 0, 1]: the ends are 2 px from the 0
 */
export function erodeByDisc(mask: Uint8Array, height: number, width: number, radius: number): void {
  const d2 = squaredEdt(mask, height, width, (v) => v === 0);
  const r2 = radius * radius;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0 && !(d2[i]! > r2)) mask[i] = 0;
}

/**
 * How an instance map is stored, as `unet predict` writes it: 16-bit ids in `<stem>_instances.png`
 * up to 65535 objects (what image viewers open), else 32-bit ids in `<stem>_instances.tif`.
 *
 * @example instanceImage({ labels: Int32Array.of(0, 1), count: 1 }, 1, 2).file === '_instances.png'
 */
export function instanceImage(inst: Instances, height: number, width: number): { readonly file: '_instances.png' | '_instances.tif'; readonly raster: Raster<Uint16Array | Int32Array> } {
  return inst.count <= 65535
    ? { file: '_instances.png', raster: { data: Uint16Array.from(inst.labels), height, width, channels: 1 } }
    : { file: '_instances.tif', raster: { data: inst.labels, height, width, channels: 1 } };
}

/**
 * The post-processing a model trained on instance labels starts with, before any tuning:
 * - boundary targets (background / interior / boundary): objects are interior or boundary
 *   pixels, split by a watershed seeded where the interior probability is >= 0.5;
 * - separated targets (the paper's): connected components of the foreground, since the network
 *   learns the background line between touching objects itself.
 */
export function defaultInstancePostprocess(mode: { readonly targets?: 'separated' | 'boundary' }): InstancePostprocess {
  return mode.targets === 'boundary'
    ? { foregroundClasses: [1, 2], watershed: true, seedClasses: [1], seedThreshold: 0.5, minSize: 0 }
    : { foregroundClasses: [1], watershed: false, seedClasses: [1], seedThreshold: DEFAULT_INSTANCE_OPTIONS.seedThreshold, minSize: DEFAULT_INSTANCE_OPTIONS.minSize };
}

/**
 * A post-processing in a few words, for reports (unet tune, unet report). `foregroundThreshold`
 * null or absent: the argmax.
 * @example describeInstancePostprocess({ foregroundThreshold: 0.7, watershed: true, seedThreshold: 0.9, minSize: 50 })
 *   // 'foreground > 0.7, watershed, seeds >= 0.9, min size 50'
 * @example describeInstancePostprocess({ watershed: true, seedThreshold: 0.9, seedErosion: 2, minSize: 50 })
 *   // 'argmax, watershed, seeds >= 0.9 eroded 2 px, min size 50'
 */
export function describeInstancePostprocess(pp: { readonly foregroundThreshold?: number | null; readonly watershed: boolean; readonly seedThreshold: number; readonly seedErosion?: number; readonly minSize: number }): string {
  const level = pp.foregroundThreshold === null || pp.foregroundThreshold === undefined ? 'argmax' : `foreground > ${pp.foregroundThreshold}`;
  const eroded = pp.seedErosion ? ` eroded ${pp.seedErosion} px` : '';
  return `${level}, ${pp.watershed ? `watershed, seeds >= ${pp.seedThreshold}${eroded}` : 'connected components'}, min size ${pp.minSize}`;
}

/**
 * Which pixels belong to objects: those whose most likely class (`mask`, the argmax) is one of
 * `pp.foregroundClasses`, or, when `pp.foregroundThreshold` is set, those whose summed
 * foreground probability (`foregroundProbability`) exceeds it. The threshold exists because the
 * class-balancing weights of Eq. (2) train the net as if objects and background were equally
 * frequent, so where nuclei cover 15 % of an image the argmax (a 0.5 level) puts object borders
 * too far out; a higher level, chosen on validation images by `unet tune`, moves them back.
 *
 * @example objectPixels([0, 1, 1], [0.1, 0.6, 0.9], { foregroundClasses: [1] })                           // [0, 1, 1]
 * @example objectPixels([0, 1, 1], [0.1, 0.6, 0.9], { foregroundClasses: [1], foregroundThreshold: 0.7 }) // [0, 0, 1]
 */
export function objectPixels(
  mask: ArrayLike<number>,
  foregroundProbability: ArrayLike<number> | null,
  pp: Pick<InstancePostprocess, 'foregroundClasses' | 'foregroundThreshold'>,
): Uint8Array {
  const n = mask.length;
  const fg = new Uint8Array(n);
  const t = pp.foregroundThreshold;
  if (t !== undefined) {
    if (!foregroundProbability) throw new Error('objectPixels: a foreground threshold needs the summed foreground probability map');
    if (foregroundProbability.length !== n) throw new Error(`objectPixels: foreground probability has ${foregroundProbability.length} values, the mask ${n}`);
    for (let i = 0; i < n; i++) fg[i] = foregroundProbability[i]! > t ? 1 : 0;
    return fg;
  }
  let maxClass = 0;
  for (const c of pp.foregroundClasses) maxClass = Math.max(maxClass, c);
  const isFg = new Uint8Array(Math.max(maxClass + 1, 256 * 256));
  for (const c of pp.foregroundClasses) isFg[c] = 1;
  for (let i = 0; i < n; i++) fg[i] = isFg[mask[i]!]!;
  return fg;
}

/**
 * Instances of one image from its argmax class mask and, for the watershed, the summed
 * probability of `pp.seedClasses` (H x W); with `pp.foregroundThreshold`, also the summed
 * probability of `pp.foregroundClasses` ({@link objectPixels}). These are the maps `predict`
 * keeps band by band, so that `unet predict` and the tuning search (which has the full
 * probabilities) give the same objects.
 */
export function instancesFromClassMask(
  mask: ArrayLike<number>,
  seedProbability: ArrayLike<number> | null,
  height: number,
  width: number,
  pp: Pick<InstancePostprocess, 'foregroundClasses' | 'watershed' | 'seedThreshold' | 'seedErosion' | 'minSize' | 'foregroundThreshold'>,
  connectivity: Connectivity = 4,
  foregroundProbability: ArrayLike<number> | null = null,
): Instances {
  const fg = objectPixels(mask, foregroundProbability, pp);
  if (pp.watershed && !seedProbability) throw new Error('instancesFromClassMask: the watershed needs the seed-class probability map');
  return instanceLabels(fg, height, width, {
    connectivity,
    minSize: pp.minSize,
    ...(pp.watershed ? { probability: seedProbability!, seedThreshold: pp.seedThreshold, seedErosion: pp.seedErosion ?? 0 } : {}),
  });
}

/**
 * {@link instancesFromClassMask} from a full H x W x K probability map (argmax ties go to the lower
 * class, as in `predict`).
 */
export function instancesFromProbabilities(probabilities: { readonly data: Float32Array; readonly height: number; readonly width: number; readonly channels: number }, pp: InstancePostprocess): Instances {
  const { data, height, width, channels: K } = probabilities;
  for (const c of [...pp.foregroundClasses, ...pp.seedClasses]) {
    if (!Number.isInteger(c) || c < 0 || c >= K) throw new Error(`instancesFromProbabilities: class ${c} is not one of the ${K} classes`);
  }
  const mask = classMask(data, K, new Uint16Array(height * width));
  const seed = pp.watershed ? summedProbability(data, K, pp.seedClasses) : null;
  const fgProbability = pp.foregroundThreshold !== undefined ? summedProbability(data, K, pp.foregroundClasses) : null;
  return instancesFromClassMask(mask, seed, height, width, pp, 4, fgProbability);
}

/**
 * Marker-controlled watershed (Meyer's flooding): grows labelled pixels into unlabelled
 * foreground, highest probability first; a pixel takes the label of the pixel whose flood reached
 * it first (ties in probability go breadth-first, see MaxHeap), so on a plateau it goes to the
 * nearest seed.
 */
function flood(labels: Int32Array, mask: ArrayLike<number>, p: ArrayLike<number>, height: number, width: number, connectivity: Connectivity): void {
  const heap = new MaxHeap(1024);
  const source = new Int32Array(labels.length);
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
  const pushFrom = (i: number): void =>
    visit(i, (j) => {
      if (labels[j] === 0 && mask[j] !== 0 && source[j] === 0) {
        source[j] = labels[i]!;
        heap.push(p[j]!, j);
      }
    });
  for (let i = 0; i < labels.length; i++) if (labels[i] !== 0) pushFrom(i);
  while (heap.size > 0) {
    const i = heap.pop();
    labels[i] = source[i]!;
    pushFrom(i);
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

/**
 * Binary max-heap of (priority, index) pairs in typed arrays. Equal priorities leave in the
 * order they came in, so on a plateau of the probability (a flat boundary class, say) the flood
 * advances breadth-first and each pixel goes to the nearest seed, not to whichever the heap's
 * layout happens to favour.
 */
class MaxHeap {
  private prio: Float64Array;
  private idx: Int32Array;
  private seq: Float64Array;
  private pushed = 0;
  size = 0;
  constructor(capacity: number) {
    this.prio = new Float64Array(capacity);
    this.idx = new Int32Array(capacity);
    this.seq = new Float64Array(capacity);
  }

  /** Whether entry a leaves before entry b. */
  private before(pa: number, sa: number, pb: number, sb: number): boolean {
    return pa > pb || (pa === pb && sa < sb);
  }

  push(priority: number, index: number): void {
    if (this.size === this.prio.length) {
      const prio = new Float64Array(this.size * 2);
      const idx = new Int32Array(this.size * 2);
      const seq = new Float64Array(this.size * 2);
      prio.set(this.prio);
      idx.set(this.idx);
      seq.set(this.seq);
      this.prio = prio;
      this.idx = idx;
      this.seq = seq;
    }
    const order = this.pushed++;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(priority, order, this.prio[parent]!, this.seq[parent]!)) break;
      this.prio[i] = this.prio[parent]!;
      this.idx[i] = this.idx[parent]!;
      this.seq[i] = this.seq[parent]!;
      i = parent;
    }
    this.prio[i] = priority;
    this.idx[i] = index;
    this.seq[i] = order;
  }

  pop(): number {
    const top = this.idx[0]!;
    const lastP = this.prio[--this.size]!;
    const lastI = this.idx[this.size]!;
    const lastS = this.seq[this.size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && this.before(this.prio[child + 1]!, this.seq[child + 1]!, this.prio[child]!, this.seq[child]!)) child++;
      if (!this.before(this.prio[child]!, this.seq[child]!, lastP, lastS)) break;
      this.prio[i] = this.prio[child]!;
      this.idx[i] = this.idx[child]!;
      this.seq[i] = this.seq[child]!;
      i = child;
    }
    this.prio[i] = lastP;
    this.idx[i] = lastI;
    this.seq[i] = lastS;
    return top;
  }
}
