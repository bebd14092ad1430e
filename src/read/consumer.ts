import { and, eq, inArray, ne, sql } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import { ERASED, PublicEventSchema, type PublicEvent } from "../domain/events";
import { logMailSender, welcomeEmail, type MailSender } from "./mail";
import { recordDeadLetters, recordLastErrors, recordPoison } from "./dead-letters";
import { deadLetters, sentEmails, users, type SentEmailRow, type UserRow } from "./schema";
import { projectUser } from "./user-projection";
import { publishToFeed } from "../live/feed";

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
  /** The events folded into `after`, in revision order. */
  events: PublicEvent[];
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
      await giveBack(env.DB, group.messages, error);
    }
  }
  const projected = await commit(env.DB, work, mail);
  await publishToFeed(env, projected);
}

/** Retries messages with backoff; on their last delivery, the error goes on record first. */
async function giveBack(db: D1Database, messages: Message<unknown>[], error: unknown): Promise<void> {
  await recordLastErrors(db, messages, String(error));
  messages.forEach((m) => m.retry({ delaySeconds: backoff(m.attempts) }));
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
  const after = events.reduce<UserRow | null>((row, event) => projectUser(row, event), before);
  // The welcome and the erasure clean-up follow from the row as it ends up, not only from events
  // applied here: a replay or rebuild may have moved the row past them already.
  const erased = after?.status === "erased";
  const created = [...delivered, ...events].find((event) => event.event_type === "USER_CREATED");
  // Imported users were welcomed where they came from.
  const imported = created?.metadata.import_request_id !== undefined;
  const welcome =
    created && after && !erased && !imported
      ? welcomeEmail(
          userId,
          created.id,
          String(created.data.email),
          String(created.data.first_name ?? ""),
          created.timestamp,
        )
      : null;
  return { before, after, messages, welcome, erased, events };
}

/** Whether the events are exactly the revisions right after `at`, in order. */
function isRun(events: PublicEvent[], at: number): boolean {
  return events.every((event, i) => event.revision === at + i + 1);
}

/** Returns the events whose projection committed (for the admin's live feed). */
async function commit(d1: D1Database, work: UserWork[], mail: MailSender): Promise<PublicEvent[]> {
  const db = drizzle(d1);
  const projected: PublicEvent[] = [];
  const writes: { item: BatchItem<"sqlite">; onApplied(changed: boolean): Promise<void> | void }[] = [];
  const settled: Message<unknown>[] = [];
  for (const w of work) {
    const { before, after } = w;
    if (after && after !== before) {
      const guarded = before
        ? db
            .update(users)
            .set(after)
            .where(and(eq(users.id, after.id), eq(users.revision, before.revision)))
        : db.insert(users).values(after).onConflictDoNothing();
      writes.push({
        item: guarded,
        // A concurrent consumer moved the row first: redo these events on top of its result.
        onApplied: (changed) => {
          if (changed) projected.push(...w.events);
          w.messages.forEach((m) => (changed ? m.ack() : m.retry({ delaySeconds: 1 })));
        },
      });
    } else {
      // Only duplicates: the row already holds their effect; acked once the rest commits.
      settled.push(...w.messages);
    }
    if (w.erased && after) {
      // The mail record stays as the marker that the welcome was sent; its personal data goes.
      const forgetMail = db
        .update(sentEmails)
        .set({ recipient: ERASED, body: ERASED })
        .where(eq(sentEmails.userId, after.id));
      const dropDeadLetters = db.delete(deadLetters).where(eq(deadLetters.aggregateId, after.id));
      writes.push({ item: forgetMail, onApplied: () => {} }, { item: dropDeadLetters, onApplied: () => {} });
    }
    const welcome = w.welcome;
    if (welcome) {
      writes.push({
        item: welcomeUnlessErased(db, welcome),
        onApplied: (changed) => (changed ? mail.send(welcome) : undefined),
      });
    }
  }
  if (writes.length > 0) {
    let results: unknown[];
    try {
      results = await db.batch(writes.map((w) => w.item) as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
    } catch (error) {
      console.warn(JSON.stringify({ msg: "projection batch failed, retrying", error: String(error) }));
      await giveBack(
        d1,
        work.flatMap((w) => w.messages),
        error,
      );
      return [];
    }
    // Mail goes out before the handler returns: unawaited work after a queue handler may be cut off.
    await Promise.all(writes.map(async (w, i) => w.onApplied(changesOf(results[i]) > 0)));
  }
  settled.forEach((m) => m.ack());
  return projected;
}

/**
 * The welcome's record, inserted once per user and never for an erased one: it is selected from the
 * user's row, written earlier in the same D1 batch, so an erasure projected by a concurrent consumer
 * wins over a late create.
 */
function welcomeUnlessErased(db: DrizzleD1Database, mail: SentEmailRow) {
  const value = (v: string, column: string) => sql<string>`${v}`.as(column);
  return db
    .insert(sentEmails)
    .select(
      db
        .select({
          userId: users.id,
          kind: value(mail.kind, "kind"),
          recipient: value(mail.recipient, "recipient"),
          subject: value(mail.subject, "subject"),
          body: value(mail.body, "body"),
          eventId: value(mail.eventId, "event_id"),
          sentAt: value(mail.sentAt, "sent_at"),
        })
        .from(users)
        .where(and(eq(users.id, mail.userId), ne(users.status, "erased"))),
    )
    .onConflictDoNothing();
}

async function loadRows(db: DrizzleD1Database, ids: string[]): Promise<Map<string, UserRow>> {
  const rows = new Map<string, UserRow>();
  for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
    const found = await db
      .select()
      .from(users)
      .where(inArray(users.id, ids.slice(i, i + IDS_PER_QUERY)));
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
