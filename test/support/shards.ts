import { env } from "cloudflare:workers";
import { readDatabaseOf } from "../../src/shards";

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
