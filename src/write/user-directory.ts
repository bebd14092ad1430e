import { DurableObject } from "cloudflare:workers";
import { config } from "../config";
import { groupByShard, shardOf } from "../shards";

/**
 * Every user stream ever created, so the write side can be enumerated (rebuilds, audits) without
 * trusting the read model. Each user's object registers itself from its outbox alarm, retried until
 * it succeeds, so no stream is missing. `DIRECTORY_SHARDS` objects share the users (`directoryOf`);
 * `listDirectory` pages through all of them as one list.
 */
export class UserDirectory extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec("CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, registered_at INTEGER NOT NULL)");
  }

  register(userId: string): void {
    this.registerMany([userId]);
  }

  /** An import request's users, in one transaction (each `exec` alone would be its own). */
  registerMany(userIds: readonly string[]): void {
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const id of userIds) this.sql.exec("INSERT OR IGNORE INTO users (id, registered_at) VALUES (?, ?)", id, now);
    });
  }

  /** Users in id order after `afterId`: page through with the last id of the previous page. */
  list(afterId: string, limit: number): DirectoryPage {
    const ids = this.sql
      .exec<{ id: string }>("SELECT id FROM users WHERE id > ? ORDER BY id LIMIT ?", afterId, limit)
      .toArray()
      .map((row) => row.id);
    const total = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM users").one().n;
    return { ids, total };
  }
}

export interface DirectoryPage {
  ids: string[];
  /** Users registered in all (for `listDirectory`) or in this shard. */
  total: number;
}

/** Shard 0 keeps the name of the single directory before it was sharded, so its users stay listed. */
export const DIRECTORY_NAME = "all-users";

function directoryShard(env: Env, index: number) {
  return env.USER_DIRECTORY.getByName(index === 0 ? DIRECTORY_NAME : `${DIRECTORY_NAME}:${index}`);
}

/**
 * The directory shard a user registers in. A user registers once (its object remembers it), so
 * raising `DIRECTORY_SHARDS` leaves every user where it is and sends new users over all shards;
 * lowering it would hide the users of the shards dropped, which `listDirectory` no longer visits.
 */
export function directoryOf(env: Env, userId: string) {
  return directoryShard(env, shardOf(userId, config(env).DIRECTORY_SHARDS));
}

/** Registers these users, one call per directory shard they fall in. */
export async function registerAll(env: Env, userIds: readonly string[]): Promise<void> {
  const byShard = groupByShard(userIds, (id) => id, config(env).DIRECTORY_SHARDS);
  await Promise.all([...byShard].map(([index, ids]) => directoryShard(env, index).registerMany(ids)));
}

/**
 * The next `limit` users after `afterId` in id order across every shard: each shard's own next
 * page, merged. A user found in two shards (registered twice across a change of the count) is
 * listed once.
 */
export async function listDirectory(env: Env, afterId: string, limit: number): Promise<DirectoryPage> {
  const count = config(env).DIRECTORY_SHARDS;
  const pages = await Promise.all(
    Array.from({ length: count }, (_, index) => directoryShard(env, index).list(afterId, limit)),
  );
  const ids = [...new Set(pages.flatMap((page) => page.ids))].sort().slice(0, limit);
  return { ids, total: pages.reduce((sum, page) => sum + page.total, 0) };
}
