/**
 * Runs the jasmine specs registered by the bundle's spec modules against the backend
 * chosen in setup.ts, minus the exclude list, and prints one summary line
 * (SUMMARY_PREFIX + JSON) that test/tfjs-core-ops.test.ts parses.
 */
import { kernelCallSummary, suiteBackend } from './setup.js';
import { EXCLUDES, excludeReason } from './excludes.js';

export const SUMMARY_PREFIX = 'UNET_TFJS_CORE_SUITE ';

interface SpecResult {
  fullName: string;
  status: 'passed' | 'failed' | 'excluded' | 'pending';
  failedExpectations: { message: string }[];
}
interface JasmineEnv {
  configure(c: { random: boolean; specFilter(spec: { getFullName(): string }): boolean }): void;
  addReporter(r: { specDone?(r: SpecResult): void; suiteDone?(r: SpecResult): void; jasmineDone?(r: { overallStatus: string; incompleteReason?: string }): void }): void;
  execute(): void;
}
declare const jasmine: { getEnv(): JasmineEnv; DEFAULT_TIMEOUT_INTERVAL: number };

export interface SuiteSummary {
  backend: string;
  passed: number;
  failed: number;
  excluded: number;
  pending: number;
  /** Failed specs (and suites whose hooks failed) with their first messages. */
  failures: { name: string; messages: string[] }[];
  /** Exclude entries that matched no spec: stale, to be removed. */
  unusedExcludes: string[];
  /** Passed specs per top-level describe name (the op), e.g. { 'conv2d': 40 }. */
  passedByDescribe: Record<string, number>;
  /** On 'onednn': calls of each natively implemented kernel and how many took the CPU fallback. */
  kernelCalls: Record<string, { calls: number; cpuFallbacks: number }>;
  overallStatus: string;
  seconds: number;
}

export function runSuite(): Promise<void> {
  const env = jasmine.getEnv();
  jasmine.DEFAULT_TIMEOUT_INTERVAL = 20000;
  const used = new Set<string>();
  env.configure({
    random: false,
    specFilter: (spec) => {
      const e = excludeReason(spec.getFullName(), suiteBackend);
      if (e) used.add(e.match);
      return e === null;
    },
  });
  const start = Date.now();
  const summary: SuiteSummary = { backend: suiteBackend, passed: 0, failed: 0, excluded: 0, pending: 0, failures: [], unusedExcludes: [], passedByDescribe: {}, kernelCalls: {}, overallStatus: '', seconds: 0 };
  const marker = ` ${suiteBackend} {`;
  return new Promise((resolve) => {
    env.addReporter({
      specDone(r) {
        summary[r.status]++;
        if (r.status === 'failed') summary.failures.push({ name: r.fullName, messages: r.failedExpectations.slice(0, 3).map((f) => f.message.slice(0, 500)) });
        if (r.status === 'passed') {
          const at = r.fullName.indexOf(marker);
          const op = at >= 0 ? r.fullName.slice(0, at) : r.fullName;
          summary.passedByDescribe[op] = (summary.passedByDescribe[op] ?? 0) + 1;
        }
      },
      suiteDone(r) {
        if (r.failedExpectations.length > 0) summary.failures.push({ name: `${r.fullName} (suite hook)`, messages: r.failedExpectations.slice(0, 3).map((f) => f.message.slice(0, 500)) });
      },
      jasmineDone(r) {
        summary.overallStatus = r.overallStatus + (r.incompleteReason ? ` (${r.incompleteReason})` : '');
        summary.seconds = (Date.now() - start) / 1000;
        summary.kernelCalls = kernelCallSummary();
        summary.unusedExcludes = EXCLUDES.filter((e) => (!e.backends || e.backends.includes(suiteBackend)) && !used.has(e.match)).map((e) => e.match);
        process.stdout.write(`\n${SUMMARY_PREFIX}${JSON.stringify(summary)}\n`);
        resolve();
      },
    });
    env.execute();
  });
}
