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
  { files: ['src/cli/**/*.ts', 'bench/**/*.ts', 'experiments/**/*.ts', 'scripts/**/*.ts'], rules: { 'no-console': 'off' } },
);
