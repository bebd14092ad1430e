// The D1 migrations of one wrangler environment, applied to each of its D1 databases: DB alone by
// default, DB and READ_0..3 in [env.sharded] (every database has every table, docs/decisions/0026).
// Used by `npm start` (locally) and `npm run deploy` (remotely).
import { spawnSync } from "node:child_process";
import { unstable_readConfig } from "wrangler";

/** The wrangler environment the arguments name (`--env sharded`, `--env=sharded`, `-e sharded`), if any. */
export function wranglerEnv(argv) {
  for (const [i, arg] of argv.entries()) {
    if (arg === "--env" || arg === "-e") return argv[i + 1];
    if (arg.startsWith("--env=")) return arg.slice("--env=".length);
  }
  return undefined;
}

/** Applies the migrations to every D1 binding of `environment` (`where`: `--local` or `--remote`, …); exits on a failure. */
export function applyMigrations(environment, where) {
  const { d1_databases: databases } = unstable_readConfig(
    { config: "wrangler.toml", env: environment },
    { hideWarnings: true },
  );
  const envArgs = environment ? ["--env", environment] : [];
  for (const { binding } of databases) {
    const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", binding, ...where, ...envArgs], {
      stdio: "inherit",
    });
    if (migrate.status !== 0) process.exit(migrate.status ?? 1);
  }
}
