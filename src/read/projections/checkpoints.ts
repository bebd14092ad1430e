import { changed, JSON_IDS } from "../bulk";
import type { Checkpoint, Load } from "./index";

/**
 * The `checkpoints` rows of projections that keep theirs there (every one but `users`, whose row is
 * its own checkpoint): one spelling of the SQL, so each such projection reads and moves its
 * checkpoint the way the consumer's guard and the ledger's confirmation expect.
 */

/** The projection's checkpoint of the user `user` (an SQL expression), NULL if none. */
export function checkpointSqlOf(projection: string, user: string): string {
  return `(SELECT revision FROM checkpoints WHERE projection = '${projection}' AND user_id = ${user})`;
}

/** Reads these users' checkpoints of the projection, each state parsed from its JSON. */
export function loadCheckpoints<S>(db: D1Database, projection: string, userIds: readonly string[]): Load<S> {
  return {
    statement: db
      .prepare(`SELECT user_id, revision, state FROM checkpoints WHERE projection = ?2 AND user_id IN ${JSON_IDS}`)
      .bind(JSON.stringify(userIds), projection),
    read: (result) =>
      new Map(
        (result.results as { user_id: string; revision: number; state: string }[]).map((row) => [
          row.user_id,
          { revision: row.revision, state: JSON.parse(row.state) as S } satisfies Checkpoint<S>,
        ]),
      ),
  };
}

/**
 * Live: moves the user's (`?1`) checkpoint to `?2` with state `?3`, only from the revision the step
 * was planned from (`?4`). No change means a concurrent consumer moved first: the step's guard.
 */
export function moveCheckpointSql(projection: string): string {
  return `INSERT INTO checkpoints (projection, user_id, revision, state)
  VALUES ('${projection}', ?1, ?2, ?3)
  ON CONFLICT (projection, user_id) DO UPDATE SET revision = excluded.revision, state = excluded.state
  WHERE checkpoints.revision = ?4`;
}

/**
 * Rebuild: each JSON row (`?1`) `{user_id, revision, state}` moves its user's checkpoint, only
 * forward: a user the live consumer projected past the stream the rebuild read is left alone.
 */
export function moveCheckpointsSql(projection: string): string {
  return `INSERT INTO checkpoints (projection, user_id, revision, state)
  SELECT '${projection}', j.value ->> '$.user_id', j.value ->> '$.revision', j.value ->> '$.state' FROM json_each(?1) j WHERE true
  ON CONFLICT (projection, user_id) DO UPDATE SET revision = excluded.revision, state = excluded.state
  WHERE checkpoints.revision <= excluded.revision AND ${changed("checkpoints", ["revision", "state"])}`;
}

/** Rebuild: the JSON row's user (`user_id`) is at most at its stream's `head` in the projection. */
export function upToHeadSql(projection: string): string {
  return `coalesce((SELECT revision FROM checkpoints c
  WHERE c.projection = '${projection}' AND c.user_id = j.value ->> '$.user_id'), 0) <= j.value ->> '$.head'`;
}
