// ESLint 9 flat config: typescript-eslint (type-aware only for the few rules that need types) and
// import-x for the layer rules of docs/ARCHITECTURE.md. Formatting is Prettier's job (eslint-config-prettier
// turns off every rule that would fight it).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { layerZones } from './eslint/layers.js';

const EXIT_CODE_MESSAGE =
  'exit codes come from EXIT_CODES (src/exit-codes.ts), the one table (docs/ARCHITECTURE.md "Errors and exit codes")';

/** Exit codes as number literals: process.exit(3), process.exitCode = 3, { exitCode: 3 }. */
const EXIT_CODE_LITERALS = [
  "CallExpression[callee.object.name='process'][callee.property.name='exit'] > Literal",
  "AssignmentExpression[left.property.name='exitCode'] > Literal.right",
  "Property[key.name='exitCode'] > Literal.value",
].map((selector) => ({ selector, message: EXIT_CODE_MESSAGE }));

/** `err instanceof Error ? err.message : String(err)` written out again instead of messageOf(). */
const INLINED_MESSAGE_OF = {
  selector: "ConditionalExpression[test.operator='instanceof'][test.right.name='Error'][consequent.property.name='message']",
  message: 'use messageOf(err) from src/errors.ts',
};

/** An awaited sleep: `await sleep(n)`, `await delay(n)`, `await setTimeout(n)`, `await new Promise((r) => setTimeout(r, n))`. */
const AWAITED_SLEEP =
  "AwaitExpression:matches([argument.callee.name=/^(sleep|delay|setTimeout)$/], [argument.type='NewExpression'][argument.callee.name='Promise']:has(CallExpression[callee.name='setTimeout']))";

/**
 * A hand-written polling loop in a test: an awaited sleep in a loop that runs until something happens (a
 * `while`, `do`, or `for (;;)`; or a counted loop that leaves early with break or return). A counted loop
 * that paces work (write, sleep, write) is not one. test/support/poll.ts (pollUntil) is the one polling loop.
 */
const POLLING_LOOPS = [
  'WhileStatement',
  'DoWhileStatement',
  'ForStatement[test=null]',
  ':matches(ForStatement:not([test=null]), ForOfStatement, ForInStatement):has(BreakStatement, ReturnStatement)',
].map((loop) => ({
  selector: `${loop} ${AWAITED_SLEEP}`,
  message: 'a polling loop in a test: wait with pollUntil (test/support/poll.ts), a signal, or fake timers (docs/DEVELOPMENT.md "Tests")',
}));

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'coverage/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], languageOptions: { globals: globals.node } },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      // Type-aware, and worth their cost: a promise nobody awaits or catches is a lost error in a daemon.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      'import-x/no-duplicates': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Dependencies point down only (docs/ARCHITECTURE.md "Layers").
    files: ['src/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: layerZones }],
      'no-restricted-syntax': ['error', ...EXIT_CODE_LITERALS, INLINED_MESSAGE_OF],
      // Nothing below src/cli/ knows about commander or process.argv (docs/ARCHITECTURE.md "Layers").
      'no-restricted-imports': ['error', { paths: [{ name: 'commander', message: 'commander belongs to src/cli/ only' }] }],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'argv', message: 'the command line is parsed in src/cli/ only' },
      ],
    },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: { 'no-restricted-imports': 'off', 'no-restricted-properties': 'off' },
  },
  {
    // Commands and the CLI return exit codes: every one of them is a name from the table, never a number.
    files: ['src/commands/**/*.ts', 'src/cli/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...EXIT_CODE_LITERALS,
        INLINED_MESSAGE_OF,
        ...['ReturnStatement > Literal', 'ReturnStatement > ConditionalExpression > Literal'].map((path) => ({
          selector: `${path}[raw=/^[0-9]+$/]`,
          message: EXIT_CODE_MESSAGE,
        })),
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'examples/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', INLINED_MESSAGE_OF],
      // Tests edit parsed manifests and responses to tamper with them; `any` is the deliberate way past the schema there.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    ignores: ['test/support/poll.ts'],
    rules: { 'no-restricted-syntax': ['error', INLINED_MESSAGE_OF, ...POLLING_LOOPS] },
  },
  prettier,
);
