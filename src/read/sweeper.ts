import { log } from "../observability";
import { userStream } from "../objects";
import { readDatabases } from "../shards";

/** A stream owed something for this long is past every re-publication its alarm would have made. */
export const STALE_MS = 15 * 60_000;
const PER_SWEEP = 100;

/**
 * The read side's half of "nothing is left behind": it knows from the ledger which streams it still
 * lacks events of, and wakes their objects. Waking is enough: an object with a non-empty outbox and
 * no alarm sets one (the alarm can be lost when a process dies while it runs), and the alarm
 * re-publishes. Run by the cron trigger; only the stalest streams, so a sweep stays bounded.
 */
export async function sweepOwedStreams(env: Env, now = Date.now()): Promise<number> {
  // Every read database's stalest, then the stalest of those: one sweep stays bounded however many.
  const owed = await Promise.all(
    readDatabases(env).map(async (db) => {
      const { results } = await db
        .prepare(
          `SELECT user_id, owed_since FROM streams WHERE confirmed_revision < published_revision AND owed_since < ?
           ORDER BY owed_since LIMIT ${PER_SWEEP}`,
        )
        .bind(now - STALE_MS)
        .all<{ user_id: string; owed_since: number }>();
      return results;
    }),
  );
  const ids = owed
    .flat()
    .sort((a, b) => a.owed_since - b.owed_since)
    .slice(0, PER_SWEEP)
    .map((row) => row.user_id);
  await Promise.all(ids.map((id) => userStream(env, id).status()));
  if (ids.length > 0) log("warn", "woke the objects of streams owed for too long", { users: ids.length });
  return ids.length;
}
