import { DurableObject } from "cloudflare:workers";
import type { ErasureEntry, ErasureReason } from "../domain/erasure-ledger";

/**
 * The erasure ledger (docs/decisions/0022-erasure-ledger.md): one object for the whole service,
 * holding one row per erased user and nothing personal. It lives apart from every store a restore
 * or an import brings back: no user's object, no D1 database, no export holds it, so a D1 Time
 * Travel restore, a user object's point-in-time recovery or the import of an old export leave it as
 * it is, and the paths that bring data back ask it. Rows are only ever added (`INSERT OR IGNORE`: a
 * retried or repeated record is one entry, the first); `seq` orders them for keyset paging.
 */
export class ErasureLedger extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS erasures (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      user_id TEXT NOT NULL UNIQUE,
      event_id TEXT NOT NULL,
      revision INTEGER NOT NULL,
      erased_at TEXT NOT NULL,
      reason TEXT NOT NULL,
      request_id TEXT,
      actor_id TEXT,
      recorded_at TEXT NOT NULL
    )`);
  }

  /** Records these erasures; an erased user already on record keeps its first entry. Returns how many were new. */
  record(entries: ErasureEntry[]): number {
    const now = new Date().toISOString();
    let added = 0;
    this.ctx.storage.transactionSync(() => {
      for (const e of entries) {
        added += this.sql
          .exec(
            `INSERT OR IGNORE INTO erasures (user_id, event_id, revision, erased_at, reason, request_id, actor_id, recorded_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
            e.user_id,
            e.event_id,
            e.revision,
            e.erased_at,
            e.reason,
            e.request_id,
            e.actor_id,
            now,
          )
          .toArray().length;
      }
    });
    return added;
  }

  /** The entries of those of these users that are erased. */
  among(userIds: string[]): ErasureEntry[] {
    if (userIds.length === 0) return [];
    return this.sql
      .exec<Row>(
        `SELECT ${COLUMNS} FROM erasures WHERE user_id IN (SELECT value FROM json_each(?))`,
        JSON.stringify(userIds),
      )
      .toArray()
      .map(entry);
  }

  /** Entries in the order they were recorded, after `seq` `after`; `total` counts all of them. */
  list(
    after: number,
    limit: number,
  ): { entries: (ErasureEntry & { seq: number; recorded_at: string })[]; total: number } {
    const rows = this.sql
      .exec<Row & { seq: number; recorded_at: string }>(
        `SELECT seq, recorded_at, ${COLUMNS} FROM erasures WHERE seq > ? ORDER BY seq LIMIT ?`,
        after,
        limit,
      )
      .toArray();
    const total = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM erasures").one().n;
    return { entries: rows.map((row) => ({ ...entry(row), seq: row.seq, recorded_at: row.recorded_at })), total };
  }
}

const COLUMNS = "user_id, event_id, revision, erased_at, reason, request_id, actor_id";

type Row = Omit<ErasureEntry, "reason"> & { reason: string } & Record<string, SqlStorageValue>;

function entry(row: Row): ErasureEntry {
  return {
    user_id: row.user_id,
    event_id: row.event_id,
    revision: row.revision,
    erased_at: row.erased_at,
    reason: row.reason as ErasureReason,
    request_id: row.request_id,
    actor_id: row.actor_id,
  };
}
