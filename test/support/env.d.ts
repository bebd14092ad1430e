import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      TEST_RECEIVER_PORT: string;
      /** Read databases beside DB (vitest.config.ts), migrated like it: see ./shards.ts. */
      TEST_SHARD_1: D1Database;
      TEST_SHARD_2: D1Database;
      TEST_SHARD_3: D1Database;
    }
  }
}
