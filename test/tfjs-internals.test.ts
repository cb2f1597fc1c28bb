/**
 * The start-up check of the TF.js internals unet-ts uses (src/backend/tfjs-internals.ts):
 * it passes on the installed, pinned TF.js, frees what it probes, and names the member,
 * the user and the expected version when one is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { assertTfjsInternals, checkTfjsInternals, missingMembers, probeTfjsInternals, TFJS_INTERNALS, TFJS_VERSION_EXPECTED, tfjsInternalsError } from '../src/backend/tfjs-internals.js';

await initBackend('cpu');

describe('TF.js internals self-check', () => {
  test('package.json pins every @tensorflow/* dependency to exactly the version the check expects', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string>; devDependencies?: Record<string, string> };
    const tfDeps = Object.entries({ ...pkg.dependencies, ...pkg.devDependencies }).filter(([n]) => n.startsWith('@tensorflow/'));
    assert.ok(tfDeps.length >= 6, `package.json: expected the six @tensorflow/* dependencies, found ${tfDeps.map(([n]) => n).join(', ')}`);
    for (const [name, range] of tfDeps) assert.equal(range, TFJS_VERSION_EXPECTED, `package.json: ${name} must be pinned to exactly ${TFJS_VERSION_EXPECTED}, got '${range}'`);
    assert.equal(tf.version_core, TFJS_VERSION_EXPECTED, `installed @tensorflow/tfjs-core is ${tf.version_core}, package.json pins ${TFJS_VERSION_EXPECTED}`);
  });

  test('passes on the installed TF.js, and probing frees every tensor and variable it makes', () => {
    const before = tf.memory().numTensors;
    const probe = probeTfjsInternals();
    const problems = checkTfjsInternals(probe.subjects);
    probe.dispose();
    assert.deepEqual(problems, [], 'the installed TF.js should have every internal unet-ts uses');
    assert.equal(tf.memory().numTensors, before, 'probeTfjsInternals().dispose() should free all its tensors');
    assert.doesNotThrow(() => assertTfjsInternals());
    assert.ok(Object.values(TFJS_INTERNALS).flat().length >= 40, 'the check should cover every member used (about 50)');
  });

  test('a subject missing a member, or holding one of another kind, is named with its user', () => {
    const probe = probeTfjsInternals();
    try {
      const engine = probe.subjects.engine as Record<string, unknown>;
      // Stand-ins for a future TF.js: an engine without `gradients` (then with a string there), a tape node without `saved`.
      const members = ['scopedRun', 'startTape', 'endTape', 'tidy', 'runKernel', 'state', 'registeredVariables', 'registryFactory', 'backend'];
      const noGradients: Record<string, unknown> = Object.fromEntries(members.map((m) => [m, engine[m]]));
      const node = { ...(probe.subjects.tapeNode as Record<string, unknown>) };
      delete node.saved;
      const problems = checkTfjsInternals({ ...probe.subjects, engine: noGradients, tapeNode: node });
      assert.deepEqual(problems, ['engine.gradients (a function, used by src/train/lean-backprop.ts): missing', 'tapeNode.saved (an array, used by src/train/lean-backprop.ts): missing']);
      const wrongKind = checkTfjsInternals({ ...probe.subjects, engine: { ...noGradients, gradients: 'not a function' } });
      assert.deepEqual(wrongKind, ['engine.gradients (a function, used by src/train/lean-backprop.ts): is string']);
      const message = tfjsInternalsError(problems, '9.9.9').message;
      assert.match(message, /TensorFlow\.js 4\.22\.0/, 'the error names the version expected');
      assert.match(message, /tfjs-core 9\.9\.9/, 'the error names the version installed');
      assert.match(message, /tapeNode\.saved/, 'the error names the missing member');
    } finally {
      probe.dispose();
    }
  });

  test('initBackend() refuses a TF.js whose engine lacks gradients, naming it and 4.22.0', () => {
    const backendIndex = fileURLToPath(new URL('../src/backend/index.ts', import.meta.url));
    const script = [
      "import * as tf from '@tensorflow/tfjs-core';",
      'delete Object.getPrototypeOf(tf.engine()).gradients;',
      `const { initBackend } = await import(${JSON.stringify(backendIndex)});`,
      "try { await initBackend('cpu'); console.log('NO ERROR'); } catch (e) { console.log(e.message); }",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8', env: { ...process.env, UNET_BACKEND_NO_NATIVE: '1' } });
    assert.equal(r.status, 0, `child failed: ${r.stderr}`);
    assert.match(r.stdout, /unet-ts needs private members of TensorFlow\.js 4\.22\.0/, `initBackend should refuse: ${r.stdout}`);
    assert.match(r.stdout, /engine\.gradients \(a function, used by src\/train\/lean-backprop\.ts\): missing/, `the message should name engine.gradients: ${r.stdout}`);
  });

  test('missingMembers: dotted paths, null values and absent subjects', () => {
    assert.deepEqual(missingMembers('engine', {}, [{ path: 'gradients', kind: 'function', usedBy: 'x' }]), ['engine.gradients (a function, used by x): missing']);
    assert.deepEqual(missingMembers('e', { state: { gradientDepth: 0 } }, [{ path: 'state.gradientDepth', kind: 'number', usedBy: 'y' }]), []);
    assert.deepEqual(missingMembers('e', { state: null }, [{ path: 'state.activeTape', kind: 'present', usedBy: 'y' }]), ['e.state.activeTape (a member, used by y): missing']);
    assert.deepEqual(missingMembers('l', { kernel: null }, [{ path: 'kernel', kind: 'present', usedBy: 'z' }]), []);
    assert.deepEqual(missingMembers('l', { strides: 1 }, [{ path: 'strides', kind: 'array', usedBy: 'z' }]), ['l.strides (an array, used by z): is number']);
    assert.ok(checkTfjsInternals({}).includes('engine: could not be obtained to check'));
  });
});
