import { log } from "../observability";
import { userStream } from "../objects";

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
  const owed = await env.DB.prepare(
    `SELECT user_id FROM streams WHERE confirmed_revision < published_revision AND owed_since < ?
     ORDER BY owed_since LIMIT ${PER_SWEEP}`,
  )
    .bind(now - STALE_MS)
    .all<{ user_id: string }>();
  const ids = owed.results.map((row) => row.user_id);
  await Promise.all(ids.map((id) => userStream(env, id).status()));
  if (ids.length > 0) log("warn", "woke the objects of streams owed for too long", { users: ids.length });
  return ids.length;
}
