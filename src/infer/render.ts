/**
 * Turning predictions into pictures: probability planes as 8/16-bit integers, and an
 * RGB overlay of the image with a coloured mask and contours that a person can check
 * at a glance. Pure functions on typed arrays (browser-safe).
 */
import type { PixelArray, Raster } from '../io/raster.js';

/** Probabilities of class `c` from an H x W x K map, as an H x W plane. */
export function probabilityPlane(probs: Raster<Float32Array>, c: number): Raster<Float32Array> {
  if (!Number.isInteger(c) || c < 0 || c >= probs.channels) throw new Error(`probabilityPlane: class ${c} out of range for ${probs.channels} classes`);
  const n = probs.height * probs.width;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = probs.data[i * probs.channels + c]!;
  return { data: out, height: probs.height, width: probs.width, channels: 1 };
}

/**
 * Probabilities in [0, 1] as integers over the full range of 8 or 16 bits (rounded, clamped).
 *
 * @example quantizeProbability(Float32Array.of(0, 0.5, 1), 8) // Uint8Array [0, 128, 255]
 */
export function quantizeProbability(p: Float32Array, bits: 8 | 16): Uint8Array | Uint16Array {
  const max = bits === 8 ? 255 : 65535;
  const out = bits === 8 ? new Uint8Array(p.length) : new Uint16Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, p[i]!)) * max);
  return out;
}

/**
 * An 8-bit RGB copy of any raster for display: 8-bit data as is, anything else
 * stretched from its own min to max; gray (and gray + alpha) replicated to RGB,
 * a fourth channel (alpha) dropped.
 */
export function displayRgb(image: Raster<PixelArray>): Raster<Uint8Array> {
  const { height, width, channels, data } = image;
  const n = height * width;
  let scale = 1;
  let offset = 0;
  if (!(data instanceof Uint8Array)) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    scale = hi > lo ? 255 / (hi - lo) : 0;
    offset = -lo * scale;
  }
  const gray = channels < 3;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      const v = data[i * channels + (gray ? 0 : k)]! * scale + offset;
      out[i * 3 + k] = Math.round(Math.min(255, Math.max(0, v)));
    }
  }
  return { data: out, height, width, channels: 3 };
}

/** Distinct, saturated colours: class c uses a fixed table, instance ids walk the hue circle by the golden angle. */
export function labelColour(label: number, mode: 'classes' | 'instances'): [number, number, number] {
  const table: [number, number, number][] = [
    [0, 0, 0],
    [255, 48, 48],
    [48, 200, 255],
    [255, 210, 0],
    [160, 80, 255],
    [0, 220, 110],
  ];
  if (mode === 'classes' && label < table.length) return table[label]!;
  const hue = (label * 0.618033988749895) % 1;
  return hsvToRgb(hue, 0.85, 1);
}

export interface OverlayOptions {
  /** 'classes': label = class index (colour per class); 'instances': label = object id. Default 'classes'. */
  readonly mode?: 'classes' | 'instances';
  /** Opacity of the filled label colour over the image, in [0, 1]. Default 0.35. */
  readonly alpha?: number;
  /** Draw region borders in full colour. Default true. */
  readonly contours?: boolean;
}

/**
 * The image with every non-zero label tinted in its colour and its border drawn
 * (a pixel is a border pixel when a 4-neighbour has another label).
 */
export function overlay(image: Raster<PixelArray>, labels: Raster<PixelArray>, options: OverlayOptions = {}): Raster<Uint8Array> {
  if (image.height !== labels.height || image.width !== labels.width || labels.channels !== 1) {
    throw new Error(`overlay: labels are ${labels.height}x${labels.width}x${labels.channels}, expected ${image.height}x${image.width}x1`);
  }
  const mode = options.mode ?? 'classes';
  const alpha = options.alpha ?? 0.35;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlay: alpha must be in [0, 1], got ${alpha}`);
  const contours = options.contours ?? true;
  const { height: H, width: W } = image;
  const rgb = displayRgb(image);
  const out = rgb.data;
  const l = labels.data;
  const colours = new Map<number, [number, number, number]>();
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const v = l[i]!;
      if (v === 0) continue;
      let colour = colours.get(v);
      if (!colour) {
        colour = labelColour(v, mode);
        colours.set(v, colour);
      }
      const border = contours && ((x > 0 && l[i - 1] !== v) || (x < W - 1 && l[i + 1] !== v) || (y > 0 && l[i - W] !== v) || (y < H - 1 && l[i + W] !== v));
      const a = border ? 1 : alpha;
      for (let k = 0; k < 3; k++) out[i * 3 + k] = Math.round(out[i * 3 + k]! * (1 - a) + colour[k]! * a);
    }
  }
  return rgb;
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][i % 6]!;
  return [Math.round(r! * 255), Math.round(g! * 255), Math.round(b! * 255)];
}
