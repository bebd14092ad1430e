import { redact, type PublicEvent } from "../domain/events";
import { deleteOutboxThrough, getMeta, pendingOutboxRevisions, readEvents, setMeta } from "./event-store";
import { pruneIdempotencyRecords } from "./idempotency";
import { DIRECTORY_NAME } from "./user-directory";

/** One `sendBatch` holds at most 100 messages and 256 KB in all. */
export const OUTBOX_BATCH = 100;
const BATCH_BYTES = 200_000;
const encoder = new TextEncoder();
const MAX_BACKOFF_MS = 60_000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/**
 * Publishes the outbox in order, deleting only what the queue accepted. A crash between send and
 * delete sends those events again: the consumer deduplicates by (user, revision). When the queue
 * refuses, the alarm is rescheduled with backoff instead of burning the platform's six retries.
 */
export async function flushOutbox(ctx: DurableObjectState, env: Env, userId: string): Promise<void> {
  const sql = ctx.storage.sql;
  // Each flush follows a command: it writes to storage only what changed, to stay cheap.
  const failures = Number(getMeta(sql, "flush_failures") ?? 0);
  try {
    if (!getMeta(sql, "registered")) {
      await env.USER_DIRECTORY.getByName(DIRECTORY_NAME).register(userId);
      setMeta(sql, "registered", "1");
    }
    for (
      let pending = pendingOutboxRevisions(sql, OUTBOX_BATCH);
      pending.length > 0;
      pending = pendingOutboxRevisions(sql, OUTBOX_BATCH)
    ) {
      const first = pending[0]!;
      const last = pending[pending.length - 1]!;
      const wanted = new Set(pending);
      // Messages are built from the stream at send time, so an erasure also reaches unsent ones.
      const events = readEvents(sql, userId, first, last - first + 1).filter((e) => wanted.has(e.revision));
      for (const chunk of bySize(events.map(redact))) {
        await env.EVENTS.sendBatch(chunk.map((body) => ({ body, contentType: "json" as const })));
        deleteOutboxThrough(sql, chunk[chunk.length - 1]!.revision);
      }
    }
    if (failures > 0) setMeta(sql, "flush_failures", "0");
    const now = Date.now();
    if (now - Number(getMeta(sql, "pruned_at") ?? 0) > PRUNE_EVERY_MS) {
      pruneIdempotencyRecords(sql, now);
      setMeta(sql, "pruned_at", String(now));
    }
  } catch (error) {
    setMeta(sql, "flush_failures", String(failures + 1));
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** failures);
    console.warn(
      JSON.stringify({
        msg: "outbox flush failed, retrying",
        userId,
        failures: failures + 1,
        delay,
        error: String(error),
      }),
    );
    await ctx.storage.setAlarm(Date.now() + delay);
  }
}

/** Consecutive runs of messages that fit one `sendBatch` by size (events can reach a few KB each). */
function bySize(messages: PublicEvent[]): PublicEvent[][] {
  const chunks: PublicEvent[][] = [];
  let size = 0;
  for (const message of messages) {
    const bytes = encoder.encode(JSON.stringify(message)).length;
    const current = chunks[chunks.length - 1];
    if (!current || size + bytes > BATCH_BYTES) {
      chunks.push([message]);
      size = bytes;
    } else {
      current.push(message);
      size += bytes;
    }
  }
  return chunks;
}
