/**
 * One queue message holds at most 128 KB: an event larger than that can never be sent (the outbox
 * dead-letters it), nor re-driven.
 */
export const MAX_MESSAGE_BYTES = 128_000;

/**
 * A dead letter's record, written by both sides: by the consumer for a message it gave up on, by a
 * user's object for an event it cannot send. One open letter per event id; each exhaustion adds a
 * failure row to its history.
 */
export const RECORD_LETTER = `INSERT INTO dead_letters (message_id, aggregate_id, revision, projection, body, state, exhaustions,
    attempts, first_error, first_failed_at, error, failed_at)
  VALUES (?1, ?2, ?3, ?4, ?5, 'open', 1, ?6, ?7, ?8, ?7, ?8)
  ON CONFLICT (message_id) DO UPDATE SET state = 'open', exhaustions = exhaustions + 1,
    attempts = attempts + excluded.attempts, error = excluded.error, failed_at = excluded.failed_at,
    projection = coalesce(excluded.projection, projection), body = excluded.body
  WHERE dead_letters.state <> 'open' OR ?9`;
export const RECORD_FAILURE = `INSERT INTO dead_letter_failures (letter_id, failed_at, error, attempts)
  SELECT id, ?2, ?3, ?4 FROM dead_letters WHERE message_id = ?1 AND failed_at = ?2`;

/**
 * An event its user's object cannot send (larger than a queue message): recorded by the object, open,
 * with the reason, instead of retried forever. `body` is the event as it would have been sent. It
 * resolves like any letter once the projections hold its revision: the consumer reads it from the
 * object when the user's next event shows the gap (docs/pipeline.md).
 */
export async function recordUnsendable(
  db: D1Database,
  event: { id: string; aggregate_id: string; revision: number },
  body: string,
  error: string,
): Promise<void> {
  const failedAt = new Date().toISOString();
  await db.batch([
    db.prepare(RECORD_LETTER).bind(event.id, event.aggregate_id, event.revision, null, body, 0, error, failedAt, 1),
    db.prepare(RECORD_FAILURE).bind(event.id, failedAt, error, 0),
  ]);
}
