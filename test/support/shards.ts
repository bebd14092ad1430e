import { env } from "cloudflare:workers";
import { byReadDatabase, readDatabaseOf, readDatabases, shardOf } from "../../src/shards";

/**
 * The test environment with its read model over four databases (DB and the three test shards of
 * vitest.config.ts) instead of one: for calling the read side's functions as a sharded deployment
 * would. A new object, so its parsed layout is its own.
 */
export function shardedEnv(overrides: Partial<Record<string, string>> = {}): Env {
  return { ...env, READ_DATABASES: "DB,TEST_SHARD_1,TEST_SHARD_2,TEST_SHARD_3", ...overrides } as Env;
}

/** A user id whose read database in `shardedEnv()` is the `index`th (0: DB). */
export function userIdOnShard(index: number, prefix = "user"): string {
  const sharded = shardedEnv();
  const target = [env.DB, env.TEST_SHARD_1, env.TEST_SHARD_2, env.TEST_SHARD_3][index];
  for (let i = 0; ; i++) {
    const id = `${prefix}-${i}`;
    if (readDatabaseOf(sharded, id) === target) return id;
  }
}

/** The binding names a layout variable lists (`EVENT_QUEUES`, `READ_DATABASES`), in shard order. */
function namesIn(list: string | undefined, fallback: string): string[] {
  const names = (list ?? fallback)
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  return names.length > 0 ? names : [fallback];
}

/**
 * The user's read database in `base`'s layout: where its `users` row, `streams` ledger row,
 * intervals and their checkpoints are. Tests reading those tables go through this, so they read the
 * same rows whichever layout runs them (`npm test`, `npm run test:sharded`); global tables (audit
 * log, feed, subscriptions, dead letters, refusals, mail) stay `env.DB`.
 */
export function readDb(userId: string, base: Env = env): D1Database {
  return readDatabaseOf(base, userId);
}

/**
 * Bindings that put `queue` in place of every events queue of `base`'s layout: spread over the env
 * (`{ ...env, ...everyEventQueue(queue) }`) to catch whatever any user's object sends.
 */
export function everyEventQueue(queue: Queue, base: Env = env): Partial<Env> {
  return Object.fromEntries(namesIn(base.EVENT_QUEUES, "EVENTS").map((name) => [name, queue]));
}

/** Bindings that put `db` in place of the user's read database in `base`'s layout (spread them over it). */
export function userReadDatabase(userId: string, db: D1Database, base: Env = env): Partial<Env> {
  const names = namesIn(base.READ_DATABASES, "DB");
  return { [names[shardOf(userId, names.length)]!]: db };
}

/** Every read database of `base`'s layout, in shard order: for a test looking at all users' rows. */
export function everyReadDb(base: Env = env): D1Database[] {
  return readDatabases(base);
}

/**
 * A query about some users run on each of their read databases (one call per database, with that
 * database's users), the results concatenated: in database order, not the ids' order.
 */
export async function acrossReadDbs<T>(
  ids: readonly string[],
  query: (db: D1Database, ids: string[]) => Promise<T[]>,
  base: Env = env,
): Promise<T[]> {
  const groups = byReadDatabase(base, ids, (id) => id);
  return (await Promise.all(groups.map(({ db, items }) => query(db, items)))).flat();
}
