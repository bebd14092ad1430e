import { z } from "zod";
import type { EventMetadata, PublicEvent } from "./events";
import type { StoredEvent } from "./import";

/**
 * The erasure ledger (docs/decisions/0022-erasure-ledger.md): one entry per erased user, kept apart
 * from everything a restore or an import brings back, so each of those paths can re-apply the
 * erasure. An entry names the erasure, never the person: no username, email, name or free-text
 * reason (an admin's reason may quote the request it answers).
 */

/** Why the user was erased, as a code: an admin's request, the retention of deleted users, or an import that carried the erasure. */
export const ErasureReason = z.enum(["request", "retention", "import"]);
export type ErasureReason = z.infer<typeof ErasureReason>;

export const ErasureEntry = z.object({
  user_id: z.string(),
  /** The USER_ERASED event's id and revision: an import re-applies that very event. */
  event_id: z.string(),
  revision: z.number().int().min(1),
  erased_at: z.string(),
  reason: ErasureReason,
  request_id: z.string().nullable(),
  /** The admin who erased (an id, not a name); null for the retention cron. */
  actor_id: z.string().nullable(),
});
export type ErasureEntry = z.infer<typeof ErasureEntry>;

/** The retention cron's reason (`src/read/retention.ts`), repeated here since the domain imports nothing of I/O. */
const RETENTION_REASON = "retention";

function reasonOf(metadata: EventMetadata): ErasureReason {
  if (metadata.import_request_id !== undefined) return "import";
  if (metadata.actor_id === null && metadata.reason === RETENTION_REASON) return "retention";
  return "request";
}

/** The ledger's entry for a USER_ERASED event as stored (or published); null for any other event. */
export function entryOf(
  event: Pick<PublicEvent, "event_type" | "aggregate_id" | "id" | "revision" | "timestamp" | "metadata">,
): ErasureEntry | null {
  if (event.event_type !== "USER_ERASED") return null;
  return {
    user_id: event.aggregate_id,
    event_id: event.id,
    revision: event.revision,
    erased_at: event.timestamp,
    reason: reasonOf(event.metadata),
    request_id: event.metadata.request_id,
    actor_id: event.metadata.actor_id,
  };
}

/** What the import does with the lines of a user the ledger lists. */
export type Reapplied = { ok: true; events: StoredEvent[] } | { ok: false; error: string; eventId: string | null };

/**
 * An import of a user the ledger lists as erased: its lines end with the erasure. A backup that
 * already holds the USER_ERASED event imports as it is (an erased backup). Otherwise the ledger's
 * USER_ERASED (its id, revision and time; its reason as the ledger's code, the admin's words are not
 * kept) is appended right after the lines, and the import applies it as it applies an imported
 * erasure: the personal data the lines bring is destroyed in the same transaction, before anything is
 * published. Lines that stop short of the erasure's revision (events between are missing) or go past
 * it without it (not a backup of this stream) are refused for the user: it stays erased.
 */
export function reapplyOnImport(
  events: readonly StoredEvent[],
  entry: ErasureEntry,
  importRequestId: string,
): Reapplied {
  if (events.some((event) => event.event_type === "USER_ERASED")) return { ok: true, events: [...events] };
  const last = events.reduce((max, event) => Math.max(max, event.revision), 0);
  const erased = `user ${entry.user_id} was erased at revision ${entry.revision} (erasure ledger)`;
  if (last >= entry.revision) {
    const past = events.find((event) => event.revision >= entry.revision);
    return {
      ok: false,
      error: `${erased}; these lines reach revision ${last} without the erasure: not imported, the user stays erased`,
      eventId: past?.id ?? null,
    };
  }
  if (last + 1 < entry.revision) {
    return {
      ok: false,
      error: `${erased}; these lines end at revision ${last}, so the erasure cannot follow them: not imported, the user stays erased`,
      eventId: events.find((event) => event.revision === last)?.id ?? null,
    };
  }
  const erasure: StoredEvent = {
    id: entry.event_id,
    aggregate_id: entry.user_id,
    event_type: "USER_ERASED",
    version: 1,
    timestamp: entry.erased_at,
    revision: entry.revision,
    data: {},
    metadata: {
      actor_id: entry.actor_id,
      actor_username: null,
      request_id: entry.request_id,
      idempotency_key: null,
      reason: `erasure ledger: ${entry.reason}`,
      import_request_id: importRequestId,
    },
  };
  return { ok: true, events: [...events, erasure] };
}
