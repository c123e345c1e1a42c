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
        "window document location localStorage console fetch crypto URL URLSearchParams AbortController DOMException TextDecoderStream ReadableStream setTimeout clearTimeout setInterval clearInterval"
          .split(" ")
          .map((name) => [name, "readonly"]),
      ),
    },
  },
  {
    files: ["**/*.mjs", "scripts/**"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
