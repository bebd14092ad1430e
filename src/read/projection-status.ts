import { readDatabases } from "../shards";
import { bulk } from "./bulk";
import { PROJECTIONS, type Projection } from "./projections";

const OWED = "confirmed_revision < published_revision";

interface Lag {
  users: number;
  since: number | null;
}

/**
 * How far each projection is behind the write side, from the `streams` ledger alone: only streams
 * still owed something are counted, through the partial index that holds exactly them, so the cost
 * follows the backlog, not the number of users. Each database is read as one D1 batch (one
 * snapshot), all of them in parallel; counts are summed and ages maxed across them (decision 0026).
 * A projection living in `DB` is counted, for users whose ledger is in another database, against
 * the streams that database owes: the backlog read there, checked against `DB`'s checkpoints.
 */
export async function projectionStatus(env: Env) {
  const now = Date.now();
  const databases = [...new Set([env.DB, ...readDatabases(env)])];
  const parts = await Promise.all(databases.map((db) => statusIn(env, db)));
  const apart = parts.flatMap((part) => part.owed);
  const elsewhere = await Promise.all(
    PROJECTIONS.filter((p) => p.home === "service").map(
      async (p) => [p.name, await behindIn(env.DB, p, apart)] as const,
    ),
  );
  const lags = [...parts.map((part) => part.behind), new Map(elsewhere)];
  const outbox = parts.reduce(
    (sum, part) => ({
      users: sum.users + part.outbox.users,
      events: sum.events + part.outbox.events,
      since: minSince(sum.since, part.outbox.since),
    }),
    { users: 0, events: 0, since: null as number | null },
  );
  const open = parts.find((part) => part.db === env.DB)!.letters;
  const age = (since: number | null) => (since === null ? null : Math.max(0, now - since));
  const projections = PROJECTIONS.map((projection) => {
    const lag = lags.reduce<Lag>(
      (sum, behind) => {
        const here = behind.get(projection.name);
        return here ? { users: sum.users + here.users, since: minSince(sum.since, here.since) } : sum;
      },
      { users: 0, since: null },
    );
    // The newest head across the databases the projection writes in.
    const head = parts
      .flatMap((part) => part.heads.filter((row) => row.projection === projection.name))
      .reduce<HeadRow | undefined>(
        (newest, row) => (!newest || row.event_at > newest.event_at ? row : newest),
        undefined,
      );
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
    users_behind: outbox.users,
    outbox: { backlog: outbox.events, users: outbox.users, oldest_age_ms: age(outbox.since) },
    dead_letters: [...open.values()].reduce((a, b) => a + b, 0),
  };
}

function minSince(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

interface Owed {
  user_id: string;
  published: number;
  since: number;
}

/**
 * One database's part, in one batch: the projections living there counted against its ledger in
 * SQL, its heads, its outbox, its open dead letters and, when some projection lives elsewhere, the
 * streams it owes (for `behindIn`).
 */
async function statusIn(env: Env, db: D1Database) {
  // In `DB` every projection lives beside the ledger; in another read database, those living per user.
  const local = PROJECTIONS.filter((p) => p.home === "user" || db === env.DB);
  const behind = local.map((projection) =>
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
  const owed = db.prepare(
    `SELECT user_id, published_revision AS published, owed_since AS since FROM streams INDEXED BY streams_owed WHERE ${OWED}`,
  );
  const apart = local.length < PROJECTIONS.length;
  const results = await db.batch([...behind, heads, outbox, letters, ...(apart ? [owed] : [])]);
  const rows = <T>(i: number) => (results[i]?.results ?? []) as T[];
  const n = behind.length;
  return {
    db,
    behind: new Map(local.map((projection, i) => [projection.name, rows<Lag>(i)[0]!])),
    heads: rows<HeadRow>(n),
    outbox: rows<{ users: number; events: number; since: number | null }>(n + 1)[0]!,
    letters: new Map(rows<{ projection: string | null; n: number }>(n + 2).map((row) => [row.projection, row.n])),
    owed: apart ? rows<Owed>(n + 3) : [],
  };
}

/** Of these owed streams (whose ledger is in another database), those `projection`, in `db`, lags on. */
async function behindIn(db: D1Database, projection: Projection, owed: readonly Owed[]): Promise<Lag> {
  const statements = bulk(
    db,
    `SELECT COUNT(*) AS users, MIN(j.value ->> '$.since') AS since FROM json_each(?1) j
     WHERE coalesce(${projection.checkpointSql("j.value ->> '$.user_id'")}, 0) < j.value ->> '$.published'`,
    owed,
  );
  if (statements.length === 0) return { users: 0, since: null };
  const results = await db.batch(statements);
  return results
    .map((result) => (result.results as Lag[])[0]!)
    .reduce((sum, lag) => ({ users: sum.users + lag.users, since: minSince(sum.since, lag.since) }), {
      users: 0,
      since: null,
    });
}

interface HeadRow {
  projection: string;
  event_id: string;
  user_id: string;
  revision: number;
  event_at: string;
  projected_at: string;
}
