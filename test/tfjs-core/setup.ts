/**
 * First module of the tfjs-core op suite bundle (see run-suite.ts): boots jasmine-core
 * (its globals must exist before the spec modules evaluate) and points tfjs-core's
 * describeWithFlags at the backend under test, before any spec module is imported.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { setTestEnvs } from '@tensorflow/tfjs-core/dist/jasmine_util.js';
// As tfjs-node's run_tests.ts: the ESM index registers neither gradients nor chained ops.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';
import { installFastCpuKernels } from '../../src/backend/cpu-kernels.js';
import { fallbackCounts, loadOneDnnAddon, NativeEntry, ONEDNN_NATIVE_KERNELS, OneDnnBackend, oneDnnLoadError, registerOneDnnBackend } from '../../src/backend/onednn.js';
import { SUITE_BACKENDS, type SuiteBackend } from './setup-names.js';

const backend = process.env.UNET_TFJS_SUITE_BACKEND as SuiteBackend | undefined;
if (backend === undefined || !SUITE_BACKENDS.includes(backend)) {
  throw new Error(`tfjs-core op suite: UNET_TFJS_SUITE_BACKEND must be one of ${SUITE_BACKENDS.join(', ')}, got ${String(backend)}`);
}
export const suiteBackend: SuiteBackend = backend;

const require = createRequire(import.meta.url);
const jasmineRequire = require('jasmine-core') as { boot(j: unknown): unknown };
jasmineRequire.boot(jasmineRequire);

// The 'cpu' run tests the CPU backend as unet-ts patches it (cpu-kernels.ts); 'onednn' also installs it.
installFastCpuKernels();
const backendName = suiteBackend === 'cpu' ? 'cpu' : 'onednn';
if (backendName === 'onednn' && !registerOneDnnBackend()) {
  throw new Error(`tfjs-core op suite: the onednn backend cannot be registered: ${oneDnnLoadError()}`);
}

/**
 * OneDnnBackend storing written 4-D float32 values natively, through a 1x1 max-pool: an
 * exact copy of finite values (oneDNN's max turns NaN and -Infinity into the lowest float,
 * so arrays holding them stay in JS; the 'onednn' run covers those).
 */
class NativeInputsBackend extends OneDnnBackend {
  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object {
    const dataId = super.write(values, shape, dtype);
    if (dtype === 'float32' && shape.length === 4 && values instanceof Float32Array && values.length > 0 && values.every(Number.isFinite)) {
      const dims = shape as [number, number, number, number];
      const handle = this.addon.maxPool(values, dims, dims, [1, 1], [1, 1], [0, 0, 0, 0]);
      this.data.delete(dataId);
      (this.data as unknown as tf.DataStorage<NativeEntry>).set(dataId, new NativeEntry(this.addon, handle, shape));
    }
    return dataId;
  }
}
if (suiteBackend === 'onednn-native') {
  const addon = loadOneDnnAddon()!;
  tf.removeBackend('onednn');
  tf.registerBackend('onednn', () => new NativeInputsBackend(addon), 3);
}

/** Calls of each kernel with a native implementation on 'onednn', and how many of them ran the CPU kernel. */
export const nativeKernelCalls: Record<string, { calls: number; cpuFallbacks: number }> = {};
if (backendName === 'onednn') {
  for (const name of ONEDNN_NATIVE_KERNELS) {
    const k = tf.getKernel(name, 'onednn')!;
    const counts = (nativeKernelCalls[name] = { calls: 0, cpuFallbacks: 0 });
    tf.unregisterKernel(name, 'onednn');
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        counts.calls++;
        return k.kernelFunc(args);
      },
    });
  }
}
export function kernelCallSummary(): Record<string, { calls: number; cpuFallbacks: number }> {
  for (const [name, c] of Object.entries(nativeKernelCalls)) c.cpuFallbacks = fallbackCounts.get(name) ?? 0;
  return nativeKernelCalls;
}
tf.env().set('PROD', true);
setTestEnvs([{ name: suiteBackend, backendName, isDataSync: true }]);
