import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["extension/**/*.js"],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { ...globals.browser, ...globals.serviceworker, ...globals.webextensions },
    },
    rules: {
      "no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "Render with textContent/createElement." },
        { property: "outerHTML", message: "Render with textContent/createElement." },
      ],
      eqeqeq: ["error", "smart"],
    },
  },
  {
    // the daemon's web pages (issue 10): plain ES modules in a page, the same rules as the extension's
    files: ["daemon/web/**/*.js"],
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: { ...globals.browser } },
    rules: {
      "no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "Render with textContent/createElement." },
        { property: "outerHTML", message: "Render with textContent/createElement." },
      ],
      eqeqeq: ["error", "smart"],
    },
  },
  {
    files: ["extension/content/**/*.js"],
    languageOptions: { sourceType: "script" },
  },
  {
    files: ["extension/tests/**/*.mjs"],
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: { ...globals.node } },
  },
];
