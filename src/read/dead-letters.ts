import { and, desc, eq, lt, ne, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { LETTER_ALERT } from "./alerts";
import { bulk, JSON_IDS } from "./bulk";
import { MAX_MESSAGE_BYTES, RECORD_FAILURE, RECORD_LETTER } from "../write/unsendable";
import { CONFIRMABLE, confirmable, floorOf } from "./ledger";
import type { Projection } from "./projections";
import { deadLetterFailures, deadLetters, type DeadLetterRow } from "./schema";

/**
 * Dead letters: events the projector gave up on, kept in D1 with their history so an admin can see
 * what failed, how often and why, and re-drive it. One row per event; each exhaustion of its retries
 * (a re-driven letter failing again included) counts on the row and adds a `dead_letter_failures` row.
 */

/**
 * Deliveries of one message before the queue moves it to the dead-letter queue: `max_retries` of
 * the `user-events` consumer in wrangler.toml, plus the first delivery.
 */
export const FINAL_ATTEMPT = 6;

export type DeadLetterState = DeadLetterRow["state"];

interface Failure {
  message: Message<unknown>;
  error: string;
  projection: string | null;
}

/**
 * Records one exhaustion. `always` is false for the dead-letter queue's consumer: the projector
 * already recorded this exhaustion (with the real error) unless the letter is not open.
 */
async function recordExhaustion(db: D1Database, { message, error, projection }: Failure, always: boolean) {
  const body = message.body as { id?: unknown; aggregate_id?: unknown; revision?: unknown } | null;
  // Keyed by the event's id where there is one: every delivery of the event is the same letter.
  const messageId = typeof body?.id === "string" ? body.id : message.id;
  const failedAt = new Date().toISOString();
  await db.batch([
    db
      .prepare(RECORD_LETTER)
      .bind(
        messageId,
        typeof body?.aggregate_id === "string" ? body.aggregate_id : null,
        typeof body?.revision === "number" ? body.revision : null,
        projection,
        JSON.stringify(message.body ?? null),
        message.attempts,
        error,
        failedAt,
        always ? 1 : 0,
      ),
    db.prepare(RECORD_FAILURE).bind(messageId, failedAt, error, message.attempts),
    // In the same batch: a letter is never recorded without its alert, nor alerted twice (src/read/alerts.ts).
    db.prepare(LETTER_ALERT).bind(messageId),
  ]);
}

/** A message no retry can fix (it does not parse): recorded at once instead of blocking retries. */
export async function recordPoison(db: D1Database, message: Message<unknown>, error: string): Promise<void> {
  await recordExhaustion(db, { message, error, projection: null }, true);
}

/**
 * Before the projector retries a message for the last time, it records why: the dead-letter queue
 * only hands over the message, not the error. Best effort: D1 may be what failed.
 */
export async function recordLastErrors(
  db: D1Database,
  messages: Message<unknown>[],
  error: string,
  projection: string | null,
): Promise<void> {
  try {
    for (const message of messages.filter((m) => m.attempts >= FINAL_ATTEMPT)) {
      await recordExhaustion(db, { message, error, projection }, true);
    }
  } catch {
    // The dead-letter queue's consumer still records the message, with a generic error.
  }
}

/** The dead-letter queue's consumer: messages the projector gave up on after its retries. */
export async function recordDeadLetters(messages: readonly Message<unknown>[], db: D1Database): Promise<void> {
  for (const message of messages) {
    await recordExhaustion(db, { message, error: "projection failed after all retries", projection: null }, false);
    message.ack();
  }
}

/** Resolves the user's letters whose event every projection now holds; last in a projection batch. */
export function resolveStatement(db: D1Database, userId: string, now: string): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE dead_letters SET state = 'resolved', resolved_at = ?2
       WHERE aggregate_id = ?1 AND state <> 'resolved' AND revision <= ${CONFIRMABLE}`,
    )
    .bind(userId, now);
}

/** `resolveStatement` for many users at once (a rebuild step). */
export function resolveAllStatements(db: D1Database, userIds: readonly string[], now: string): D1PreparedStatement[] {
  return bulk(
    db,
    `UPDATE dead_letters SET state = 'resolved', resolved_at = ?2
     WHERE aggregate_id IN ${JSON_IDS} AND state <> 'resolved' AND revision <= ${confirmable("dead_letters.aggregate_id")}`,
    userIds,
    now,
  );
}

/**
 * `resolveAllStatements` for users whose projections do not all live in `DB` (decision 0026): the
 * letters are resolved up to the least of the checkpoints of `local` (those in `DB`) and each user's
 * `floor`, the revision the projections living in its read database were known to hold once their
 * batch committed.
 */
export function resolveBoundedStatements(
  db: D1Database,
  users: readonly { user_id: string; floor: number }[],
  local: readonly Projection[],
  now: string,
): D1PreparedStatement[] {
  return bulk(
    db,
    `UPDATE dead_letters SET state = 'resolved', resolved_at = ?2
     WHERE aggregate_id IN (SELECT j.value ->> '$.user_id' FROM json_each(?1) j) AND state <> 'resolved'
       AND revision <= ${confirmable("dead_letters.aggregate_id", local, floorOf("dead_letters.aggregate_id"))}`,
    users,
    now,
  );
}

/** Which of these users have a letter not resolved: those a bounded resolution is for. */
export function openLettersStatement(db: D1Database, userIds: readonly string[]): D1PreparedStatement {
  return db
    .prepare(`SELECT DISTINCT aggregate_id FROM dead_letters WHERE aggregate_id IN ${JSON_IDS} AND state <> 'resolved'`)
    .bind(JSON.stringify(userIds));
}

export interface LetterFilters {
  state?: DeadLetterState | undefined;
  userId?: string | undefined;
  /** Only letters with a smaller id (the previous page's `next_cursor`). */
  before?: number | undefined;
  limit: number;
}

export interface LetterWithHistory extends DeadLetterRow {
  history: { failedAt: string; error: string; attempts: number }[];
}

/** Letters newest first, each with its exhaustions oldest first. */
export async function listDeadLetters(db: D1Database, filters: LetterFilters): Promise<LetterWithHistory[]> {
  const orm = drizzle(db);
  const where: (SQL | undefined)[] = [
    filters.state ? eq(deadLetters.state, filters.state) : undefined,
    filters.userId ? eq(deadLetters.aggregateId, filters.userId) : undefined,
    filters.before ? lt(deadLetters.id, filters.before) : undefined,
  ];
  const letters = await orm
    .select()
    .from(deadLetters)
    .where(and(...where))
    .orderBy(desc(deadLetters.id))
    .limit(filters.limit);
  if (letters.length === 0) return [];
  const history = await orm
    .select()
    .from(deadLetterFailures)
    .where(
      sql`${deadLetterFailures.letterId} IN (${sql.join(
        letters.map((l) => sql`${l.id}`),
        sql`, `,
      )})`,
    )
    .orderBy(deadLetterFailures.failedAt);
  return letters.map((letter) => ({
    ...letter,
    history: history
      .filter((h) => h.letterId === letter.id)
      .map(({ failedAt, error, attempts }) => ({ failedAt, error, attempts })),
  }));
}

export type RedriveOutcome = "redriven" | "not_found" | "resolved" | "too_large" | "erased";

/**
 * Sends a dead letter back to the projector, on its user's queue (`queueOf`), and marks it
 * re-driven; a resolved or too large one is refused. A letter holding an event from before an erasure the ledger lists is never sent:
 * it holds the event as published then, so it is deleted instead (as the projection of the erasure
 * deletes the user's letters), with its history. The erasure's own event is re-driven as any.
 */
export async function redriveDeadLetter(
  db: D1Database,
  /** The queue of the letter's user (src/shards.ts); null: a message no user could be read from. */
  queueOf: (userId: string | null) => Queue,
  id: number,
  /** Whether the user's event at this revision is from before an erasure the ledger lists. */
  erasedBefore: (userId: string, revision: number | null) => Promise<boolean>,
): Promise<RedriveOutcome> {
  const orm = drizzle(db);
  const letter = await orm.select().from(deadLetters).where(eq(deadLetters.id, id)).get();
  if (!letter) return "not_found";
  if (letter.aggregateId !== null && (await erasedBefore(letter.aggregateId, letter.revision))) {
    await db.batch([
      db.prepare("DELETE FROM dead_letter_failures WHERE letter_id = ?").bind(id),
      db.prepare("DELETE FROM dead_letters WHERE id = ?").bind(id),
    ]);
    return "erased";
  }
  if (letter.state === "resolved") return "resolved";
  // An event no message can hold (recorded by its object): the user's next event brings it instead.
  if (new TextEncoder().encode(letter.body).length > MAX_MESSAGE_BYTES) return "too_large";
  await queueOf(letter.aggregateId).send(JSON.parse(letter.body), { contentType: "json" });
  await orm
    .update(deadLetters)
    .set({ state: "redriven", redrivenAt: new Date().toISOString() })
    .where(and(eq(deadLetters.id, id), ne(deadLetters.state, "resolved")));
  return "redriven";
}
