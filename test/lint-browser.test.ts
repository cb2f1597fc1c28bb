/** The browser entry's files may not use Node globals or built-ins: the lint rule that says so is checked here. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ESLint } from 'eslint';

// eslint.config.js is plain JavaScript without declarations: import it untyped and say what it exports.
const CONFIG: string = '../eslint.config.js';
const { browserClosure } = (await import(CONFIG)) as { browserClosure: () => string[] };

const ROOT = fileURLToPath(new URL('..', import.meta.url));

test('browserClosure: src/browser.ts reaches the training loop and its helpers, not the Node-only modules', () => {
  const files = browserClosure();
  for (const f of ['src/browser.ts', 'src/train/train.ts', 'src/train/tiles.ts', 'src/model/unet.ts', 'src/util/rng.ts']) {
    assert.ok(files.includes(f), `browserClosure: ${f} is reachable from src/browser.ts (got ${files.length} files)`);
  }
  for (const f of ['src/index.ts', 'src/train/checkpoint-files.ts', 'src/io/model-files.ts', 'src/cli/main.ts']) {
    assert.ok(!files.includes(f), `browserClosure: ${f} is Node-only and not reachable from src/browser.ts`);
  }
});

test('lint: a Node global or built-in in a browser-entry file is an error; in a Node-only file it is not', async () => {
  const eslint = new ESLint({ cwd: ROOT });
  const source = await readFile(join(ROOT, 'src/train/train.ts'), 'utf8');
  const lint = async (code: string, file: string): Promise<string[]> =>
    (await eslint.lintText(code, { filePath: join(ROOT, file) }))[0]!.messages.map((m) => `${m.ruleId}: ${m.message}`);

  assert.deepEqual(await lint(source, 'src/train/train.ts'), [], 'lint: src/train/train.ts as committed is clean');
  const withImmediate = `${source}\nexport const tick = (): Promise<void> => new Promise((r) => setImmediate(r));\n`;
  const immediate = await lint(withImmediate, 'src/train/train.ts');
  assert.ok(immediate.some((m) => m.startsWith('no-restricted-globals') && m.includes('setImmediate')), `lint: setImmediate in src/train/train.ts is reported, got ${JSON.stringify(immediate)}`);
  const withFs = `import { readFile as rf } from 'node:fs/promises';\nexport const r = rf;\n${source}`;
  const fs = await lint(withFs, 'src/train/train.ts');
  assert.ok(fs.some((m) => m.startsWith('no-restricted-imports')), `lint: a node:fs import in src/train/train.ts is reported, got ${JSON.stringify(fs)}`);
  const bufferUse = await lint('export const b = Buffer.from([1]);\n', 'src/util/rng.ts');
  assert.ok(bufferUse.some((m) => m.startsWith('no-restricted-globals') && m.includes('Buffer')), `lint: Buffer in src/util/rng.ts is reported, got ${JSON.stringify(bufferUse)}`);

  const nodeOnly = await lint('export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));\n', 'src/train/checkpoint-files.ts');
  assert.ok(!nodeOnly.some((m) => m.startsWith('no-restricted-globals')), `lint: setImmediate in Node-only src/train/checkpoint-files.ts is allowed, got ${JSON.stringify(nodeOnly)}`);
});
