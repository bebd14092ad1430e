import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

/** The variables src/config.ts parses; everywhere else they are read through config(env). */
const CONFIG_NAMES =
  "/^(PASSWORD_MIN_LENGTH|PASSWORD_HASH_ITERATIONS|READ_YOUR_WRITES_WAIT_MS|SNAPSHOT_EVERY|REBUILD_USERS_PER_STEP|JWT_SECRET|ADMIN_BOOTSTRAP_TOKEN)$/";

export default tseslint.config(
  { ignores: ["node_modules/", ".wrangler/", "worker-configuration.d.ts", "migrations/", "bench/results/", "public/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: [
            "*.js",
            "vitest.config.ts",
            "drizzle.config.ts",
            "scripts/*.mjs",
            "bench/*.mjs",
            "test/browser/*.mjs",
          ],
        },
      },
    },
    rules: {
      // An un-awaited RPC call swallows its error.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/domain/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: [
                "cloudflare:*",
                "hono",
                "hono/*",
                "drizzle-orm*",
                "../write/*",
                "../read/*",
                "../http/*",
                "../admin/*",
              ],
              message: "The domain is pure: no I/O, no platform.",
            },
          ],
        },
      ],
      "no-restricted-globals": [
        "error",
        { name: "Date", message: "The domain takes time as an argument." },
        { name: "crypto", message: "The domain takes ids as arguments." },
        { name: "fetch", message: "The domain does no I/O." },
      ],
    },
  },
  {
    // Configuration is parsed and checked once (src/config.ts); a raw read would skip the check.
    files: ["src/**"],
    ignores: ["src/config.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        ...["MemberExpression[object.name='env']", "MemberExpression[object.property.name='env']"].map((object) => ({
          selector: `${object}[property.name=${CONFIG_NAMES}]`,
          message: "Read configuration through config(env) from src/config.ts: parsed and checked once.",
        })),
      ],
    },
  },
  {
    files: ["scripts/**", "bench/**", "test/browser/**"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ["scripts/**", "bench/**"],
    languageOptions: { globals: globals.node },
  },
  {
    // Browser tests run in Node; the functions they pass to page.evaluate() run in the page.
    files: ["test/browser/**"],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ["test/**"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
      "@typescript-eslint/unbound-method": "off",
    },
  },
);
