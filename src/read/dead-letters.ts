import { desc, eq, isNull, count } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { deadLetters, type DeadLetterRow } from "./schema";

/** Dead letters are kept in D1 with their error, so an admin can list and re-drive them. */

/**
 * Deliveries of one message before the queue moves it to the dead-letter queue: `max_retries` of
 * the `user-events` consumer in wrangler.toml, plus the first delivery.
 */
export const FINAL_ATTEMPT = 6;

function rowFor(message: Message<unknown>, error: string): typeof deadLetters.$inferInsert {
  const body = message.body as { id?: unknown; aggregate_id?: unknown; revision?: unknown } | null;
  return {
    // Keyed by the event's id where there is one: the projector's record of the last error and the
    // dead-letter queue's record of the same event are then one row.
    messageId: typeof body?.id === "string" ? body.id : message.id,
    aggregateId: typeof body?.aggregate_id === "string" ? body.aggregate_id : null,
    revision: typeof body?.revision === "number" ? body.revision : null,
    body: JSON.stringify(message.body ?? null),
    error,
    attempts: message.attempts,
    failedAt: new Date().toISOString(),
  };
}

/** A message no retry can fix (it does not parse): recorded at once instead of blocking retries. */
export async function recordPoison(db: D1Database, message: Message<unknown>, error: string): Promise<void> {
  await drizzle(db).insert(deadLetters).values(rowFor(message, error)).onConflictDoNothing();
}

/**
 * Before the projector retries a message for the last time, it records why: the dead-letter queue
 * only hands over the message, not the error. Best effort: D1 may be what failed.
 */
export async function recordLastErrors(db: D1Database, messages: Message<unknown>[], error: string): Promise<void> {
  const last = messages.filter((message) => message.attempts >= FINAL_ATTEMPT);
  try {
    for (const message of last) {
      await drizzle(db).insert(deadLetters).values(rowFor(message, error)).onConflictDoNothing();
    }
  } catch {
    // The dead-letter queue's consumer still records the message, with a generic error.
  }
}

/** The dead-letter queue's consumer: messages the projector gave up on after its retries. */
export async function recordDeadLetters(messages: readonly Message<unknown>[], db: D1Database): Promise<void> {
  for (const message of messages) {
    await drizzle(db)
      .insert(deadLetters)
      .values(rowFor(message, "projection failed after all retries"))
      .onConflictDoNothing();
    message.ack();
  }
}

export async function listDeadLetters(db: D1Database, limit: number): Promise<DeadLetterRow[]> {
  return drizzle(db)
    .select()
    .from(deadLetters)
    .where(isNull(deadLetters.redrivenAt))
    .orderBy(desc(deadLetters.id))
    .limit(limit);
}

export async function pendingDeadLetters(db: D1Database): Promise<number> {
  const [row] = await drizzle(db).select({ n: count() }).from(deadLetters).where(isNull(deadLetters.redrivenAt));
  return row?.n ?? 0;
}

/** Sends a dead letter back to the projector's queue and marks it re-driven. */
export async function redriveDeadLetter(db: D1Database, queue: Queue, id: number): Promise<boolean> {
  const orm = drizzle(db);
  const letter = await orm.select().from(deadLetters).where(eq(deadLetters.id, id)).get();
  if (!letter) return false;
  await queue.send(JSON.parse(letter.body), { contentType: "json" });
  await orm.update(deadLetters).set({ redrivenAt: new Date().toISOString() }).where(eq(deadLetters.id, id));
  return true;
}
