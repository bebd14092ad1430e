import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

/** The variables src/config.ts parses; everywhere else they are read through config(env). */
const CONFIG_NAMES =
  "/^(PASSWORD_MIN_LENGTH|PASSWORD_HASH_ITERATIONS|READ_YOUR_WRITES_WAIT_MS|SNAPSHOT_EVERY|REBUILD_USERS_PER_STEP|JWT_SECRET|ADMIN_BOOTSTRAP_TOKEN)$/";

// Configuration is parsed and checked once (src/config.ts); a raw read would skip the check.
const RAW_CONFIG_READS = ["MemberExpression[object.name='env']", "MemberExpression[object.property.name='env']"].map(
  (object) => ({
    selector: `${object}[property.name=${CONFIG_NAMES}]`,
    message: "Read configuration through config(env) from src/config.ts: parsed and checked once.",
  }),
);

/** The layers of src, innermost first: a folder imports only from those before it (README, "Layers"). */
const LAYERS = ["domain", "live", "write", "read", "deliver", "http", "admin"];

/** @typedef {{ regex?: string; group?: string[]; message: string; allowTypeImports?: boolean }} Ban */

/** A relative import of these folders of src from any depth (routes sit three folders down). */
const into = /** @param {...string} folders */ (...folders) => `^(\\.\\./)+(${folders.join("|")})(/|$)`;

/** @type {Ban} */
const NO_TEST = { regex: "(^|/)test(/|$)", message: "src never imports test/: code both need lives in src." };

/** @param {string} layer @returns {Ban[]} */
function layerBans(layer) {
  const bans = [
    {
      regex: into(...LAYERS.slice(LAYERS.indexOf(layer) + 1), "console"),
      message: `Dependencies point one way, ${LAYERS.join(" ← ")}: ${layer} imports only from its left.`,
    },
    NO_TEST,
  ];
  if (layer !== "domain") return bans;
  const platform = ["cloudflare:*", "hono", "hono/*", "@hono/*", "drizzle-orm*"];
  return [
    ...bans,
    { group: platform, message: "The domain is pure: no I/O, no platform." },
    // The root modules are configuration, logs, retry timing and the objects' client: I/O all.
    { regex: "^\\.\\./[^/]+$", message: "The domain is pure: it imports no root module of src." },
  ];
}

/**
 * The console is browser code: pure domain code and the live wire protocol, only types from the routes.
 * @type {Ban[]}
 */
const CONSOLE_BANS = [
  {
    regex: into("write", "read", "config", "observability", "objects", "index"),
    message: "The console is browser code: no Worker runtime.",
  },
  { regex: "^(\\.\\./)+live/(?!protocol$)", message: "From live, the console takes only the wire protocol." },
  {
    regex: into("http", "admin"),
    allowTypeImports: true,
    message: "The console takes only types from the routes (http, admin): their code is the Worker's.",
  },
  NO_TEST,
];

/** Root modules (configuration, logging, backoff, the objects' client) sit under every layer, so they import none. @type {Ban[]} */
const ROOT_BANS = [
  {
    regex: `^\\./(${[...LAYERS, "console", "index", "client"].join("|")})(/|$)`,
    message: "A root module imports no layer (nor the entry or the client, which import them all).",
  },
  NO_TEST,
];

/** The client ships to other TypeScript users: it takes only types from the Worker. @type {Ban[]} */
const CLIENT_BANS = [{ regex: "^\\.\\.?/", allowTypeImports: true, message: "The client takes only types from src." }];

/**
 * One fence: static imports by no-restricted-imports; import() by syntax, since that rule does not see it.
 * @param {string[]} files @param {Ban[]} bans @param {{ ignores?: string[]; rawConfigReads?: boolean }} [options]
 */
function fence(files, bans, { ignores, rawConfigReads = true } = {}) {
  // esquery ends a regex at its first "/". import() and import("…") types are not imports to the
  // rule; a type-only ban does not reach the type form.
  const dynamic = bans
    .filter((ban) => ban.regex)
    .flatMap((ban) => {
      const regex = `/${ban.regex.replaceAll("/", "\\x2F")}/`;
      const selectors = [`ImportExpression[source.value=${regex}]`];
      if (!ban.allowTypeImports) selectors.push(`TSImportType[argument.literal.value=${regex}]`);
      return selectors.map((selector) => ({ selector, message: ban.message }));
    });
  return {
    files,
    ...(ignores ? { ignores } : {}),
    rules: {
      "@typescript-eslint/no-restricted-imports": ["error", { patterns: bans }],
      "no-restricted-syntax": ["error", ...(rawConfigReads ? RAW_CONFIG_READS : []), ...dynamic],
    },
  };
}

function fences() {
  return [
    ...LAYERS.map((layer) => fence([`src/${layer}/**`], layerBans(layer))),
    fence(["src/console/**"], CONSOLE_BANS),
    fence(["src/*.ts"], ROOT_BANS, { ignores: ["src/index.ts", "src/client.ts", "src/config.ts"] }),
    fence(["src/config.ts"], ROOT_BANS, { rawConfigReads: false }),
    fence(["src/index.ts"], [NO_TEST]),
    fence(["src/client.ts"], [...CLIENT_BANS, NO_TEST]),
  ];
}

export default tseslint.config(
  // docs/repro/: stand-alone workers reproducing a behaviour of the local runtime, not project code.
  {
    ignores: [
      "node_modules/",
      ".wrangler/",
      "worker-configuration.d.ts",
      "migrations/",
      "bench/results/",
      "public/",
      "docs/repro/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: [
            "*.js",
            "vitest.config.ts",
            "vitest.sharded.config.ts",
            "drizzle.config.ts",
            "scripts/*.mjs",
            "bench/*.mjs",
            "test/browser/*.mjs",
            "test/node-support/*.ts",
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
  ...fences(),
  {
    files: ["src/domain/**"],
    rules: {
      "no-restricted-globals": [
        "error",
        { name: "Date", message: "The domain takes time as an argument." },
        { name: "crypto", message: "The domain takes ids as arguments." },
        { name: "fetch", message: "The domain does no I/O." },
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
