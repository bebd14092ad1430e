import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { readDatabases } from "../../src/shards";

/**
 * Every D1 database of the environment under test, whichever wrangler environment it is: DB, the
 * layout's read databases (READ_DATABASES: READ_0..3 in `[env.sharded]`) and the test shards of
 * vitest.config.ts. Each has every table (0026). Named rather than found by probing `env`: an RPC
 * binding answers any property with a function, so it would look like a database.
 */
const databases = new Set([env.DB, ...readDatabases(env), env.TEST_SHARD_1, env.TEST_SHARD_2, env.TEST_SHARD_3]);
await Promise.all([...databases].map((db) => applyD1Migrations(db, env.TEST_MIGRATIONS)));
