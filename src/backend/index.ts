/**
 * Backend selection. The native oneDNN backend is preferred in Node when its addon
 * loads; the pure-JS CPU backend is the fallback everywhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { installFastCpuKernels } from './cpu-kernels.js';
import { oneDnnLoadError, registerOneDnnBackend } from './onednn.js';
import { assertTfjsInternals } from './tfjs-internals.js';

export interface BackendInfo {
  readonly name: string;
  /** Why a preferred backend was not used, if one was skipped. */
  readonly note?: string;
}

let active: BackendInfo | null = null;

/**
 * Activates the best available backend once and returns which one it is:
 * 'onednn' (native, when build/Release/unet_onednn.node loads) else 'cpu'.
 * `preferred` forces one ('cpu' always works; 'onednn' falls back to 'cpu' with a note).
 * The library never prints: callers decide whether to show `note`. Throws when the
 * installed TF.js lacks an internal unet-ts uses (see tfjs-internals.ts).
 */
export async function initBackend(preferred?: string): Promise<BackendInfo> {
  // TF.js greets Node users on stdout through backend_util.warn unless PROD is set.
  tf.env().set('PROD', true);
  installFastCpuKernels();
  const native = registerOneDnnBackend();
  let want = preferred ?? (native ? 'onednn' : 'cpu');
  let note: string | undefined;
  if (want === 'onednn' && !native) {
    want = 'cpu';
    note = `${oneDnnLoadError() ?? 'the oneDNN backend is not available'}; using the pure-JS CPU backend`;
  } else if (preferred === undefined && !native) {
    note = `${oneDnnLoadError() ?? 'the oneDNN backend is not available'}; using the pure-JS CPU backend`;
  }
  if (active && active.name === want && tf.getBackend() === want) return active;
  if (!(await tf.setBackend(want))) throw new Error(`initBackend: backend '${want}' is not available; registered: ${Object.keys(tf.engine().registryFactory).join(', ')}`);
  await tf.ready();
  // Once per process: a TF.js other than the pinned 4.22.0 fails here, naming what it lacks.
  assertTfjsInternals();
  active = note === undefined ? { name: tf.getBackend() } : { name: tf.getBackend(), note };
  return active;
}

export function activeBackend(): string {
  return tf.getBackend();
}
