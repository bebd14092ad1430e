import { log } from "../observability";
import { userStream } from "../objects";
import { listedReadDatabases } from "../shards";

/** Users erased per sweep at most: a cron run stays short; the next one goes on. */
const PER_SWEEP = 50;
const DAY_MS = 86_400_000;
/** The reason every retention erasure records, in the stream and the audit log. */
export const RETENTION_REASON = "retention";

/**
 * `DELETED_USER_RETENTION_DAYS`: deleted users are erased that many days after their deletion,
 * like an admin's erasure (a USER_ERASED event, reason `retention`, in the audit log), by the cron.
 * The read model only finds them: each erasure is sent with the revision it was found at, so a user
 * restored (or changed in any way) since is left alone (the object answers 412, nothing happens).
 * Returns how many were erased.
 */
export async function eraseExpiredDeletedUsers(env: Env, retentionDays: number, now = Date.now()): Promise<number> {
  if (retentionDays <= 0) return 0;
  const cutoff = new Date(now - retentionDays * DAY_MS).toISOString();
  // The longest deleted of every read database (during a re-shard the previous layout's too, so a
  // user not moved yet is not kept past its time: decision 0027), then the longest deleted of those.
  const found = await Promise.all(
    listedReadDatabases(env).map(async (db) => {
      const { results } = await db
        .prepare(
          `SELECT id, revision, deleted_at FROM users WHERE status = 'deleted' AND deleted_at < ?
           ORDER BY deleted_at LIMIT ${PER_SWEEP}`,
        )
        .bind(cutoff)
        .all<{ id: string; revision: number; deleted_at: string }>();
      return results;
    }),
  );
  const due = found
    .flat()
    .sort((a, b) => (a.deleted_at < b.deleted_at ? -1 : a.deleted_at > b.deleted_at ? 1 : 0))
    // A user in two databases for a moment: erased once (a stale copy's revision would only get a 412).
    .filter((row, i, rows) => rows.findIndex((other) => other.id === row.id) === i)
    .slice(0, PER_SWEEP);
  const requestId = crypto.randomUUID();
  const results = await Promise.allSettled(
    due.map((row) =>
      userStream(env, row.id).execute({
        userId: row.id,
        input: { type: "EraseUser" },
        metadata: {
          actor_id: null,
          actor_username: null,
          request_id: requestId,
          idempotency_key: null,
          reason: RETENTION_REASON,
        },
        expectedRevision: row.revision,
      }),
    ),
  );
  const erased = results.filter((r) => r.status === "fulfilled" && r.value.ok).length;
  const failed = results.filter((r) => r.status === "rejected").length;
  if (due.length > 0) {
    log("info", "retention: erased deleted users past the retention period", {
      erased,
      skipped: due.length - erased - failed,
      failed,
      retention_days: retentionDays,
      request_id: requestId,
    });
  }
  return erased;
}
