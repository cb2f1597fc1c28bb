/**
 * Bundles and runs tfjs-core 4.22.0's own op suite (the jasmine specs its package ships in
 * dist/, the ones tfjs' own backends run) against unet-ts' backends.
 *
 * Why a bundle: tfjs-core's dist/*.js are ES modules with extensionless imports in a
 * package without "type": "module", which Node cannot load; esbuild joins them with our
 * backends into one module graph, resolving every @tensorflow package to its ES build so
 * that specs and backends share one tfjs-core. jasmine-core and the addon stay external.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { SuiteSummary } from './run-suite.js';
import type { SuiteBackend } from './setup-names.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SUITE_BUNDLE = `${ROOT}build/tfjs-core-suite/suite.mjs`;
const SUMMARY_PREFIX = 'UNET_TFJS_CORE_SUITE ';

/** Writes build/tfjs-core-suite/suite.mjs (about 2 s). */
export async function bundleTfjsCoreSuite(): Promise<string> {
  await build({
    entryPoints: [`${ROOT}test/tfjs-core/bundle-entry.ts`],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: SUITE_BUNDLE,
    mainFields: ['module', 'main'],
    external: ['jasmine-core'],
    // tfjs-core marks dist/tests.js side-effect free; its imports are the specs.
    ignoreAnnotations: true,
    // CommonJS parts (jasmine_util's require of jasmine-core, node-fetch) need a require in ESM.
    banner: { js: "import { createRequire as __unetCreateRequire } from 'node:module'; const require = __unetCreateRequire(import.meta.url);" },
    logLevel: 'error',
  });
  return SUITE_BUNDLE;
}

/**
 * Runs the bundled suite on `backend` in a child process and returns its summary; throws,
 * naming the backend and the output's tail, when the child gives none (a crash, a hang
 * past `timeoutMs`). oneDNN runs on one thread: the suite's tensors are tiny, and spinning
 * OpenMP threads on a shared machine made it 4x slower.
 */
export function runTfjsCoreSuite(backend: SuiteBackend, timeoutMs = 300_000): Promise<SuiteSummary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SUITE_BUNDLE], {
      cwd: ROOT,
      env: { ...process.env, UNET_TFJS_SUITE_BACKEND: backend, OMP_NUM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(SUMMARY_PREFIX));
      if (!line) {
        reject(new Error(`tfjs-core op suite on '${backend}': no summary (exit ${code}, signal ${signal}); output ends:\n${out.slice(-3000)}`));
        return;
      }
      resolve(JSON.parse(line.slice(SUMMARY_PREFIX.length)) as SuiteSummary);
    });
  });
}

/**
 * Spec groups (top-level describe names of tfjs-core's suite) that must pass on every run,
 * with a floor on how many: at least one per kernel unet-ts' onednn backend implements or
 * its CPU patch replaces, so that the suite cannot pass by running nothing.
 */
export const REQUIRED_SPEC_GROUPS: readonly { kernels: string; describes: readonly string[]; min: number }[] = [
  { kernels: 'Add', describes: ['add'], min: 20 },
  { kernels: 'Sub', describes: ['sub'], min: 20 },
  { kernels: 'Multiply', describes: ['mul'], min: 15 },
  { kernels: 'Slice', describes: ['slice1d', 'slice2d', 'slice3d', 'slice4d', 'slice '], min: 40 },
  { kernels: 'Concat', describes: ['concat1d', 'concat2d', 'concat3d'], min: 30 },
  { kernels: 'SplitV', describes: ['split'], min: 10 },
  { kernels: 'Sum', describes: ['sum'], min: 15 },
  { kernels: 'PadV2', describes: ['pad 1d', 'pad 2d', 'pad 3d', 'pad 4d', 'pad'], min: 15 },
  { kernels: 'Relu', describes: ['relu'], min: 10 },
  { kernels: 'Step', describes: ['step kernel'], min: 8 },
  { kernels: 'Conv2D, Conv2DBackpropFilter', describes: ['conv2d'], min: 30 },
  { kernels: 'Conv2DBackpropInput', describes: ['conv2dTranspose'], min: 15 },
  { kernels: 'FusedConv2D', describes: ['fused conv2d'], min: 40 },
  { kernels: 'MaxPool', describes: ['maxPool', 'pool'], min: 40 },
  { kernels: 'MaxPoolGrad', describes: ['maxPoolBackprop', 'poolBackprop'], min: 15 },
];
