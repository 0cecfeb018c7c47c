// eslint.config.js: lint for every .ts and .js file in the repo (flat config).
// typescript-eslint "recommended" (not type-aware, so lint stays fast); generated code is
// not linted. tugboat/import-boundaries (scripts/eslint/) keeps the layering of libs/ and apps/.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import { importBoundaries } from './scripts/eslint/import-boundaries.ts';

export default defineConfig(
  {
    ignores: ['**/node_modules/', 'libs/proto/src/gen/', 'test/support/command-log-member/gen/', '.tug-data/', 'tmp/'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: 'module',
      globals: {
        console: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { tugboat: { rules: { 'import-boundaries': importBoundaries } } },
    rules: { 'tugboat/import-boundaries': 'error' },
  },
);
