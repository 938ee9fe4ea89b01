// The linter `npm test` runs: ESLint's recommended rules over the shim, its build, tests,
// end-to-end tests and benchmarks, with the globals each of them runs with.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  {
    files: ["src/**/*.js"],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ["test/**/*.js", "e2e/**/*.mjs", "bench/**/*.mjs", "*.mjs", "*.js"],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    rules: {
      // A catch that only says why it ignores the error names it `_`.
      "no-unused-vars": ["error", { caughtErrorsIgnorePattern: "^_", argsIgnorePattern: "^_" }],
    },
  },
];
