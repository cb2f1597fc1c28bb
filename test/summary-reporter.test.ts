/**
 * The closing line CI reads counts every test that did not run: a fixture file with a skipped
 * suite, a skipped test, a todo, a failing test and a failing hook is run in a child process
 * under the project's reporter.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const reporter = fileURLToPath(new URL('./summary-reporter.mjs', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/reporter/sample.mjs', import.meta.url));
const prerequisite = fileURLToPath(new URL('./fixtures/reporter/prerequisite.ts', import.meta.url));
const buildNative = fileURLToPath(new URL('../scripts/build-native.mjs', import.meta.url));

/** The environment of this process without the CI switches and without NODE_TEST_CONTEXT,
 * which marks a process as a child of the runner (one that then refuses to run files). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of ['NODE_TEST_CONTEXT', 'CI', 'UNET_REQUIRE_NATIVE']) if (!(name in extra)) delete env[name];
  return env;
}

/** Runs one test file under the summary reporter; returns its closing line, output and status. */
function runFixture(file: string, extra: Record<string, string> = {}): { closing: string; stdout: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-reporter=${reporter}`, file], { encoding: 'utf8', env: cleanEnv(extra) });
  return { closing: r.stdout.trim().split('\n').at(-1) ?? '', stdout: `${r.stdout}\nstderr:\n${r.stderr}`, status: r.status };
}

test('summary reporter: a skipped suite, a skip, a todo, a failure and a failing hook are all counted', () => {
  const r = runFixture(fixture);
  // passed: 'a passing test', 'its passing test'; failed: 'a failing test', the after hook;
  // skipped: the suite (its tests never run), 'a skipped test', 'a todo test'.
  assert.equal(r.closing, '2 passed, 2 failed, 3 skipped', `summary reporter: closing line of the fixture run; output was:\n${r.stdout}`);
  assert.match(r.stdout, /suite a skipped suite of two tests: addon not built/, 'summary reporter: the skipped suite is listed with its reason');
  assert.match(r.stdout, /a skipped test: no chromium/, 'summary reporter: the skipped test is listed with its reason');
  assert.notEqual(r.status, 0, 'summary reporter: the fixture run has failures, so node --test must exit non-zero');
});

test('skipUnless: a missing prerequisite skips on a contributor machine and fails under CI=true or UNET_REQUIRE_NATIVE=1', () => {
  const local = runFixture(prerequisite);
  assert.equal(local.closing, '0 passed, 0 failed, 1 skipped', `skipUnless without CI: closing line; output was:\n${local.stdout}`);
  assert.equal(local.status, 0, 'skipUnless without CI: a skip must not fail the run');
  for (const extra of [{ CI: 'true' }, { UNET_REQUIRE_NATIVE: '1' }] as Record<string, string>[]) {
    const ci = runFixture(prerequisite, extra);
    assert.equal(ci.closing, '0 passed, 1 failed, 1 skipped', `skipUnless with ${JSON.stringify(extra)}: closing line; output was:\n${ci.stdout}`);
    assert.match(ci.stdout, /prerequisite missing: tool-that-is-not-installed not found/, 'skipUnless under CI: the failure names what is missing');
    assert.notEqual(ci.status, 0, `skipUnless with ${JSON.stringify(extra)}: the run must fail`);
  }
});

test('build-native.mjs: without the addon it exits 0 on a contributor machine and 1 where the addon is required', () => {
  const run = (extra: Record<string, string>) => spawnSync(process.execPath, [buildNative], { encoding: 'utf8', env: cleanEnv({ UNET_SKIP_NATIVE: '1', ...extra }) });
  const local = run({});
  assert.equal(local.status, 0, `build-native.mjs with UNET_SKIP_NATIVE=1: exit ${local.status}, output ${local.stdout}${local.stderr}`);
  assert.match(local.stdout, /pure-JS CPU backend will be used/, 'build-native.mjs: says which backend is used instead');
  for (const extra of [{ CI: 'true' }, { UNET_REQUIRE_NATIVE: '1' }] as Record<string, string>[]) {
    const strict = run(extra);
    assert.equal(strict.status, 1, `build-native.mjs with ${JSON.stringify(extra)} and no addon: exit ${strict.status}, output ${strict.stdout}${strict.stderr}`);
    assert.match(strict.stderr, /required here/, 'build-native.mjs: the failure says the addon is required');
  }
});
