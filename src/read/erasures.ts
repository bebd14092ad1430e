import { entryOf, type ErasureEntry } from "../domain/erasure-ledger";
import type { PublicEvent } from "../domain/events";
import { log } from "../observability";
import { erasureLedger, userStream } from "../objects";
import type { UserStreamRead } from "./projections";

/**
 * The paths that write the erasure ledger and those that read it to re-apply an erasure
 * (docs/decisions/0022-erasure-ledger.md). Writing: the erase route once its command committed,
 * and the projector for every USER_ERASED it projects (the guarantee: the outbox keeps the event
 * until the read side confirms it, so every committed erasure, imported or by the retention cron
 * included, reaches the ledger). Reading: the import, the rebuild and replay, and the redrive.
 */

/** The reason recorded in a USER_ERASED the ledger puts back into a stream restored to before it. */
export const REAPPLIED_REASON = "erasure ledger: re-applied";

/** Records the erasures among these events (none: no call). Throws if the ledger cannot be reached. */
export async function recordErasures(env: Env, events: readonly PublicEvent[]): Promise<void> {
  const entries = events.map(entryOf).filter((entry): entry is ErasureEntry => entry !== null);
  if (entries.length > 0) await erasureLedger(env).record(entries);
}

/**
 * Right after an erase command committed: its event into the ledger before the answer goes out. Best
 * effort: the erasure is committed, and the projector records it anyway when it projects it.
 */
export async function recordErasureAt(env: Env, userId: string, revision: number): Promise<void> {
  try {
    await recordErasures(env, await userStream(env, userId).readStream(revision, 1));
  } catch (error) {
    log("warn", "erasure ledger: not recorded at the erasure; the projector will", {
      user_id: userId,
      error: String(error),
    });
  }
}

/** The ledger's entries of those of these users that are erased, by user id. */
export async function erasedAmong(env: Env, userIds: readonly string[]): Promise<Map<string, ErasureEntry>> {
  if (userIds.length === 0) return new Map();
  const entries = await erasureLedger(env).among([...userIds]);
  return new Map(entries.map((entry) => [entry.user_id, entry]));
}

/**
 * Before a rebuild or a replay projects these streams: erasures they hold go on record (so the
 * ledger also learns of erasures made before it existed), and a stream the ledger lists as erased
 * that holds no USER_ERASED (its object was restored to a point before the erasure) is erased again
 * through its object, like the retention cron's erasure; its stream is read again. Returns the
 * streams to project. `erased`: the ledger's entries for the streams' users, when already asked.
 */
export async function reapplyErasures(
  env: Env,
  streams: UserStreamRead[],
  read: (userId: string) => Promise<PublicEvent[]>,
  erased?: ReadonlyMap<string, ErasureEntry>,
): Promise<UserStreamRead[]> {
  await recordErasures(
    env,
    streams.flatMap((s) => s.events.filter((e) => e.event_type === "USER_ERASED")),
  );
  const unerased = streams.filter((s) => s.events.length > 0 && !s.events.some((e) => e.event_type === "USER_ERASED"));
  const among =
    erased ??
    (await erasedAmong(
      env,
      unerased.map((s) => s.userId),
    ));
  const listed = new Map(unerased.filter((s) => among.has(s.userId)).map((s) => [s.userId, among.get(s.userId)!]));
  if (listed.size === 0) return streams;
  const again = new Map<string, PublicEvent[]>();
  for (const [userId, entry] of listed) {
    const result = await userStream(env, userId).execute({
      userId,
      input: { type: "EraseUser" },
      metadata: {
        actor_id: null,
        actor_username: null,
        request_id: entry.request_id,
        idempotency_key: null,
        reason: REAPPLIED_REASON,
      },
    });
    // Not ok only if it is erased by now (a concurrent erasure): either way its stream is read again.
    log("warn", "erasure ledger: re-applied an erasure to a stream restored to before it", {
      user_id: userId,
      erased: result.ok,
    });
    again.set(userId, await read(userId));
  }
  return streams.map((s) => (again.has(s.userId) ? { userId: s.userId, events: again.get(s.userId)! } : s));
}

/**
 * The dead-letter queue's messages, less those holding an event from before the erasure of a user
 * the ledger lists: such an event is as it was published, personal fields included, so it is acked
 * without being kept (the projector skips it anyway: its checkpoint is past it). The erasure's own
 * event, and anything after it, is kept as any letter. Throws if the ledger cannot be reached: the
 * batch is retried rather than recorded unchecked.
 */
export async function withoutErasedUsers(env: Env, messages: readonly Message<unknown>[]): Promise<Message<unknown>[]> {
  const eventOf = (message: Message<unknown>) => {
    const body = message.body as { aggregate_id?: unknown; revision?: unknown } | null;
    const userId = typeof body?.aggregate_id === "string" ? body.aggregate_id : null;
    return { userId, revision: typeof body?.revision === "number" ? body.revision : 0 };
  };
  const userIds = messages.map((m) => eventOf(m).userId).filter((id): id is string => id !== null);
  const erased = await erasedAmong(env, [...new Set(userIds)]);
  return messages.filter((message) => {
    const { userId, revision } = eventOf(message);
    const entry = userId === null ? undefined : erased.get(userId);
    if (!entry || revision >= entry.revision) return true;
    log("info", "erasure ledger: dead letter of an erased user not kept", { user_id: userId, message_id: message.id });
    message.ack();
    return false;
  });
}
