import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const THE_DOOR = {
  group: ['**/core/*', '!**/core/index.js', '**/core/*/**'],
  message: 'src/cli and src/extension import the core only through core/index.js.',
};

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.vscode-test/**', '**/*.mjs', '.tmp/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it return promises the runner itself tracks.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: 'error',
      curly: ['error', 'multi-line'],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'vscode', message: 'src/core never imports vscode.' }] },
      ],
    },
  },
  {
    // The glue reaches the core only through its public API, src/core/index.ts.
    files: ['src/cli/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [THE_DOOR] }] },
  },
  {
    // ...and the extension never decides a file itself: it is a Resolver of the core's one decide loop.
    files: ['src/extension/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [THE_DOOR],
          paths: [
            {
              name: '../core/index.js',
              importNames: ['decide', 'decideUpdate', 'choiceDecision', 'contentDecision', 'mergeFile'],
              message:
                "The extension answers the core's Resolver; per-file decisions stay in src/core/transfer.",
            },
          ],
        },
      ],
    },
  },
  prettier,
);
