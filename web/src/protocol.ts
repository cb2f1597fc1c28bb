/** Messages between the page (main.ts) and the inference worker (worker.ts). */
import type { ModelMetadata } from './lib.js';

export type ModelSource =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'files'; readonly name: string; readonly modelJson: unknown; readonly weights: ArrayBuffer; readonly metadata: unknown };

/** One image page as decoded (not normalised): the worker applies the model's normalisation. */
export interface PageData {
  readonly data: Uint8Array | Uint16Array | Int32Array | Float32Array;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly name: string;
}

export type ToWorker =
  | { readonly type: 'init'; readonly wasmBase: string; readonly backend?: string }
  | { readonly type: 'load'; readonly source: ModelSource }
  | { readonly type: 'segment'; readonly id: number; readonly page: PageData; readonly memoryMB: number }
  | { readonly type: 'abort'; readonly id: number };

export interface BackendAttempt {
  readonly name: string;
  readonly error?: string;
}

export interface SegmentResult {
  readonly id: number;
  readonly height: number;
  readonly width: number;
  readonly classes: number;
  /** H x W x K class probabilities. */
  readonly probabilities: Float32Array;
  /** Class index per pixel (argmax). */
  readonly mask: Uint8Array | Uint16Array;
  /** Summed probability of the foreground classes (every class but 0). */
  readonly foreground: Float32Array;
  /** The objects, 0 = background: the model's stored post-processing (as `unet predict --outputs instances`), else connected components of the foreground. */
  readonly instances: Int32Array;
  readonly instanceCount: number;
  /** Whether the 8 flips/rotations were averaged (the model's tuned choice, unet.json "inference"). */
  readonly tta: boolean;
  readonly tile: number;
  readonly tiles: number;
  readonly elapsedMs: number;
  readonly backend: string;
}

export type FromWorker =
  | { readonly type: 'backend'; readonly name: string; readonly attempts: readonly BackendAttempt[] }
  | { readonly type: 'model'; readonly metadata: ModelMetadata; readonly parameters: number; readonly source: string }
  | { readonly type: 'progress'; readonly id: number; readonly tilesDone: number; readonly tiles: number; readonly etaMs: number }
  | ({ readonly type: 'result' } & SegmentResult)
  | { readonly type: 'error'; readonly id?: number; readonly stage: 'init' | 'load' | 'segment'; readonly message: string };
