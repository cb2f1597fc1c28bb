/**
 * `npm run test:tfjs-core [-- BACKEND...]`: tfjs-core's op suite on unet-ts' backends
 * (default all three), one line of counts each; exit 1 on any failure.
 */
import { bundleTfjsCoreSuite, runTfjsCoreSuite } from './spawn-suite.js';
import { SUITE_BACKENDS, type SuiteBackend } from './setup-names.js';

const wanted = (process.argv.slice(2).length ? process.argv.slice(2) : [...SUITE_BACKENDS]) as SuiteBackend[];
for (const b of wanted) if (!SUITE_BACKENDS.includes(b)) throw new Error(`test:tfjs-core: unknown backend '${b}'; one of ${SUITE_BACKENDS.join(', ')}`);
await bundleTfjsCoreSuite();
let failed = 0;
for (const backend of wanted) {
  const s = await runTfjsCoreSuite(backend);
  failed += s.failed + (s.overallStatus === 'passed' ? 0 : 1);
  process.stdout.write(`${backend}: ${s.passed} passed, ${s.failed} failed, ${s.excluded} excluded, ${s.pending} pending (${s.seconds.toFixed(1)} s, ${s.overallStatus})\n`);
  for (const f of s.failures) process.stdout.write(`  FAILED ${f.name}\n    ${f.messages.join('\n    ')}\n`);
  if (s.unusedExcludes.length) process.stdout.write(`  excludes matching nothing: ${s.unusedExcludes.join('; ')}\n`);
}
process.exitCode = failed ? 1 : 0;
