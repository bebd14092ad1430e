import { and, eq, inArray } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import { ERASED, PublicEventSchema, type PublicEvent } from "../domain/events";
import { logMailSender, welcomeEmail, type MailSender } from "./mail";
import { recordDeadLetters, recordPoison } from "./dead-letters";
import { deadLetters, sentEmails, users, type SentEmailRow, type UserRow } from "./schema";
import { projectUser } from "./user-projection";

export const EVENTS_QUEUE = "user-events";
export const DEAD_LETTER_QUEUE = "user-events-dlq";
/** D1 allows 100 bound parameters per statement. */
const IDS_PER_QUERY = 90;

export async function consumeQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue === DEAD_LETTER_QUEUE) return recordDeadLetters(batch.messages, env.DB);
  return projectBatch(batch.messages, env, logMailSender);
}

interface UserWork {
  before: UserRow | null;
  after: UserRow | null;
  messages: Message<unknown>[];
  welcome: SentEmailRow | null;
  erased: boolean;
}

/**
 * Projects a queue batch into D1 with one D1 batch. Delivery is at least once and unordered, so
 * each user's events are applied on top of the row's `revision`: duplicates are skipped, a gap is
 * filled from the user's own object, and every row write is guarded by the revision it was
 * computed from. A message is acked only after its effect is committed.
 */
export async function projectBatch(messages: readonly Message<unknown>[], env: Env, mail: MailSender): Promise<void> {
  const db = drizzle(env.DB);
  const byUser = new Map<string, { events: PublicEvent[]; messages: Message<unknown>[] }>();
  for (const message of messages) {
    const parsed = PublicEventSchema.safeParse(message.body);
    if (!parsed.success) {
      await recordPoison(env.DB, message, parsed.error.message);
      message.ack();
      continue;
    }
    const group = byUser.get(parsed.data.aggregate_id) ?? { events: [], messages: [] };
    group.events.push(parsed.data);
    group.messages.push(message);
    byUser.set(parsed.data.aggregate_id, group);
  }
  if (byUser.size === 0) return;

  const rows = await loadRows(db, [...byUser.keys()]);
  const work: UserWork[] = [];
  for (const [userId, group] of byUser) {
    try {
      work.push(await plan(env, userId, rows.get(userId) ?? null, group.events, group.messages));
    } catch (error) {
      console.warn(JSON.stringify({ msg: "cannot fill gap, retrying", userId, error: String(error) }));
      group.messages.forEach((m) => m.retry({ delaySeconds: backoff(m.attempts) }));
    }
  }
  await commit(db, work, mail);
}

async function plan(
  env: Env,
  userId: string,
  before: UserRow | null,
  delivered: PublicEvent[],
  messages: Message<unknown>[],
): Promise<UserWork> {
  const at = before?.revision ?? 0;
  const byRevision = new Map(delivered.filter((e) => e.revision > at).map((e) => [e.revision, e]));
  const fresh = [...byRevision.values()].sort((a, b) => a.revision - b.revision);
  const newest = fresh[fresh.length - 1]?.revision ?? at;
  // A gap means an earlier event is late or lost: the user's object has it.
  const events = isRun(fresh, at) ? fresh : await env.USER_STREAM.getByName(userId).readStream(at + 1, newest - at);
  if (!isRun(events, at) || events.length !== newest - at) {
    throw new Error(`stream of ${userId} cannot fill revisions ${at + 1}..${newest}`);
  }
  let after = before;
  let welcome: SentEmailRow | null = null;
  for (const event of events) {
    after = projectUser(after, event);
    if (event.event_type === "USER_CREATED" && after) {
      welcome = welcomeEmail(userId, event.id, after.email, after.firstName, event.timestamp);
    }
  }
  const erased = events.some((event) => event.event_type === "USER_ERASED");
  return { before, after: events.length > 0 ? after : before, messages, welcome: erased ? null : welcome, erased };
}

/** Whether the events are exactly the revisions right after `at`, in order. */
function isRun(events: PublicEvent[], at: number): boolean {
  return events.every((event, i) => event.revision === at + i + 1);
}

async function commit(db: DrizzleD1Database, work: UserWork[], mail: MailSender): Promise<void> {
  const writes: { item: BatchItem<"sqlite">; onApplied(changed: boolean): Promise<void> | void }[] = [];
  for (const w of work) {
    const { before, after } = w;
    if (!after || after === before) {
      // Only duplicates (or events before any USER_CREATED): their effect is already committed.
      w.messages.forEach((m) => m.ack());
      continue;
    }
    const guarded = before
      ? db.update(users).set(after).where(and(eq(users.id, after.id), eq(users.revision, before.revision)))
      : db.insert(users).values(after).onConflictDoNothing();
    writes.push({
      item: guarded,
      // A concurrent consumer moved the row first: redo these events on top of its result.
      onApplied: (changed) => w.messages.forEach((m) => (changed ? m.ack() : m.retry({ delaySeconds: 1 }))),
    });
    if (w.erased) {
      // The mail record stays as the marker that the welcome was sent; its personal data goes.
      const forgetMail = db
        .update(sentEmails)
        .set({ recipient: ERASED, body: ERASED })
        .where(eq(sentEmails.userId, after.id));
      const dropDeadLetters = db.delete(deadLetters).where(eq(deadLetters.aggregateId, after.id));
      writes.push({ item: forgetMail, onApplied: () => {} }, { item: dropDeadLetters, onApplied: () => {} });
    }
    if (w.welcome) {
      const welcome = w.welcome;
      writes.push({
        item: db.insert(sentEmails).values(welcome).onConflictDoNothing(),
        onApplied: (changed) => (changed ? mail.send(welcome) : undefined),
      });
    }
  }
  if (writes.length === 0) return;
  let results: unknown[];
  try {
    results = await db.batch(writes.map((w) => w.item) as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  } catch (error) {
    console.warn(JSON.stringify({ msg: "projection batch failed, retrying", error: String(error) }));
    work.forEach((w) => w.messages.forEach((m) => m.retry({ delaySeconds: backoff(m.attempts) })));
    return;
  }
  // Mail goes out before the handler returns: unawaited work after a queue handler may be cut off.
  await Promise.all(writes.map(async (w, i) => w.onApplied(changesOf(results[i]) > 0)));
}

async function loadRows(db: DrizzleD1Database, ids: string[]): Promise<Map<string, UserRow>> {
  const rows = new Map<string, UserRow>();
  for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
    const found = await db.select().from(users).where(inArray(users.id, ids.slice(i, i + IDS_PER_QUERY)));
    for (const row of found) rows.set(row.id, row);
  }
  return rows;
}

function changesOf(result: unknown): number {
  return (result as { meta?: { changes?: number } } | undefined)?.meta?.changes ?? 0;
}

export function backoff(attempts: number): number {
  return Math.min(60, 2 ** Math.max(0, attempts - 1));
}
