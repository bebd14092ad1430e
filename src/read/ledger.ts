import { bulk, JSON_IDS } from "./bulk";
import { PROJECTIONS } from "./projections";

/**
 * The `streams` ledger in D1: how the write side tells the read side what it must have, and how it
 * learns what the read side has. A user's object announces each revision before publishing it; the
 * consumer confirms, in the same D1 batch as its projection writes, the revision every projection
 * has reached; the object deletes its outbox up to the confirmed revision and re-publishes the rest.
 * This is the read side's half, confirming; the object's half, announcing and reading the
 * confirmation, is `src/write/ledger.ts`.
 */

/** The least checkpoint over every projection of the user `user` (an SQL expression). */
export function confirmable(user: string): string {
  return minOf(PROJECTIONS.map((projection) => `coalesce(${projection.checkpointSql(user)}, 0)`));
}

/** The least checkpoint over every projection, as SQL over the user bound as `?1`. */
export const CONFIRMABLE = confirmable("?1");

function minOf(terms: string[]): string {
  // SQLite's min() with one argument is the aggregate, not the scalar.
  return terms.length === 1 ? terms[0]! : `min(${terms.join(", ")})`;
}

const CONFIRM = `UPDATE streams SET confirmed_revision = max(confirmed_revision, ${CONFIRMABLE}),
    owed_since = max(owed_since, ?2)
  WHERE user_id = ?1`;

/**
 * The last statement of a user's projection writes: the revision all projections now hold is
 * confirmed. `projectedAt` (epoch ms of the newest event projected) bounds the age of what is still
 * owed after a partial confirmation: anything later was committed after it.
 */
export function confirmStatement(db: D1Database, userId: string, projectedAt: number): D1PreparedStatement {
  return db.prepare(CONFIRM).bind(userId, projectedAt);
}

const CONFIRM_ALL = `UPDATE streams SET confirmed_revision = max(confirmed_revision, ${confirmable("streams.user_id")}),
    owed_since = max(owed_since, (SELECT j.value ->> '$.at' FROM json_each(?1) j WHERE j.value ->> '$.user_id' = streams.user_id))
  WHERE user_id IN (SELECT j.value ->> '$.user_id' FROM json_each(?1) j)`;

/** `confirmStatement` for many users at once: the last statements of a consumer batch or a rebuild step. */
export function confirmAllStatements(
  db: D1Database,
  users: readonly { user_id: string; at: number }[],
): D1PreparedStatement[] {
  return bulk(db, CONFIRM_ALL, users);
}

/** The ledger rows of users without a stream (ghosts). */
export function forgetStreamsStatements(db: D1Database, userIds: readonly string[]): D1PreparedStatement[] {
  return bulk(db, `DELETE FROM streams WHERE user_id IN ${JSON_IDS}`, userIds);
}
