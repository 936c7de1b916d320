// @ts-check
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import tseslint from "typescript-eslint";

/** Layer boundaries (docs/ARCHITECTURE.md): each layer imports only what lies below it. */
const layerRules = [
  {
    files: ["src/domain/**/*.ts"],
    message: "the domain takes ports: no database client, no Connect, no configuration (wiring passes values in)",
    patterns: ["**/db/client*", "@connectrpc/*", "**/interceptors/**", "**/handlers/**", "**/wiring/**", "**/config.js"],
  },
  {
    files: ["src/handlers/**/*.ts"],
    message: "handlers reach data through domain services, never through db/",
    patterns: ["**/db/**", "**/interceptors/**"],
  },
  {
    files: ["src/db/**/*.ts"],
    message: "repositories know nothing of the transport",
    patterns: ["@connectrpc/*", "**/handlers/**", "**/interceptors/**"],
  },
];

export default tseslint.config(
  { ignores: ["gen/**", "drizzle/**", "node_modules/**", "data/**", "bench/experiments/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    // proto-loader clients and raw JSON replies are untyped by nature.
    files: ["tests/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  ...layerRules.map(({ files, message, patterns }) => ({
    files,
    rules: { "no-restricted-imports": ["error", { patterns: [{ group: patterns, message }] }] },
  })),
  prettier,
);
