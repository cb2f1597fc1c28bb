import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  {
    // The web app's own code runs in the browser: no Node built-ins or globals.
    files: ['web/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'fs/*', 'path', 'os', 'child_process', 'url', 'util', 'stream', 'zlib', 'buffer'], message: 'web/src runs in the browser: no Node built-ins.' }] }],
      'no-restricted-globals': ['error', 'process', 'Buffer', '__dirname', '__filename', 'require', 'global'],
    },
  },
  { files: ['src/cli/**/*.ts', 'bench/**/*.ts', 'experiments/**/*.ts', 'scripts/**/*.ts', 'examples/**/*.ts'], rules: { 'no-console': 'off' } },
);
