import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/node_modules/**", "packages/db/src/generated/**", "dist/**", "models/**", "bench/_*.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    // The dashboard: plain browser modules (no globals package installed, so the ones it uses are named).
    files: ["apps/web/public/**/*.js"],
    languageOptions: {
      globals: Object.fromEntries(
        "window document location localStorage console fetch crypto URL URLSearchParams AbortController DOMException TextDecoderStream ReadableStream setTimeout clearTimeout setInterval clearInterval FormData"
          .split(" ")
          .map((name) => [name, "readonly"]),
      ),
    },
  },
  {
    // The API and the CLI read data sets through @trainyard/datasets; only the worker (and benchmarks and
    // end-to-end tests) train, so only they import the engine. The CLI's doctor is the one exception:
    // its probes start a backend the way a training child does (the engine's initBackend).
    files: ["apps/api/**/*.ts", "apps/cli/**/*.ts"],
    ignores: ["apps/cli/src/commands/doctor.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [{ name: "@trainyard/engine", message: "The API and the CLI do not train: import data sets from @trainyard/datasets." }],
          patterns: [
            { group: ["**/packages/engine/**"], message: "The API and the CLI do not train: import data sets from @trainyard/datasets." },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.mjs", "scripts/**"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
