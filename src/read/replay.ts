import type { PublicEvent } from "../domain/events";
import { byReadDatabase, listedReadDatabases, readDatabaseOf } from "../shards";
import { resolveAllStatements, resolveBoundedStatements } from "./dead-letters";
import { announceAllStatements, confirmAllStatements, forgetStreamsStatements } from "./ledger";
import { PROJECTIONS, type Home, type Projection, type UserStreamRead } from "./projections";
import { userStream } from "../objects";
import { erasedAmong, reapplyErasures } from "./erasures";
import type { ErasureEntry } from "../domain/erasure-ledger";

const STREAM_PAGE = 500;
/**
 * Streams read at once: enough to keep many objects busy, few enough that a step's RPCs stay far
 * below an invocation's subrequest limit and its memory holds.
 */
const STREAMS_IN_FLIGHT = 50;

/** The calls reading these streams whole took: one per page of `STREAM_PAGE` events, and a last, shorter one. */
export function streamCalls(read: readonly UserStreamRead[]): number {
  return read.reduce((calls, stream) => calls + Math.floor(stream.events.length / STREAM_PAGE) + 1, 0);
}

/** A user's whole stream, redacted, paged through the object's RPC. */
export async function readWholeStream(env: Env, userId: string): Promise<PublicEvent[]> {
  const stream = userStream(env, userId);
  const events: PublicEvent[] = [];
  for (let from = 1; ; from += STREAM_PAGE) {
    const page = await stream.readStream(from, STREAM_PAGE);
    events.push(...page);
    if (page.length < STREAM_PAGE) return events;
  }
}

/** The streams of these users, read `STREAMS_IN_FLIGHT` at a time, in the order given. */
async function readStreams(env: Env, userIds: readonly string[]): Promise<UserStreamRead[]> {
  const streams: UserStreamRead[] = new Array<UserStreamRead>(userIds.length);
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < userIds.length; i = next++) {
      streams[i] = { userId: userIds[i]!, events: await readWholeStream(env, userIds[i]!) };
    }
  };
  await Promise.all(Array.from({ length: Math.min(STREAMS_IN_FLIGHT, userIds.length) }, reader));
  return streams;
}

/**
 * Makes these users' part of the projections equal to their streams, without side effects: mail is
 * never sent from here. Rows only move forward (the live projector may have applied a newer event
 * meanwhile); a user without a stream loses its rows. One D1 batch (one transaction) per database,
 * each write a statement over every user at once (see `bulk`): `DB`'s first (the projections living
 * there, and for the users whose read database it is, everything), then each other read database's,
 * confirming the ledger no further than what `DB` holds, then those users' dead letters in `DB`
 * (decision 0026). With one database, one batch.
 */
export async function rebuildUsers(
  env: Env,
  userIds: readonly string[],
  projections: readonly Projection[] = PROJECTIONS,
): Promise<{ users: number; events: number }> {
  const { read, erased } = await readUsers(env, userIds);
  return projectStreams(env, read, projections, { erased });
}

/**
 * The read half of `rebuildUsers`, which writes nothing: these users' streams and their erasure
 * ledger's entries, for `projectStreams`. The rebuild job reads a page with it while the page
 * before commits.
 */
export async function readUsers(
  env: Env,
  userIds: readonly string[],
): Promise<{ read: UserStreamRead[]; erased: Map<string, ErasureEntry> }> {
  // The erasure ledger is asked while the streams are read: a step waited for it after them (46-90 ms
  // of a 200-user step, BENCHMARKS.md "First rebuild").
  const [read, erased] = await Promise.all([readStreams(env, userIds), erasedAmong(env, userIds)]);
  return { read, erased };
}

/**
 * `rebuildUsers` of streams in hand (an import's, which its objects returned). `announce`: the
 * ledger learns each stream's head in the same batches, as if its object had announced it (an
 * import request that sent nothing to the queue, decision 0029). `erased`: the erasure ledger's
 * entries for these users, when already asked.
 */
export async function projectStreams(
  env: Env,
  read: UserStreamRead[],
  projections: readonly Projection[] = PROJECTIONS,
  { announce = false, erased }: { announce?: boolean; erased?: Map<string, ErasureEntry> } = {},
): Promise<{ users: number; events: number }> {
  // The erasure ledger first: a stream restored to before its erasure is erased again, not projected.
  const streams = await reapplyErasures(env, read, (id) => readWholeStream(env, id), erased);
  const groups = byReadDatabase(env, streams, (s) => s.userId);
  const home = groups.find((group) => group.db === env.DB)?.items ?? [];
  const apart = groups.filter((group) => group.db !== env.DB);
  // What the projections not rebuilt here hold, for the bound of a confirmation in another database.
  const floors = await floorsOf(
    env,
    projections,
    apart.flatMap((group) => group.items),
  );
  const now = new Date().toISOString();
  const announced = (db: D1Database, items: readonly UserStreamRead[]) =>
    announce ? announceAllStatements(db, heads(items), Date.now()) : [];

  await batch(env.DB, [
    ...announced(env.DB, home),
    ...projections.flatMap((projection) =>
      projection.home === "service" ? projection.rebuild(env.DB, streams) : projection.rebuild(env.DB, home),
    ),
    ...projections.flatMap((projection) => projection.rebuildService?.(env.DB, streams) ?? []),
    ...closingStatements(env, env.DB, home, now),
  ]);
  await Promise.all(
    apart.map(({ db, items }) =>
      batch(db, [
        ...announced(db, items),
        ...projections.filter((p) => p.home === "user").flatMap((projection) => projection.rebuild(db, items)),
        ...closingStatements(env, db, items, now, (s) => floorOf(floors, s, "service")),
      ]),
    ),
  );
  // Their dead letters live in `DB`: resolved once their read database committed.
  const elsewhere = apart.flatMap((group) => group.items).filter((s) => s.events.length > 0);
  await batch(
    env.DB,
    resolveBoundedStatements(
      env.DB,
      elsewhere.map((s) => ({ user_id: s.userId, floor: floorOf(floors, s, "user") })),
      PROJECTIONS.filter((p) => p.home === "service"),
      now,
    ),
  );
  return { users: read.length, events: streams.reduce((n, s) => n + s.events.length, 0) };
}

/** Each stream's newest revision (streams without events have none to announce). */
function heads(streams: readonly UserStreamRead[]): { user_id: string; revision: number }[] {
  return streams.flatMap((s) =>
    s.events.length > 0 ? [{ user_id: s.userId, revision: s.events.at(-1)!.revision }] : [],
  );
}

async function batch(db: D1Database, statements: D1PreparedStatement[]): Promise<void> {
  if (statements.length > 0) await db.batch(statements);
}

/** A read database's closing: ghosts leave the ledger; the others confirm (and in `DB`, resolve their letters). */
function closingStatements(
  env: Env,
  db: D1Database,
  streams: readonly UserStreamRead[],
  now: string,
  floor?: (s: UserStreamRead) => number,
): D1PreparedStatement[] {
  const live = streams.filter((s) => s.events.length > 0);
  const ghosts = streams.filter((s) => s.events.length === 0).map((s) => s.userId);
  const local = floor ? PROJECTIONS.filter((p) => p.home === "user") : PROJECTIONS;
  return [
    ...forgetStreamsStatements(db, ghosts),
    ...(db === env.DB
      ? resolveAllStatements(
          db,
          live.map((s) => s.userId),
          now,
        )
      : []),
    ...confirmAllStatements(
      db,
      live.map((s) => ({ user_id: s.userId, at: 0, ...(floor && { floor: floor(s) }) })),
      local,
    ),
  ];
}

/**
 * The checkpoints, in their own databases, of the projections this rebuild leaves alone, for users
 * whose read database is not `DB`: a projection rebuilt here holds the stream's head once its batch
 * committed; one left alone holds at least what it holds now.
 */
async function floorsOf(
  env: Env,
  rebuilt: readonly Projection[],
  streams: readonly UserStreamRead[],
): Promise<Map<Projection, Map<string, number>>> {
  const floors = new Map<Projection, Map<string, number>>();
  if (streams.length === 0) return floors;
  const ids = streams.map((s) => s.userId);
  await Promise.all(
    PROJECTIONS.filter((p) => !rebuilt.includes(p)).map(async (projection) => {
      const held = new Map<string, number>();
      for (const { db, items } of byDatabaseOf(env, projection, ids)) {
        const load = projection.load(db, items);
        for (const [userId, checkpoint] of load.read(await load.statement.all())) held.set(userId, checkpoint.revision);
      }
      floors.set(projection, held);
    }),
  );
  return floors;
}

function byDatabaseOf(env: Env, projection: Projection, userIds: readonly string[]) {
  return projection.home === "user" ? byReadDatabase(env, userIds, (id) => id) : [{ db: env.DB, items: [...userIds] }];
}

/** The least revision the projections living at `home` hold of the user once this rebuild committed. */
function floorOf(floors: Map<Projection, Map<string, number>>, s: UserStreamRead, home: Home): number {
  const head = s.events[s.events.length - 1]?.revision ?? 0;
  return Math.min(
    ...PROJECTIONS.filter((p) => p.home === home).map((p) => {
      const held = floors.get(p);
      return held ? (held.get(s.userId) ?? 0) : head;
    }),
  );
}

/** What a rebuild step finds in its id range besides the users the directory listed. */
export interface RangeScan {
  /** Users with rows in these projections that the directory did not list: rows without a stream. */
  ghosts: string[];
  /**
   * Rows of users found in a read database that is not theirs (left by a re-shard, a change of
   * `READ_DATABASES`), by database: the rows living per user and the ledger's.
   */
  misplaced: { db: D1Database; ids: string[] }[];
}

/**
 * Scans the ids in (`after`, `upTo`] (`upTo` null: no end) of these projections' rows for ghosts
 * (ids `listed` does not hold) and, for projections living per user, of every database that may
 * hold such rows and the ledger (`DB` too: the read model lived there before a first re-shard; and
 * during a re-shard the layout being left, decision 0027) for misplaced ones.
 */
export async function scanRange(
  env: Env,
  projections: readonly Projection[],
  range: { after: string; upTo: string | null },
  listed: ReadonlySet<string>,
): Promise<RangeScan> {
  const between = (p: Projection, db: D1Database) => p.userIdsBetween(db, range.after, range.upTo);
  const perUser = projections.filter((p) => p.home === "user");
  const [service, scans] = await Promise.all([
    Promise.all(projections.filter((p) => p.home === "service").map((p) => between(p, env.DB))),
    Promise.all(
      (perUser.length > 0 ? [...new Set([env.DB, ...listedReadDatabases(env)])] : []).map(async (db) => {
        const [ledger, ...rows] = await Promise.all([
          ledgerIdsBetween(db, range.after, range.upTo),
          ...perUser.map((p) => between(p, db)),
        ]);
        const wrong = [...new Set([...ledger, ...rows.flat()])].filter((id) => readDatabaseOf(env, id) !== db);
        return { db, rows: rows.flat(), wrong };
      }),
    ),
  ]);
  return {
    ghosts: [...new Set([...service.flat(), ...scans.flatMap((scan) => scan.rows)])].filter((id) => !listed.has(id)),
    misplaced: scans.filter((scan) => scan.wrong.length > 0).map((scan) => ({ db: scan.db, ids: scan.wrong })),
  };
}

async function ledgerIdsBetween(db: D1Database, after: string, upTo: string | null): Promise<string[]> {
  const { results } = await db
    .prepare(`SELECT user_id FROM streams WHERE user_id > ?1 AND (?2 IS NULL OR user_id <= ?2)`)
    .bind(after, upTo)
    .all<{ user_id: string }>();
  return results.map((row) => row.user_id);
}

/**
 * Removes misplaced rows where they are, as a ghost's: the projections living per user among
 * `projections`, and the ledger's row. The user's own read database gets its rows from its stream,
 * before this runs (decision 0027: a user is never in neither while reads look in both).
 */
export async function removeMisplaced(
  env: Env,
  projections: readonly Projection[],
  misplaced: RangeScan["misplaced"],
): Promise<number> {
  const perUser = projections.filter((p) => p.home === "user");
  await Promise.all(
    misplaced.map(({ db, ids }) => {
      const empty = ids.map((userId) => ({ userId, events: [] }));
      return batch(db, [...perUser.flatMap((p) => p.rebuild(db, empty)), ...forgetStreamsStatements(db, ids)]);
    }),
  );
  return misplaced.reduce((n, m) => n + m.ids.length, 0);
}
