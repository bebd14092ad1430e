import type { PublicEvent } from "../domain/events";
import { log, metric } from "../observability";
import { redeliveryDelaySeconds } from "./backoff";
import {
  recordDeadLetters,
  recordLastErrors,
  recordPoison,
  resolveAllStatements,
  resolveStatement,
} from "./dead-letters";
import { parseEventMessage } from "./event-message";
import { confirmAllStatements, confirmStatement } from "./ledger";
import { PROJECTIONS, type Checkpoint, type Step } from "./projections";
import { publishToFeed } from "../live/feed";
import { recordErasures, withoutErasedUsers } from "./erasures";
import { userStream } from "../objects";
import { projected as wakeReaders } from "./read-your-writes";
import { forgetInSubscriptions, wakeSubscriptions } from "./wake-subscriptions";

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

/** One user's share of a batch: its messages, the events to project and each projection's step. */
interface UserWork {
  userId: string;
  messages: Message<unknown>[];
  /** The events projected here (after the lowest checkpoint), in revision order. */
  events: PublicEvent[];
  /** Those no projection held before (after the highest checkpoint): new to the read side. */
  fresh: PublicEvent[];
  steps: { projection: string; step: Step; events: PublicEvent[] }[];
  /** Epoch ms of the newest event projected (or delivered): what the ledger's confirmation records. */
  projectedAt: number;
}

/**
 * Projects a queue batch into every projection, with one D1 batch. Delivery is at least once and
 * unordered, so each projection of each user applies the events after its own checkpoint:
 * duplicates are skipped, a gap is filled from the user's own object, and writes are guarded by the
 * checkpoint they were computed from. A message is acked only after its effect is committed. If the
 * batch fails, each user and projection is committed alone, so one user's failure retries only that
 * user's messages (all of them, in order: nothing is projected past the event that fails).
 */
export async function projectBatch(messages: readonly Message<unknown>[], env: Env): Promise<void> {
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

  // Every projection's checkpoints of every user in one round trip; the writes are the second.
  const loads = PROJECTIONS.map((projection) => projection.load(env.DB, [...byUser.keys()]));
  let loaded: Map<string, Checkpoint<unknown>>[];
  try {
    const results = await env.DB.batch(loads.map((load) => load.statement));
    loaded = loads.map((load, i) => load.read(results[i]!));
  } catch (error) {
    // D1 unreachable: every user's messages go back, with backoff, as a failed write would.
    for (const [userId, group] of byUser) {
      await giveBack(env, { userId, messages: group.messages, events: group.delivered }, error, null);
    }
    return;
  }
  const work: UserWork[] = [];
  for (const [userId, group] of byUser) {
    const from = loaded.map((checkpoints) => checkpoints.get(userId));
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
  const projected = await commit(env, work);
  await afterCommit(env, projected);
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
  const steps = PROJECTIONS.map((projection, i) => {
    const own = events.filter((event) => event.revision > (from[i]?.revision ?? 0));
    return {
      projection: projection.name,
      step: projection.plan(env.DB, userId, from[i], own, { delivered: group.delivered }),
      events: own,
    };
  });
  const newest = events[events.length - 1] ?? group.delivered[group.delivered.length - 1];
  const highest = Math.max(...from.map((c) => c?.revision ?? 0));
  const fresh = events.filter((event) => event.revision > highest);
  const projectedAt = newest ? Date.parse(newest.timestamp) : 0;
  return { userId, messages: group.messages, events, fresh, steps, projectedAt };
}

/**
 * What closes the batch's writes, for all its users at once: their dead letters whose event every
 * projection now holds are resolved, and the ledger confirms what every projection holds (both
 * computed in SQL from the rows just written, so a user whose write lost a race confirms no more).
 */
function closingStatements(db: D1Database, work: UserWork[]): D1PreparedStatement[] {
  return [
    ...resolveAllStatements(
      db,
      work.map((w) => w.userId),
      new Date().toISOString(),
    ),
    ...confirmAllStatements(
      db,
      work.map((w) => ({ user_id: w.userId, at: w.projectedAt })),
    ),
  ];
}

/** The same for one user, committed alone after a failed batch. */
function closingStatementsOf(db: D1Database, w: UserWork): D1PreparedStatement[] {
  return [resolveStatement(db, w.userId, new Date().toISOString()), confirmStatement(db, w.userId, w.projectedAt)];
}

/** Commits the batch's work; returns the users whose messages were acked (their writes all committed). */
async function commit(env: Env, work: UserWork[]): Promise<UserWork[]> {
  if (work.length === 0) return [];
  const statements = work.flatMap((w) => w.steps.flatMap((s) => s.step.statements));
  let results: D1Result[];
  try {
    results = await env.DB.batch([...statements, ...closingStatements(env.DB, work), ...headStatements(env.DB, work)]);
  } catch (error) {
    log("warn", "projection batch failed; committing user by user", { users: work.length, error: String(error) });
    const done: UserWork[] = [];
    for (const w of work) if (await commitAlone(env, w)) done.push(w);
    try {
      if (done.length > 0) await env.DB.batch(headStatements(env.DB, done));
    } catch {
      // Only the status's "last projected" waits for the next batch.
    }
    return done;
  }
  const done: UserWork[] = [];
  let offset = 0;
  for (const w of work) {
    const size = w.steps.reduce((n, s) => n + s.step.statements.length, 0);
    if (await settle(w, results.slice(offset, offset + size))) done.push(w);
    offset += size;
  }
  return done;
}

/**
 * One user after a failed batch: each projection alone, so the failing projection is the one on
 * record and the others move on. Any failure retries all of the user's messages.
 */
async function commitAlone(env: Env, w: UserWork): Promise<boolean> {
  let raced = false;
  let failure: { error: unknown; projection: string } | null = null;
  for (const { projection, step } of w.steps) {
    try {
      const own = (await env.DB.batch([...step.statements, ...closingStatementsOf(env.DB, w)])).slice(
        0,
        step.statements.length,
      );
      raced ||= lostRace(step, own);
      // A side effect whose record committed goes out now, whatever happens to the other projections.
      await step.afterCommit?.(own);
    } catch (error) {
      failure ??= { error, projection };
    }
  }
  if (failure) {
    await giveBack(env, w, failure.error, failure.projection);
    return false;
  }
  return finish(w, raced);
}

/** After the user's writes committed in the shared batch: side effects, then ack or retry. */
async function settle(w: UserWork, results: D1Result[]): Promise<boolean> {
  let offset = 0;
  let raced = false;
  for (const { step } of w.steps) {
    const own = results.slice(offset, offset + step.statements.length);
    raced ||= lostRace(step, own);
    await step.afterCommit?.(own);
    offset += step.statements.length;
  }
  return finish(w, raced);
}

/** Whether a concurrent consumer moved the checkpoint first (the guarded write changed nothing). */
function lostRace(step: Step, results: D1Result[]): boolean {
  return step.guard !== null && (results[step.guard]?.meta.changes ?? 0) === 0;
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
async function afterCommit(env: Env, done: UserWork[]): Promise<void> {
  // First the reads of this isolate waiting for these revisions (read-your-writes): no I/O.
  for (const w of done) {
    const newest = w.events[w.events.length - 1];
    if (newest) wakeReaders(w.userId, newest.revision);
  }
  const projected = done.flatMap((w) => w.events);
  for (const w of done) {
    if (w.events.length === 0) continue;
    const newest = w.events[w.events.length - 1]!;
    const committedHere = w.events.filter((e) => !isImported(e));
    log("info", "projected", {
      user_id: w.userId,
      revisions: [w.events[0]!.revision, newest.revision],
      projections: w.steps.filter((s) => s.events.length > 0).map((s) => s.projection),
      request_ids: [...new Set(w.events.map((e) => e.metadata.request_id))],
      lag_ms: lagOf(committedHere),
      imported: w.events.length - committedHere.length,
    });
  }
  if (projected.length > 0) {
    // One data point per batch: Analytics Engine takes at most 250 per invocation. The lag is of
    // the events committed here; imported ones are counted apart, without a lag.
    const committedHere = projected.filter((e) => !isImported(e));
    const count = committedHere.length;
    if (count > 0) metric(env, { kind: "projection", subject: "all", outcome: "ok", count, ms: lagOf(committedHere)! });
    const imported = projected.length - count;
    if (imported > 0) metric(env, { kind: "projection", subject: "imported", outcome: "ok", count: imported, ms: 0 });
  }
  await publishToFeed(
    env,
    done.flatMap((w) => w.fresh),
  );
  const erased = done.filter((w) => w.events.some((e) => e.event_type === "USER_ERASED")).map((w) => w.userId);
  await forgetInSubscriptions(env, erased);
  // Something was projected, so the feed may have grown.
  if (projected.length > 0) {
    await wakeSubscriptions(env, { mail: projected.some((e) => e.event_type === "USER_CREATED") });
  }
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

/** Each projection's newest event in these users' work: the status's "last projected". */
function headStatements(db: D1Database, work: UserWork[]): D1PreparedStatement[] {
  const now = new Date().toISOString();
  const newest = new Map<string, PublicEvent>();
  for (const w of work) {
    for (const { projection, events } of w.steps) {
      // "Last projected … after" is a lag too: only events committed here move it.
      const last = events.findLast((event) => !isImported(event));
      const known = newest.get(projection);
      if (last && (!known || last.timestamp > known.timestamp)) newest.set(projection, last);
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
