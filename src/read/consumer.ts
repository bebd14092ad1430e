import type { PublicEvent } from "../domain/events";
import { log, metric, takePublishMarks, takeTracedWork, tracing, type Fields } from "../observability";
import { redeliveryDelaySeconds } from "./backoff";
import {
  openLettersStatement,
  recordDeadLetters,
  recordLastErrors,
  recordPoison,
  resolveAllStatements,
  resolveBoundedStatements,
  resolveStatement,
} from "./dead-letters";
import { parseEventMessage } from "./event-message";
import { confirmAllStatements, confirmStatement } from "./ledger";
import { databaseOf, PROJECTIONS, projectionsIn, type Checkpoint, type Load, type Projection } from "./projections";
import { readDatabaseOf } from "../shards";
import { publishToFeed } from "../live/feed";
import { recordErasures, withoutErasedUsers } from "./erasures";
import { userStream } from "../objects";
import { projected as wakeReaders } from "./read-your-writes";
import { leavePreviousPlaces } from "./reshard";
import { feedGrew, wakeSubscriptions } from "./wake-subscriptions";

/** The default layout's queues (wrangler.toml); `[env.sharded]` has `user-events-0`… and its own DLQ. */
export const EVENTS_QUEUE = "user-events";
export const DEAD_LETTER_QUEUE = "user-events-dlq";

/**
 * Whether a batch comes from a dead-letter queue: by the name's suffix, so that any layout's
 * (one per events queue or one shared) is one without a list here to keep in step with wrangler.toml.
 */
export function isDeadLetterQueue(name: string): boolean {
  return name.endsWith("-dlq");
}

/** Every events queue of the layout projects alike; which one a batch came from does not matter. */
export async function consumeQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (isDeadLetterQueue(batch.queue)) {
    await recordDeadLetters(await withoutErasedUsers(env, batch.messages), env.DB);
    // Each letter came with its `ops.dead_letter` alert: the subscriptions asking for it send it now.
    return wakeSubscriptions(env);
  }
  return projectBatch(batch.messages, env);
}

/** A projection's writes of one user in one database, and how the commit went. */
interface Part {
  projection: Projection;
  db: D1Database;
  statements: D1PreparedStatement[];
  /** Index in `statements` of the step's guard (only in the part that moves the checkpoint). */
  guard: number | null;
  /** The part moving the projection's checkpoint (false: its writes in `DB` for a projection living elsewhere). */
  moves: boolean;
  afterCommit?: (results: D1Result[]) => Promise<void>;
}

/** One user's share of a batch: its messages, the events to project and each projection's step. */
interface UserWork {
  userId: string;
  /** The user's read database: where its ledger row is confirmed. */
  readDb: D1Database;
  messages: Message<unknown>[];
  /** The events projected here (after the lowest checkpoint), in revision order. */
  events: PublicEvent[];
  /** Those no projection held before (after the highest checkpoint): new to the read side. */
  fresh: PublicEvent[];
  steps: { projection: Projection; events: PublicEvent[] }[];
  parts: Part[];
  /** Each projection's checkpoint as loaded (0: none). */
  from: Map<Projection, number>;
  /** Epoch ms of the newest event projected (or delivered): what the ledger's confirmation records. */
  projectedAt: number;
  /** Projections whose checkpoint part committed and was not raced. */
  committed: Set<Projection>;
  raced: boolean;
  failure: { error: unknown; projection: string } | null;
}

/**
 * Projects a queue batch into every projection, with one D1 batch per database touched (decision
 * 0026; one database: one batch). Delivery is at least once and
 * unordered, so each projection of each user applies the events after its own checkpoint:
 * duplicates are skipped, a gap is filled from the user's own object, and writes are guarded by the
 * checkpoint they were computed from. A message is acked only after its effect is committed. If a
 * batch fails, each user and projection is committed alone, so one user's failure retries only that
 * user's messages (all of them, in order: nothing is projected past the event that fails).
 */
export async function projectBatch(messages: readonly Message<unknown>[], env: Env): Promise<void> {
  const trace = tracing(env) ? new BatchTrace(messages) : null;
  await projectTraced(messages, env, trace);
  trace?.end();
}

async function projectTraced(messages: readonly Message<unknown>[], env: Env, trace: BatchTrace | null): Promise<void> {
  const byUser = new Map<string, { delivered: PublicEvent[]; messages: Message<unknown>[] }>();
  for (const message of messages) {
    const parsed = parseEventMessage(message.body);
    if ("error" in parsed) {
      await recordPoison(env.DB, message, parsed.error);
      log("warn", "unparseable message dead-lettered", { message_id: message.id, error: parsed.error });
      metric(env, { kind: "projection_failure", subject: "parse", outcome: "dead_letter", count: 1, ms: 0 });
      message.ack();
      continue;
    }
    const { event } = parsed;
    const group = byUser.get(event.aggregate_id) ?? { delivered: [], messages: [] };
    group.delivered.push(event);
    group.messages.push(message);
    byUser.set(event.aggregate_id, group);
  }
  if (byUser.size === 0) return;

  let loaded: Loaded;
  try {
    loaded = await loadCheckpoints(env, [...byUser.keys()]);
  } catch (error) {
    // D1 unreachable: every user's messages go back, with backoff, as a failed write would.
    for (const [userId, group] of byUser) {
      await giveBack(env, { userId, messages: group.messages, events: group.delivered }, error, null);
    }
    return;
  }
  trace?.mark("loaded");
  const work: UserWork[] = [];
  for (const [userId, group] of byUser) {
    const from = PROJECTIONS.map((projection) => loaded.checkpoints.get(projection)!.get(userId));
    try {
      const events = await eventsToProject(
        env,
        userId,
        Math.min(...from.map((c) => c?.revision ?? 0)),
        group.delivered,
      );
      // Before the ack: a committed erasure reaches the erasure ledger, or its messages come back.
      await recordErasures(env, events);
      work.push(plan(env, userId, group, events, from));
    } catch (error) {
      await giveBack(env, { userId, messages: group.messages, events: group.delivered }, error, null);
    }
  }
  trace?.mark("planned");
  const projected = await commit(env, work, loaded.openLetters);
  trace?.mark("committed");
  // During a re-shard (decision 0027) a user now written in its new read database leaves its old one.
  await leavePreviousPlaces(
    env,
    projected.map((w) => w.userId),
  );
  trace?.streams(projected);
  await afterCommit(env, projected, trace);
}

interface Loaded {
  /** Each projection's checkpoints of the batch's users, wherever each lives. */
  checkpoints: Map<Projection, Map<string, Checkpoint<unknown>>>;
  /** Users with a dead letter not resolved whose read database is not `DB`. */
  openLetters: Set<string>;
}

/**
 * Every projection's checkpoints of every user: one round trip per database, in parallel. `DB`'s
 * also says which users whose read database is another have open dead letters: only those need
 * their letters resolved once that database committed.
 */
async function loadCheckpoints(env: Env, userIds: string[]): Promise<Loaded> {
  const byDb = new Map<
    D1Database,
    { loads: { projection: Projection; load: Load<unknown> }[]; letters?: D1PreparedStatement }
  >();
  const at = (db: D1Database) => byDb.get(db) ?? byDb.set(db, { loads: [] }).get(db)!;
  for (const projection of PROJECTIONS) {
    const users = new Map<D1Database, string[]>();
    for (const userId of userIds) {
      const db = databaseOf(env, projection, userId);
      users.set(db, [...(users.get(db) ?? []), userId]);
    }
    for (const [db, ids] of users) at(db).loads.push({ projection, load: projection.load(db, ids) });
  }
  const apart = userIds.filter((id) => readDatabaseOf(env, id) !== env.DB);
  if (apart.length > 0) at(env.DB).letters = openLettersStatement(env.DB, apart);
  const checkpoints = new Map(PROJECTIONS.map((p) => [p, new Map<string, Checkpoint<unknown>>()]));
  const openLetters = new Set<string>();
  await Promise.all(
    [...byDb].map(async ([db, { loads, letters }]) => {
      const results = await db.batch([...loads.map((l) => l.load.statement), ...(letters ? [letters] : [])]);
      loads.forEach(({ projection, load }, i) => {
        for (const [userId, checkpoint] of load.read(results[i]!)) checkpoints.get(projection)!.set(userId, checkpoint);
      });
      if (letters) {
        for (const row of results[loads.length]!.results as { aggregate_id: string }[])
          openLetters.add(row.aggregate_id);
      }
    }),
  );
  return { checkpoints, openLetters };
}

/** The user's events after `at`, in order: the delivered ones if they are a run, else from the user's object. */
async function eventsToProject(env: Env, userId: string, at: number, delivered: PublicEvent[]): Promise<PublicEvent[]> {
  const byRevision = new Map(delivered.filter((e) => e.revision > at).map((e) => [e.revision, e]));
  const fresh = [...byRevision.values()].sort((a, b) => a.revision - b.revision);
  const newest = fresh[fresh.length - 1]?.revision ?? at;
  if (isRun(fresh, at)) return fresh;
  // A gap means an earlier event is late or lost: the user's object has it.
  const events = await userStream(env, userId).readStream(at + 1, newest - at);
  if (!isRun(events, at) || events.length !== newest - at) {
    throw new Error(`stream of ${userId} cannot fill revisions ${at + 1}..${newest}`);
  }
  return events;
}

/** Whether the events are exactly the revisions right after `at`, in order. */
function isRun(events: PublicEvent[], at: number): boolean {
  return events.every((event, i) => event.revision === at + i + 1);
}

function plan(
  env: Env,
  userId: string,
  group: { delivered: PublicEvent[]; messages: Message<unknown>[] },
  events: PublicEvent[],
  from: (Checkpoint<unknown> | undefined)[],
): UserWork {
  const steps: UserWork["steps"] = [];
  const parts: Part[] = [];
  PROJECTIONS.forEach((projection, i) => {
    const own = events.filter((event) => event.revision > (from[i]?.revision ?? 0));
    const db = databaseOf(env, projection, userId);
    const step = projection.plan(db, userId, from[i], own, { delivered: group.delivered, service: env.DB });
    steps.push({ projection, events: own });
    const service = step.service ?? [];
    const after = step.afterCommit?.bind(step);
    // Writes in `DB` for a projection living there are one part with its own (one database, one batch).
    const together = db === env.DB;
    parts.push({
      projection,
      db,
      statements: together ? [...step.statements, ...service] : step.statements,
      guard: step.guard,
      moves: true,
      ...(after && { afterCommit: after }),
    });
    if (!together && service.length > 0) {
      parts.push({ projection, db: env.DB, statements: service, guard: null, moves: false });
    }
  });
  const newest = events[events.length - 1] ?? group.delivered[group.delivered.length - 1];
  const highest = Math.max(...from.map((c) => c?.revision ?? 0));
  const fresh = events.filter((event) => event.revision > highest);
  const projectedAt = newest ? Date.parse(newest.timestamp) : 0;
  return {
    userId,
    readDb: readDatabaseOf(env, userId),
    messages: group.messages,
    events,
    fresh,
    steps,
    parts,
    from: new Map(PROJECTIONS.map((projection, i) => [projection, from[i]?.revision ?? 0])),
    projectedAt,
    committed: new Set(),
    raced: false,
    failure: null,
  };
}

/**
 * The revision the projection holds at least, from what this batch committed: the newest event
 * projected if its write committed, else the checkpoint it was loaded at (checkpoints only move on).
 */
function reached(w: UserWork, projection: Projection): number {
  const from = w.from.get(projection) ?? 0;
  const newest = w.events[w.events.length - 1]?.revision ?? 0;
  return w.committed.has(projection) ? Math.max(from, newest) : from;
}

/** The least `reached` over the projections not living in `db`: the confirmation's bound value there. */
function floorFor(env: Env, w: UserWork, db: D1Database): number {
  const others = PROJECTIONS.filter((projection) => databaseOf(env, projection, w.userId) !== db);
  return Math.min(...others.map((projection) => reached(w, projection)));
}

/**
 * What closes a database's writes of these users, computed in SQL from the rows just written (so a
 * user whose write lost a race confirms no more) and, for projections living in another database,
 * from what that database committed (`floorFor`): in the user's read database the ledger confirms
 * what every projection holds; in `DB` the users' dead letters whose event every projection holds
 * are resolved, here for users whose read database is `DB` (the others' are `resolveApart`).
 */
function closingStatements(env: Env, db: D1Database, work: UserWork[]): D1PreparedStatement[] {
  const confirming = work.filter((w) => w.readDb === db);
  if (confirming.length === 0) return [];
  const local = projectionsIn(env, db, confirming[0]!.userId);
  return [
    ...(db === env.DB
      ? resolveAllStatements(
          db,
          confirming.map((w) => w.userId),
          new Date().toISOString(),
        )
      : []),
    ...confirmAllStatements(
      db,
      confirming.map((w) => ({
        user_id: w.userId,
        at: w.projectedAt,
        ...(local.length < PROJECTIONS.length && { floor: floorFor(env, w, db) }),
      })),
      local,
    ),
  ];
}

/** The same for one user, committed alone after a failed batch. */
function closingStatementsOf(env: Env, db: D1Database, w: UserWork): D1PreparedStatement[] {
  if (w.readDb !== db) return [];
  const local = projectionsIn(env, db, w.userId);
  return [
    ...(db === env.DB ? [resolveStatement(db, w.userId, new Date().toISOString())] : []),
    confirmStatement(db, w.userId, w.projectedAt, local, floorFor(env, w, db)),
  ];
}

/**
 * Commits the batch's work, one database after the other: `DB` first (the audit log and the feed),
 * then the read databases in parallel, each confirming the ledger no further than what `DB`
 * committed. Returns the users whose messages were acked (their writes all committed).
 */
async function commit(env: Env, work: UserWork[], openLetters: ReadonlySet<string>): Promise<UserWork[]> {
  if (work.length === 0) return [];
  const others = [...new Set(work.flatMap((w) => [...w.parts.map((p) => p.db), w.readDb]))].filter(
    (db) => db !== env.DB,
  );
  await commitIn(env, env.DB, work);
  await Promise.all(others.map((db) => commitIn(env, db, work)));
  await resolveApart(
    env,
    work.filter((w) => openLetters.has(w.userId)),
  );
  const done: UserWork[] = [];
  for (const w of work) {
    if (w.failure) await giveBack(env, w, w.failure.error, w.failure.projection);
    else if (finish(w, w.raced)) done.push(w);
  }
  return done;
}

/**
 * One database's share of the batch: the parts living there, then what closes them, then the heads
 * of the projections living there, in one D1 batch. If it fails, each user and projection alone.
 */
async function commitIn(env: Env, db: D1Database, work: UserWork[]): Promise<void> {
  const here = work.map((w) => ({ w, parts: w.parts.filter((p) => p.db === db) }));
  const statements = here.flatMap(({ parts }) => parts.flatMap((p) => p.statements));
  const all = [...statements, ...closingStatements(env, db, work), ...headStatements(db, here)];
  let results: D1Result[];
  try {
    // Nothing to write here (every projection living here already held these events): no round trip.
    results = all.length > 0 ? await db.batch(all) : [];
  } catch (error) {
    log("warn", "projection batch failed; committing user by user", { users: work.length, error: String(error) });
    const done: typeof here = [];
    for (const { w, parts } of here) if (await commitAlone(env, db, w, parts)) done.push({ w, parts });
    try {
      const heads = headStatements(db, done);
      if (heads.length > 0) await db.batch(heads);
    } catch {
      // Only the status's "last projected" waits for the next batch.
    }
    return;
  }
  let offset = 0;
  for (const { w, parts } of here) {
    for (const part of parts) {
      const own = results.slice(offset, offset + part.statements.length);
      offset += part.statements.length;
      await settle(w, part, own);
    }
  }
}

/**
 * One user's parts in one database after its batch failed: each projection alone, so the failing
 * projection is the one on record and the others move on. Any failure retries all of the user's
 * messages. Returns whether every part committed.
 */
async function commitAlone(env: Env, db: D1Database, w: UserWork, parts: Part[]): Promise<boolean> {
  let ok = true;
  for (const part of parts) {
    try {
      // The closing statements read the checkpoints just written: the part goes first.
      const closing = closingStatementsOf(env, db, w);
      const batch = [...part.statements, ...closing];
      const own = batch.length > 0 ? (await db.batch(batch)).slice(0, part.statements.length) : [];
      await settle(w, part, own);
    } catch (error) {
      w.failure ??= { error, projection: part.projection.name };
      ok = false;
    }
  }
  // A user with nothing to write here still confirms here what the other database committed.
  if (parts.length === 0 && w.readDb === db) {
    try {
      await db.batch(closingStatementsOf(env, db, w));
    } catch (error) {
      w.failure ??= { error, projection: "ledger" };
      ok = false;
    }
  }
  return ok;
}

/** After a part committed: whether it lost a race, and its side effects (which go out whatever follows). */
async function settle(w: UserWork, part: Part, results: D1Result[]): Promise<void> {
  const raced = part.guard !== null && (results[part.guard]?.meta.changes ?? 0) === 0;
  w.raced ||= raced;
  if (part.moves && !raced) w.committed.add(part.projection);
  await part.afterCommit?.(results);
}

/**
 * The dead letters of users whose read database is not `DB`, once both committed: resolved up to
 * the least of `DB`'s checkpoints (in SQL) and what the read database committed. Only for users
 * with open letters (known from the load). Best effort: a letter left open is resolved by the
 * user's next batch, a replay or a rebuild.
 */
async function resolveApart(env: Env, work: UserWork[]): Promise<void> {
  const apart = work.filter((w) => w.readDb !== env.DB);
  if (apart.length === 0) return;
  const local = projectionsIn(env, env.DB, apart[0]!.userId);
  try {
    await env.DB.batch(
      resolveBoundedStatements(
        env.DB,
        apart.map((w) => ({ user_id: w.userId, floor: floorFor(env, w, env.DB) })),
        local,
        new Date().toISOString(),
      ),
    );
  } catch (error) {
    log("warn", "dead letters not resolved; the next batch will", { users: apart.length, error: String(error) });
  }
}

function finish(w: UserWork, raced: boolean): boolean {
  if (raced) {
    // Redo these events on top of the other consumer's result.
    w.messages.forEach((m) => m.retry({ delaySeconds: redeliveryDelaySeconds(1) }));
    return false;
  }
  w.messages.forEach((m) => m.ack());
  return true;
}

/**
 * The one place that runs after a batch's projections committed and its messages were acked, with
 * the users whose events are in every projection now: the wake of this isolate's reads waiting for
 * them, a log line per user (with the request ids of
 * its events), one metric for the batch, and the admin's live feed of events new to the read side.
 */
async function afterCommit(env: Env, done: UserWork[], trace: BatchTrace | null = null): Promise<void> {
  // First the reads of this isolate waiting for these revisions (read-your-writes): no I/O.
  for (const w of done) {
    const newest = w.events[w.events.length - 1];
    if (newest) wakeReaders(w.userId, newest.revision);
  }
  const projected = done.flatMap((w) => w.events);
  // One line per batch, not per user: under `wrangler dev` every line is also a request from its
  // proxy to wrangler's process, and a line per user flooded the proxy's descriptors in bulk work
  // (docs/repro/log-lines).
  const streams = done
    .filter((w) => w.events.length > 0)
    .map((w) => {
      const committedHere = w.events.filter((e) => !isImported(e));
      return {
        user_id: w.userId,
        revisions: [w.events[0]!.revision, w.events[w.events.length - 1]!.revision],
        projections: w.steps.filter((s) => s.events.length > 0).map((s) => s.projection.name),
        request_ids: [...new Set(w.events.map((e) => e.metadata.request_id))],
        lag_ms: lagOf(committedHere),
        imported: w.events.length - committedHere.length,
      };
    });
  if (streams.length > 0) log("info", "projected", { streams, ...(trace && { trace: trace.fields() }) });
  if (projected.length > 0) {
    // One data point per batch: Analytics Engine takes at most 250 per invocation. The lag is of
    // the events committed here; imported ones are counted apart, without a lag.
    const committedHere = projected.filter((e) => !isImported(e));
    const count = committedHere.length;
    if (count > 0) metric(env, { kind: "projection", subject: "all", outcome: "ok", count, ms: lagOf(committedHere)! });
    const imported = projected.length - count;
    if (imported > 0) metric(env, { kind: "projection", subject: "imported", outcome: "ok", count: imported, ms: 0 });
  }
  // The admins' live feed and the subscriptions' wakes are independent (the wakes read the feed
  // projection just committed, not the live feed), and the next batch waits for this handler to
  // return: both at once, not one after the other.
  await Promise.all([
    publishToFeed(
      env,
      done.flatMap((w) => w.fresh),
    ),
    feedGrew(env, done, { mail: projected.some((e) => e.event_type === "USER_CREATED") }),
  ]);
}

/**
 * An imported event keeps the time it had where it came from, which says nothing of how long the
 * pipeline took: its message carries no commit time of its own. The lag (commit → projected) is
 * measured over the events committed here only, so an import cannot poison the worst lag.
 */
function isImported(event: PublicEvent): boolean {
  return event.metadata.import_request_id !== undefined;
}

/** Commit → projected of the oldest of these events; null without events. */
function lagOf(events: readonly PublicEvent[]): number | null {
  if (events.length === 0) return null;
  return Math.max(0, Date.now() - Math.min(...events.map((e) => Date.parse(e.timestamp))));
}

const MOVE_HEAD = `INSERT INTO projection_heads (projection, event_id, user_id, revision, event_at, projected_at)
  VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (projection) DO UPDATE SET event_id = excluded.event_id, user_id = excluded.user_id,
    revision = excluded.revision, event_at = excluded.event_at, projected_at = excluded.projected_at
  WHERE excluded.event_at >= projection_heads.event_at`;

/** Each projection's newest event in these users' parts in `db`: the status's "last projected" there. */
function headStatements(db: D1Database, here: readonly { w: UserWork; parts: Part[] }[]): D1PreparedStatement[] {
  const now = new Date().toISOString();
  const newest = new Map<string, PublicEvent>();
  for (const { w, parts } of here) {
    for (const part of parts.filter((p) => p.moves)) {
      const events = w.steps.find((s) => s.projection === part.projection)?.events ?? [];
      // "Last projected … after" is a lag too: only events committed here move it.
      const last = events.findLast((event) => !isImported(event));
      const known = newest.get(part.projection.name);
      if (last && (!known || last.timestamp > known.timestamp)) newest.set(part.projection.name, last);
    }
  }
  const move = db.prepare(MOVE_HEAD);
  return [...newest].map(([projection, e]) =>
    move.bind(projection, e.id, e.aggregate_id, e.revision, e.timestamp, now),
  );
}

/** Retries the user's messages with jittered backoff; on their last delivery, the error goes on record first. */
async function giveBack(
  env: Env,
  w: Pick<UserWork, "userId" | "messages" | "events">,
  error: unknown,
  projection: string | null,
): Promise<void> {
  const attempts = Math.max(...w.messages.map((m) => m.attempts));
  log("warn", "projection failed, retrying", {
    user_id: w.userId,
    projection,
    attempts,
    request_ids: [...new Set(w.events.map((e) => e.metadata.request_id))],
    error: String(error),
  });
  metric(env, { kind: "projection_failure", subject: projection ?? "stream", outcome: "retry", count: 1, ms: 0 });
  await recordLastErrors(env.DB, w.messages, String(error), projection);
  w.messages.forEach((m) => m.retry({ delaySeconds: redeliveryDelaySeconds(m.attempts) }));
}

/** When the last traced batch handler ended: its batch's span, and how long the next one waited behind it. */
let lastBatchEnd: number | null = null;

/**
 * Bench-only (`BENCH_TRACE`, bench/lag.mjs): the hops of a batch (received, checkpoints loaded,
 * planned, committed and acked) and, per user projected, its oldest event's commit, the publish's
 * hops (src/write/outbox.ts) and the queue's enqueue time; plus when the batch before ended and the
 * objects' alarms run since. Logged in the batch's `projected` line: a line of its own would add
 * to what it measures (each line is a request to wrangler's process, which the local queue awaits).
 */
class BatchTrace {
  private readonly hops: Record<string, number> = { received: Date.now() };
  private readonly previousEnded = lastBatchEnd;
  private users: Record<string, number | null | string>[] = [];

  constructor(private readonly messages: readonly Message<unknown>[]) {}

  mark(hop: string): void {
    this.hops[hop] = Date.now();
  }

  streams(done: readonly UserWork[]): void {
    for (const w of done) {
      const oldest = w.events.find((e) => !isImported(e));
      if (!oldest) continue;
      const message = w.messages.find((m) => (m.body as { revision?: unknown }).revision === oldest.revision);
      this.users.push({
        user: w.userId,
        commit: Date.parse(oldest.timestamp),
        ...takePublishMarks(w.userId, oldest.revision),
        enqueued: message ? message.timestamp.getTime() : null,
      });
    }
  }

  fields(): Fields {
    return {
      batch: { ...this.hops, messages: this.messages.length, previous_ended: this.previousEnded },
      work: takeTracedWork(),
      streams: this.users,
    };
  }

  end(): void {
    lastBatchEnd = Date.now();
  }
}
