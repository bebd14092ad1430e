import { PROJECTIONS } from "./projections";

const OWED = "confirmed_revision < published_revision";

/**
 * How far each projection is behind the write side, from the `streams` ledger alone: only streams
 * still owed something are counted, through the partial index that holds exactly them, so the cost
 * follows the backlog, not the number of users. Run as one D1 batch (one snapshot).
 */
export async function projectionStatus(env: Env) {
  const db = env.DB;
  const now = Date.now();
  const behind = PROJECTIONS.map((projection) =>
    db.prepare(
      `SELECT COUNT(*) AS users, MIN(owed_since) AS since FROM streams INDEXED BY streams_owed
       WHERE ${OWED} AND coalesce(${projection.checkpointSql("streams.user_id")}, 0) < published_revision`,
    ),
  );
  const heads = db.prepare("SELECT * FROM projection_heads");
  const outbox = db.prepare(
    `SELECT COUNT(*) AS users, coalesce(SUM(published_revision - confirmed_revision), 0) AS events,
       MIN(owed_since) AS since FROM streams INDEXED BY streams_owed WHERE ${OWED}`,
  );
  const letters = db.prepare(
    "SELECT projection, COUNT(*) AS n FROM dead_letters WHERE state = 'open' GROUP BY projection",
  );
  const results = await db.batch([...behind, heads, outbox, letters]);
  const rows = <T>(i: number) => (results[i]?.results ?? []) as T[];
  const headRows = rows<HeadRow>(behind.length);
  const owed = rows<{ users: number; events: number; since: number | null }>(behind.length + 1)[0]!;
  const open = new Map(
    rows<{ projection: string | null; n: number }>(behind.length + 2).map((row) => [row.projection, row.n]),
  );
  const age = (since: number | null) => (since === null ? null : Math.max(0, now - since));
  const projections = PROJECTIONS.map((projection, i) => {
    const lag = rows<{ users: number; since: number | null }>(i)[0]!;
    const head = headRows.find((row) => row.projection === projection.name);
    return {
      name: projection.name,
      users_behind: lag.users,
      oldest_owed_age_ms: age(lag.since),
      last_projected: head
        ? {
            event_id: head.event_id,
            user_id: head.user_id,
            revision: head.revision,
            event_at: head.event_at,
            projected_at: head.projected_at,
          }
        : null,
      dead_letters_open: open.get(projection.name) ?? 0,
    };
  });
  return {
    projections,
    users_behind: owed.users,
    outbox: { backlog: owed.events, users: owed.users, oldest_age_ms: age(owed.since) },
    dead_letters: [...open.values()].reduce((a, b) => a + b, 0),
  };
}

interface HeadRow {
  projection: string;
  event_id: string;
  user_id: string;
  revision: number;
  event_at: string;
  projected_at: string;
}
