import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * core/ takes the world as values: time as a Date or a Clock port, randomness
 * and the environment as parameters. These are the code-level rules of that;
 * who may import whom (no fs, no AWS SDK, nothing of ours outside core/) is
 * stated once in .dependency-cruiser.js, which `npm run lint` runs after ESLint.
 */
const CORE_TAKES_VALUES = 'core/ takes time, randomness and the environment as values or ports (Clock, a parameter)';

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', '.cairn/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['bin/**/*.js'],
    languageOptions: { globals: { process: 'readonly' } },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      // process.env, process.argv, process.exit, ...: the entry point reads the process and passes values in.
      'no-restricted-globals': [
        'error',
        { name: 'process', message: `${CORE_TAKES_VALUES}: no process.* in core/` },
        { name: 'performance', message: `${CORE_TAKES_VALUES}: no performance clock in core/` },
      ],
      // The wall clock and randomness, read directly.
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: `${CORE_TAKES_VALUES}: no Date.now() in core/` },
        { object: 'Math', property: 'random', message: `${CORE_TAKES_VALUES}: no Math.random() in core/` },
        { object: 'crypto', property: 'randomUUID', message: `${CORE_TAKES_VALUES}: no crypto.randomUUID() in core/` },
        { object: 'crypto', property: 'getRandomValues', message: `${CORE_TAKES_VALUES}: no crypto.getRandomValues() in core/` },
      ],
      // `new Date(x)` parses or constructs and is fine; `new Date()` and `Date()` read the wall clock.
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: `${CORE_TAKES_VALUES}: no new Date() without an argument in core/` },
        { selector: "CallExpression[callee.name='Date']", message: `${CORE_TAKES_VALUES}: no Date() in core/` },
      ],
    },
  },
);
