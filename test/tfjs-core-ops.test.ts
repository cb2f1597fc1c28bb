/**
 * tfjs-core 4.22.0's own op suite (test/tfjs-core/) on unet-ts' backends: 'onednn',
 * 'onednn' with natively held inputs, and the patched 'cpu'. Each run must have no
 * failures, no stale excludes, and enough passing specs for every kernel we implement.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { oneDnnLoadError, registerOneDnnBackend } from '../src/backend/onednn.js';
import { EXCLUDES, excludeReason } from './tfjs-core/excludes.js';
import type { SuiteSummary } from './tfjs-core/run-suite.js';
import type { SuiteBackend } from './tfjs-core/setup-names.js';
import { bundleTfjsCoreSuite, REQUIRED_SPEC_GROUPS, runTfjsCoreSuite } from './tfjs-core/spawn-suite.js';
import { skipUnless } from './helpers.js';

/** tfjs-core 4.22.0 publishes about 4,230 specs that run in Node; far fewer means the bundle lost some. */
const MIN_PASSED = 4000;

const native = registerOneDnnBackend();
const skipNative = skipUnless(native ? false : `the oneDNN addon (${oneDnnLoadError()})`);

test('tfjs-core suite excludes: every entry has a reason; matching by substring and backend', () => {
  for (const e of EXCLUDES) assert.ok(e.reason.trim().length >= 10, `test/tfjs-core/excludes.ts: entry '${e.match}' needs a reason`);
  const list = [
    { match: 'maxPool onednn {} x=[2,2,3]', reason: 'example entry for every backend' },
    { match: 'conv2d', reason: 'example entry for cpu only', backends: ['cpu'] },
  ];
  assert.equal(excludeReason('maxPool onednn {} x=[2,2,3] f=[1,1] s=2', 'onednn', list)?.reason, 'example entry for every backend');
  assert.equal(excludeReason('conv2d onednn {} x=[1,4,4,1]', 'onednn', list), null, 'a cpu-only entry must not exclude on onednn');
  assert.equal(excludeReason('conv2d cpu {} x=[1,4,4,1]', 'cpu', list)?.reason, 'example entry for cpu only');
  assert.equal(excludeReason('add onednn {} c + A', 'onednn', list), null);
});

const BACKENDS = ['onednn', 'onednn-native', 'cpu'] as const satisfies readonly SuiteBackend[];
const skipOf = (backend: SuiteBackend): string | false => (backend === 'cpu' ? false : skipNative);

describe('tfjs-core op suite', () => {
  // The runs are child processes, started together (about 15 s each alone, one core each).
  const runs = new Map<SuiteBackend, Promise<SuiteSummary>>();
  before(async () => {
    await bundleTfjsCoreSuite();
    for (const backend of BACKENDS) {
      if (skipOf(backend)) continue;
      const run = runTfjsCoreSuite(backend);
      run.catch(() => {}); // awaited, and reported, by the backend's test
      runs.set(backend, run);
    }
  });

  for (const backend of BACKENDS) {
    test(`on '${backend}': every spec passes except the documented excludes`, { skip: skipOf(backend), timeout: 600_000 }, async () => {
      const s = await runs.get(backend)!;
      const failures = s.failures.map((f) => `${f.name}: ${f.messages.join(' | ')}`).join('\n');
      assert.equal(s.failed, 0, `tfjs-core suite on '${backend}': ${s.failed} failed specs:\n${failures}`);
      assert.equal(s.failures.length, 0, `tfjs-core suite on '${backend}': failing hooks:\n${failures}`);
      assert.equal(s.overallStatus, 'passed', `tfjs-core suite on '${backend}': jasmine says ${s.overallStatus}`);
      assert.ok(s.passed >= MIN_PASSED, `tfjs-core suite on '${backend}': only ${s.passed} specs passed, expected >= ${MIN_PASSED}`);
      assert.deepEqual(s.unusedExcludes, [], `tfjs-core suite on '${backend}': exclude entries that match no spec (remove them from test/tfjs-core/excludes.ts)`);
      const excludesHere = EXCLUDES.filter((e) => !e.backends || e.backends.includes(backend)).length;
      assert.ok(s.excluded >= excludesHere, `tfjs-core suite on '${backend}': ${s.excluded} specs excluded, fewer than the ${excludesHere} exclude entries`);
      for (const g of REQUIRED_SPEC_GROUPS) {
        const n = g.describes.reduce((acc, d) => acc + (s.passedByDescribe[d] ?? 0), 0);
        assert.ok(n >= g.min, `tfjs-core suite on '${backend}': ${n} passed specs in ${g.describes.join(', ')} (kernels ${g.kernels}), expected >= ${g.min}`);
      }
      if (backend !== 'cpu') {
        // The native paths must have run, not only their CPU fallbacks.
        for (const k of ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'MaxPool', 'MaxPoolGrad']) {
          const c = s.kernelCalls[k];
          assert.ok(c && c.calls - c.cpuFallbacks > 0, `tfjs-core suite on '${backend}': kernel ${k} never took its native path (${JSON.stringify(c)})`);
        }
      }
      if (backend === 'onednn-native') {
        for (const k of ['Add', 'Sub', 'Multiply', 'Slice', 'Sum', 'Relu', 'Step', 'PadV2']) {
          const c = s.kernelCalls[k];
          assert.ok(c && c.calls - c.cpuFallbacks > 0, `tfjs-core suite on 'onednn-native': kernel ${k} never took its native path (${JSON.stringify(c)})`);
        }
      }
    });
  }
});
