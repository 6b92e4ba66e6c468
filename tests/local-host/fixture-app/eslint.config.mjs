// The fixture is a plain CommonJS Functions app that Node loads as-is. It is in no tsconfig, so the repository's
// type-checked rules cannot parse it (ESLint 10 looks configs up from the linted file, so this one applies here).
import eslint from '@eslint/js';

const node = Object.fromEntries(
  ['require', 'module', 'exports', '__dirname', 'process', 'Buffer', 'console', 'setTimeout', 'clearTimeout',
   'ReadableStream', 'TextEncoder', 'TextDecoder', 'URL'].map((name) => [name, 'readonly']),
); // prettier-ignore

export default [
  eslint.configs.recommended,
  { files: ['**/*.js'], languageOptions: { sourceType: 'commonjs', globals: node } },
];
