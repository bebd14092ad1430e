import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

await Promise.all(
  [env.DB, env.TEST_SHARD_1, env.TEST_SHARD_2, env.TEST_SHARD_3].map((db) =>
    applyD1Migrations(db, env.TEST_MIGRATIONS),
  ),
);
