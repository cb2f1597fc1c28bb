// A node:test reporter that prints one closing line CI can read: "N passed, N failed, N skipped".
//
// Every test that did not run is counted. node:test never enqueues the tests inside a skipped
// `describe`, so a skipped suite counts as one skipped test (its reason listed); a suite that fails
// on its own (a hook, or code in its body) counts as a failure even when it has no failing test.
// The skipped tests (with their reasons) and the failures (with the first line of their error) are
// listed just above the closing line.

/** The counts and skip reasons of a stream of node:test events (exported for the reporter's own test). */
export async function summarize(source) {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const skips = [];
  const failures = [];
  const failure = (data) => {
    const error = data.details?.error;
    const message = String(error?.cause?.message ?? error?.message ?? 'failed').split('\n')[0];
    failures.push(`${data.name}: ${message}`);
  };
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const data = event.data;
    const isSuite = data.details?.type === 'suite';
    if (data.skip || data.todo) {
      counts.skipped++;
      const reason = typeof data.skip === 'string' ? data.skip : typeof data.todo === 'string' ? `todo: ${data.todo}` : data.todo ? 'todo' : 'no reason given';
      skips.push(`${isSuite ? 'suite ' : ''}${data.name}: ${reason}`);
      continue;
    }
    if (isSuite) {
      // A suite passes or fails with its tests, which are counted on their own; it adds a failure
      // only when it failed for a reason of its own (a hook, its body, a timeout).
      if (event.type === 'test:fail' && data.details?.error?.failureType !== 'subtestsFailed') {
        counts.failed++;
        failure(data);
      }
      continue;
    }
    if (event.type === 'test:pass') counts.passed++;
    else {
      counts.failed++;
      failure(data);
    }
  }
  return { ...counts, skips, failures };
}

export default async function* summaryReporter(source) {
  const { passed, failed, skipped, skips, failures } = await summarize(source);
  let out = '\n';
  if (skips.length > 0) out += `skipped (${skips.length}):\n${skips.map((s) => `  - ${s}\n`).join('')}`;
  if (failures.length > 0) out += `failed (${failures.length}):\n${failures.map((s) => `  - ${s}\n`).join('')}`;
  yield `${out}\n${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}
