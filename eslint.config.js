import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ROOT = dirname(fileURLToPath(import.meta.url));

/**
 * Files of src/ reachable from the browser entry src/browser.ts through relative imports
 * and re-exports (static or dynamic), as repository-relative paths. Computed on every lint
 * run, so a file that joins the browser bundle is checked without editing this config.
 */
export function browserClosure(entry = 'src/browser.ts') {
  const seen = new Set();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = relative(ROOT, join(ROOT, dirname(file), m[1].replace(/\.js$/, '.ts')));
      if (existsSync(join(ROOT, target))) stack.push(target);
    }
  }
  return [...seen].sort();
}

// Bare names are listed as exact paths: as gitignore-style patterns 'util' would also match '../util/rng.js'.
const NODE_BUILTINS = ['fs', 'fs/promises', 'path', 'os', 'child_process', 'url', 'util', 'stream', 'zlib', 'buffer', 'worker_threads', 'crypto', 'module', 'process', 'events', 'http', 'https', 'net'];
const NODE_GLOBALS = ['process', 'Buffer', '__dirname', '__filename', 'require', 'module', 'exports', 'global', 'setImmediate', 'clearImmediate'];
const browserRules = (where) => ({
  'no-restricted-imports': [
    'error',
    {
      paths: NODE_BUILTINS.map((name) => ({ name, message: `${where} runs in the browser: no Node built-ins.` })),
      patterns: [{ group: ['node:*'], message: `${where} runs in the browser: no Node built-ins.` }],
    },
  ],
  'no-restricted-globals': ['error', ...NODE_GLOBALS.map((name) => ({ name, message: `${where} runs in the browser, where ${name} does not exist.` }))],
});

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'web/dist/', 'models/', 'scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
      // tsc checks identifiers (Node and DOM globals included); typescript-eslint advises this off.
      'no-undef': 'off',
    },
  },
  // The web app's own code runs in the browser: no Node built-ins or globals.
  { files: ['web/src/**/*.ts'], rules: browserRules('web/src') },
  // So does every file of src/ that the browser entry pulls in (train() included).
  { files: browserClosure(), rules: browserRules('This file is part of the browser entry src/browser.ts and') },
  { files: ['src/cli/**/*.ts', 'bench/**/*.ts', 'experiments/**/*.ts', 'scripts/**/*.ts', 'examples/**/*.ts'], rules: { 'no-console': 'off' } },
);
