import { DurableObject } from "cloudflare:workers";

/**
 * Every user stream ever created, so the write side can be enumerated (rebuilds, audits) without
 * trusting the read model. Each user's object registers itself from its outbox alarm, retried until
 * it succeeds, so no stream is missing.
 */
export class UserDirectory extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec("CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, registered_at INTEGER NOT NULL)");
  }

  register(userId: string): void {
    this.sql.exec("INSERT OR IGNORE INTO users (id, registered_at) VALUES (?, ?)", userId, Date.now());
  }

  /** Users in id order after `afterId`: page through with the last id of the previous page. */
  list(afterId: string, limit: number): { ids: string[]; total: number } {
    const ids = this.sql
      .exec<{ id: string }>("SELECT id FROM users WHERE id > ? ORDER BY id LIMIT ?", afterId, limit)
      .toArray()
      .map((row) => row.id);
    const total = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM users").one().n;
    return { ids, total };
  }
}

export const DIRECTORY_NAME = "all-users";
