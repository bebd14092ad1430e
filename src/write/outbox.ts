import { jitteredBackoff } from "../backoff";
import { redact, type PublicEvent, type RecordedEvent } from "../domain/events";
import { log, metric, publishMarker } from "../observability";
import { eventQueueOf, readDatabaseOf } from "../shards";
import { announce, confirmedRevision } from "./ledger";
import { MAX_MESSAGE_BYTES, recordUnsendable } from "./unsendable";
import {
  deleteMeta,
  deleteOutboxRow,
  deleteOutboxThrough,
  getMeta,
  getMetas,
  markOutboxSent,
  markOutboxUnsent,
  outboxIsEmpty,
  outboxRows,
  readEvents,
  setMeta,
  type OutboxRow,
} from "./event-store";
import { pruneIdempotencyRecords } from "./idempotency";
import { directoryOf } from "./user-directory";

/** One `sendBatch` holds at most 100 messages and 256 KB in all. */
export const OUTBOX_BATCH = 100;
const BATCH_BYTES = 200_000;
const encoder = new TextEncoder();
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** When the queue refuses a send. */
const SEND_RETRY = { baseMs: 1_000, capMs: 60_000 };
/**
 * When the read side has not confirmed what was sent: the queue may have lost it (a local queue
 * keeps its backlog in memory) or the projector may be failing. The cap keeps a failing user's
 * re-publications (each a full round of queue retries) rare, and still heals without a hand.
 */
export const REPUBLISH = { baseMs: 5_000, capMs: 10 * 60_000 };

/**
 * Events a commit has just written, which the object publishes from memory. Their outbox rows were
 * marked sent in the commit's own transaction; whatever gives them up marks them unsent again.
 */
export interface InHand {
  events: readonly RecordedEvent[];
  /** False once an erasure was committed after them: their copies hold what it destroyed. */
  publishable(): boolean;
}

/**
 * Publishes the events never sent, in order: each run is first announced to the read side's
 * ledger (so it knows what it must have), then sent, then marked sent. The rows stay until the read
 * side confirms them (`reconcileOutbox`). After a commit the object passes the events it holds
 * (`inHand`), whose rows the commit already marked sent, and sends them as they are; when an
 * erasure came in between, or the send fails, their rows are marked unsent again and read from the
 * outbox and the stream. A crash between any two steps sends again (rows marked and never sent:
 * the alarm's re-publication); the consumer deduplicates by (user, revision). When the queue
 * refuses, the alarm retries with jittered backoff. Returns whether everything was sent.
 */
export async function flushOutbox(
  ctx: DurableObjectState,
  env: Env,
  userId: string,
  inHand: InHand | null = null,
): Promise<boolean> {
  const sql = ctx.storage.sql;
  // One statement for both: this runs after every command.
  const meta = getMetas(sql, ["flush_failures", "registered"]);
  const failures = Number(meta.get("flush_failures") ?? 0);
  try {
    if (!meta.get("registered")) {
      await directoryOf(env, userId).register(userId);
      setMeta(sql, "registered", "1");
    }
    if (!inHand || !(await sendInHand(ctx, env, userId, inHand))) {
      if (inHand) markOutboxUnsent(sql, revisionsOf(inHand));
      for (let rows = outboxRows(sql, "unsent", OUTBOX_BATCH); rows.length > 0;) {
        await send(ctx, env, userId, rows);
        rows = outboxRows(sql, "unsent", OUTBOX_BATCH);
      }
    }
    // Each flush follows a command: it writes to storage only what changed, to stay cheap.
    if (failures > 0) setMeta(sql, "flush_failures", "0");
    return true;
  } catch (error) {
    // What was in hand goes out from storage, with the alarm's retries (a copy sent twice is fine).
    if (inHand) markOutboxUnsent(sql, revisionsOf(inHand));
    setMeta(sql, "flush_failures", String(failures + 1));
    const delay = jitteredBackoff(failures + 1, SEND_RETRY);
    log("warn", "outbox flush failed, retrying", {
      user_id: userId,
      failures: failures + 1,
      delay,
      error: String(error),
    });
    await ctx.storage.setAlarm(Date.now() + delay);
    return false;
  }
}

/**
 * The alarm: sends what is unsent, forgets what the read side confirmed, and re-publishes what it
 * still lacks once it has waited, with jittered backoff, until the read side has it all. This is
 * what makes the read model converge after any crash, on either side, with no manual step.
 */
export async function reconcileOutbox(ctx: DurableObjectState, env: Env, userId: string): Promise<void> {
  const sql = ctx.storage.sql;
  const now = Date.now();
  if (now - Number(getMeta(sql, "pruned_at") ?? 0) > PRUNE_EVERY_MS) {
    pruneIdempotencyRecords(sql, now);
    setMeta(sql, "pruned_at", String(now));
  }
  if (outboxIsEmpty(sql)) {
    deleteMeta(sql, REPUBLISH_AFTER);
    return;
  }
  const policy = republishPolicy(sql);
  const nextAlarm = () => Date.now() + jitteredBackoff(Number(getMeta(sql, "republished") ?? 0) + 1, policy);
  // Re-armed before anything can fail: the alarm that is running is gone, and a process killed
  // in the middle of this handler would otherwise leave owed events with no alarm at all.
  await ctx.storage.setAlarm(nextAlarm());
  if (!(await flushOutbox(ctx, env, userId))) return;
  try {
    deleteOutboxThrough(sql, await confirmedRevision(readDatabaseOf(env, userId), userId));
    const owed = outboxRows(sql, "sent", Number.MAX_SAFE_INTEGER);
    const republished = Number(getMeta(sql, "republished") ?? 0);
    if (owed.length === 0 && republished > 0) setMeta(sql, "republished", "0");
    const due = owed.filter((row) => (row.sent_at ?? 0) <= now - policy.baseMs);
    if (due.length > 0) {
      // An import request registers its users itself, after their commits: one that died before
      // doing so left this user out of the directory (idempotent, and rare: a re-publication).
      await directoryOf(env, userId).register(userId);
      for (let i = 0; i < due.length; i += OUTBOX_BATCH) await send(ctx, env, userId, due.slice(i, i + OUTBOX_BATCH));
      setMeta(sql, "republished", String(republished + 1));
      log("warn", "re-published events the read side has not confirmed", {
        user_id: userId,
        revisions: [due[0]!.revision, due[due.length - 1]!.revision],
        round: republished + 1,
      });
      metric(env, {
        kind: "republish",
        subject: "outbox",
        outcome: "owed",
        count: due.length,
        ms: now - due[0]!.created_at,
      });
    }
  } catch (error) {
    log("warn", "outbox reconciliation failed, retrying", { user_id: userId, error: String(error) });
  }
  // Decided on the outbox as it is now (commits may have added rows while this ran).
  if (outboxIsEmpty(sql)) {
    await ctx.storage.deleteAlarm();
    deleteMeta(sql, REPUBLISH_AFTER);
  } else await ctx.storage.setAlarm(nextAlarm());
}

/**
 * The read side confirmed the stream through `revision` (an import request that projected its
 * users itself, decision 0029): those rows are forgotten, and an empty outbox needs no alarm.
 */
export async function forgetConfirmed(ctx: DurableObjectState, revision: number): Promise<void> {
  const sql = ctx.storage.sql;
  deleteOutboxThrough(sql, revision);
  if (!outboxIsEmpty(sql)) return;
  deleteMeta(sql, REPUBLISH_AFTER);
  await ctx.storage.deleteAlarm();
}

/** Meta key: how long rows wait unconfirmed before a re-publish, when not `REPUBLISH.baseMs`. */
const REPUBLISH_AFTER = "republish_after_ms";

/**
 * Inside an import's transaction: until its outbox is empty again, the object re-publishes only
 * what has waited `afterMs` unconfirmed, and backs off from there. A bulk import outruns the read
 * side by minutes; re-publishing every 5-20 s what the queue still holds woke every imported object
 * again and again, filled the queue with copies and kept the objects' files open: 20,000 users x 3
 * events into one `npm start` reached the 20,000-descriptor limit at 82 % (BENCHMARKS.md).
 */
export function republishImportsAfter(sql: SqlStorage, afterMs: number): void {
  setMeta(sql, REPUBLISH_AFTER, String(afterMs));
}

function republishPolicy(sql: SqlStorage): { baseMs: number; capMs: number } {
  const after = Number(getMeta(sql, REPUBLISH_AFTER) ?? 0);
  return after > REPUBLISH.baseMs ? { baseMs: after, capMs: Math.max(REPUBLISH.capMs, after) } : REPUBLISH;
}

/** Announces, sends and marks one run of outbox rows (at most OUTBOX_BATCH), read from the stream. */
async function send(ctx: DurableObjectState, env: Env, userId: string, rows: OutboxRow[]): Promise<void> {
  const sql = ctx.storage.sql;
  const first = rows[0]!.revision;
  const last = rows[rows.length - 1]!.revision;
  const wanted = new Set(rows.map((row) => row.revision));
  const mark = publishMarker(env, userId, () => [...wanted]);
  mark("publish");
  await announce(readDatabaseOf(env, userId), userId, last, Date.now());
  mark("announced");
  // Read after the announce's await, so an erasure committed meanwhile also reaches these messages.
  const events = readEvents(sql, userId, first, last - first + 1).filter((e) => wanted.has(e.revision));
  await sendAll(ctx, env, events.map(redact), () => true, true);
  mark("sent");
}

/** Announces and sends the events of a commit as they are (marked sent already); false if an erasure came first. */
async function sendInHand(ctx: DurableObjectState, env: Env, userId: string, inHand: InHand): Promise<boolean> {
  const last = inHand.events[inHand.events.length - 1];
  if (!last) return true;
  const mark = publishMarker(env, userId, () => revisionsOf(inHand));
  mark("publish");
  await announce(readDatabaseOf(env, userId), userId, last.revision, Date.now());
  mark("announced");
  const sent = await sendAll(ctx, env, inHand.events.map(redact), () => inHand.publishable(), false);
  mark("sent");
  return sent;
}

function revisionsOf(inHand: InHand): number[] {
  return inHand.events.map((event) => event.revision);
}

/**
 * Sends messages in order, in batches the queue accepts, marking their rows sent if `mark`; one
 * too large for any message is dead-lettered instead, and the others still go. False, having sent
 * nothing more, as soon as `publishable` says no (an erasure came first).
 */
async function sendAll(
  ctx: DurableObjectState,
  env: Env,
  messages: PublicEvent[],
  publishable: () => boolean,
  mark: boolean,
): Promise<boolean> {
  const sized = messages.map((message) => ({ message, bytes: encoder.encode(JSON.stringify(message)).length }));
  for (const { message, bytes } of sized.filter((m) => m.bytes > MAX_MESSAGE_BYTES)) {
    if (!publishable()) return false;
    await deadLetter(ctx, env, message, bytes);
  }
  for (const chunk of bySize(sized.filter((m) => m.bytes <= MAX_MESSAGE_BYTES))) {
    if (!publishable()) return false;
    await sendChunk(ctx, env, chunk, mark);
  }
  return true;
}

/**
 * An event no queue message can hold: recorded as an open dead letter with its reason (GET
 * /admin/dead-letters), an error logged and counted, and its outbox row forgotten, so the user's
 * later events flow. The consumer reads it from the object when a later event shows the gap.
 */
async function deadLetter(ctx: DurableObjectState, env: Env, event: PublicEvent, bytes: number): Promise<void> {
  const error = `event too large for a queue message: ${bytes} bytes, the limit is ${MAX_MESSAGE_BYTES}`;
  // A dead letter's body is one D1 value (2 MB at most): beyond that, the event without its data.
  const whole = JSON.stringify(event);
  const body = bytes <= 1_000_000 ? whole : JSON.stringify({ ...event, data: { omitted_bytes: bytes } });
  await recordUnsendable(env.DB, event, body, error);
  deleteOutboxRow(ctx.storage.sql, event.revision);
  log("error", "event dead-lettered: it cannot be sent", {
    user_id: event.aggregate_id,
    revision: event.revision,
    event_type: event.event_type,
    bytes,
  });
  metric(env, { kind: "dead_letter", subject: "outbox", outcome: "too_large", count: 1, ms: 0 });
}

async function sendChunk(
  ctx: DurableObjectState,
  env: Env,
  sized: { message: PublicEvent }[],
  mark: boolean,
): Promise<void> {
  const chunk = sized.map(({ message }) => message);
  // One user's events, so one queue: the user's (src/shards.ts). The generated binding is untyped;
  // the queue carries the shared contract, `EventMessage`.
  const queue: Queue<PublicEvent> = eventQueueOf(env, chunk[0]!.aggregate_id);
  await queue.sendBatch(chunk.map((body) => ({ body, contentType: "json" as const })));
  if (!mark) return;
  markOutboxSent(
    ctx.storage.sql,
    chunk.map((event) => event.revision),
    Date.now(),
  );
}

/** Consecutive runs of messages that fit one `sendBatch` by count and size (events can reach a few KB each). */
function bySize<T extends { bytes: number }>(messages: T[]): T[][] {
  const chunks: T[][] = [];
  let size = 0;
  for (const message of messages) {
    const current = chunks[chunks.length - 1];
    if (!current || size + message.bytes > BATCH_BYTES || current.length === OUTBOX_BATCH) {
      chunks.push([message]);
      size = message.bytes;
    } else {
      current.push(message);
      size += message.bytes;
    }
  }
  return chunks;
}
