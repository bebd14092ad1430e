import { bulk, JSON_IDS } from "./bulk";
import { PROJECTIONS, type Projection } from "./projections";
import { ANNOUNCE_ONTO_ROW } from "../write/ledger";

/**
 * The `streams` ledger in D1: how the write side tells the read side what it must have, and how it
 * learns what the read side has. A user's object announces each revision before publishing it; the
 * consumer confirms, in the same D1 batch as its projection writes, the revision every projection
 * has reached; the object deletes its outbox up to the confirmed revision and re-publishes the rest.
 * This is the read side's half, confirming; the object's half, announcing and reading the
 * confirmation, is `src/write/ledger.ts`.
 *
 * The ledger lives in the user's read database (decision 0026). Projections living there are read
 * in SQL; those living in another database (the audit log and the feed in `DB`, when the user's
 * read database is not `DB`) count with a `floor`: the revision they were known to hold once their
 * own batch committed, bound as a value. The confirmation is the least of both: never ahead of a
 * projection, wherever it lives.
 */

/**
 * The least checkpoint over `local` (the projections in the statement's database) of the user `user`
 * (an SQL expression), and `floor` (an SQL expression, the others' revision) when some live elsewhere.
 */
export function confirmable(user: string, local: readonly Projection[] = PROJECTIONS, floor = "0"): string {
  const terms = local.map((projection) => `coalesce(${projection.checkpointSql(user)}, 0)`);
  if (local.length < PROJECTIONS.length) terms.push(`coalesce(${floor}, 0)`);
  return minOf(terms);
}

/** The least checkpoint over every projection, as SQL over the user bound as `?1`. */
export const CONFIRMABLE = confirmable("?1");

function minOf(terms: string[]): string {
  // SQLite's min() with one argument is the aggregate, not the scalar.
  return terms.length === 1 ? terms[0]! : `min(${terms.join(", ")})`;
}

/** In a bulk statement (`?1` the JSON rows), the `floor` of the row of the user `user`. */
export function floorOf(user: string): string {
  return `(SELECT j.value ->> '$.floor' FROM json_each(?1) j WHERE j.value ->> '$.user_id' = ${user})`;
}

const confirmSql = (local: readonly Projection[]) =>
  `UPDATE streams SET confirmed_revision = max(confirmed_revision, ${confirmable("?1", local, "?3")}),
    owed_since = max(owed_since, ?2)
  WHERE user_id = ?1`;

/**
 * The last statement of a user's projection writes: the revision all projections now hold is
 * confirmed. `projectedAt` (epoch ms of the newest event projected) bounds the age of what is still
 * owed after a partial confirmation: anything later was committed after it. `local` are the
 * projections living in `db` (all of them: `floor` is not used).
 */
export function confirmStatement(
  db: D1Database,
  userId: string,
  projectedAt: number,
  local: readonly Projection[] = PROJECTIONS,
  floor = 0,
): D1PreparedStatement {
  const statement = db.prepare(confirmSql(local));
  // `?3` is in the SQL only when some projection lives elsewhere.
  return local.length < PROJECTIONS.length
    ? statement.bind(userId, projectedAt, floor)
    : statement.bind(userId, projectedAt);
}

const confirmAllSql = (local: readonly Projection[]) =>
  `UPDATE streams SET confirmed_revision = max(confirmed_revision, ${confirmable("streams.user_id", local, floorOf("streams.user_id"))}),
    owed_since = max(owed_since, (SELECT j.value ->> '$.at' FROM json_each(?1) j WHERE j.value ->> '$.user_id' = streams.user_id))
  WHERE user_id IN (SELECT j.value ->> '$.user_id' FROM json_each(?1) j)`;

/**
 * `confirmStatement` for many users at once: the last statements of a consumer batch or a rebuild
 * step. Each user's `floor` counts for the projections not in `local`.
 */
export function confirmAllStatements(
  db: D1Database,
  users: readonly { user_id: string; at: number; floor?: number }[],
  local: readonly Projection[] = PROJECTIONS,
): D1PreparedStatement[] {
  return bulk(db, confirmAllSql(local), users);
}

const ANNOUNCE_ALL = `INSERT INTO streams (user_id, published_revision, confirmed_revision, owed_since)
  SELECT j.value ->> '$.user_id', j.value ->> '$.revision', 0, ?2 FROM json_each(?1) j WHERE true
  ${ANNOUNCE_ONTO_ROW}`;

/**
 * The announce of each user's head, for an import request that projects its users itself
 * (decision 0029): first in the batch that projects them and confirms, so that the ledger never
 * shows them owed nor confirmed apart from their rows.
 */
export function announceAllStatements(
  db: D1Database,
  users: readonly { user_id: string; revision: number }[],
  now: number,
): D1PreparedStatement[] {
  return bulk(db, ANNOUNCE_ALL, users, now);
}

/** The ledger rows of users without a stream (ghosts), in the database `db` that holds them. */
export function forgetStreamsStatements(db: D1Database, userIds: readonly string[]): D1PreparedStatement[] {
  return bulk(db, `DELETE FROM streams WHERE user_id IN ${JSON_IDS}`, userIds);
}
