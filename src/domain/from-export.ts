/**
 * Turns a user's stream as `GET /admin/users/{id}/stream` exports it (NDJSON, one redacted event per
 * line) back into domain input, so a production incident becomes a unit test:
 *
 *   given(...historyFromExport(ndjson)).when({ type: "UpdateUser", first_name: "X" }).rejects({ … });
 *   fold(eventsFromExport(ndjson))   // the user exactly as the exported stream makes it
 *
 * Exports never carry `password_hash`; events that need one get REDACTED_PASSWORD_HASH instead.
 * Lines of an older schema version are lifted by the domain's own upcasters, as the store does.
 * Pure: no I/O, so any test layer can use it, and so can the console's "make a test from this"
 * (`export-to-test.ts`), which is why it lives in src.
 */
import { PublicEventSchema, RecordedEvent, UserEvent } from "./events";
import { upcast } from "./upcasters";
import { fold, type UserState } from "./user";

/** Stands in for the hash an export redacts: no password verifies against it. */
export const REDACTED_PASSWORD_HASH = "redacted-in-export";

const NEEDS_PASSWORD_HASH: ReadonlySet<string> = new Set(["USER_CREATED", "PASSWORD_CHANGED", "PASSWORD_REHASHED"]);

/** The exported stream as recorded events (envelopes kept: ids, times, revisions, metadata). */
export function eventsFromExport(ndjson: string): RecordedEvent[] {
  const lines = ndjson.split("\n").filter((line) => line.trim() !== "");
  return lines.map((line, index) => {
    const exported = PublicEventSchema.parse(JSON.parse(line));
    if (exported.revision !== index + 1) {
      throw new Error(`export line ${index + 1} holds revision ${exported.revision}: not a whole stream in order`);
    }
    const data: Record<string, unknown> = { ...exported.data };
    if (NEEDS_PASSWORD_HASH.has(exported.event_type) && !("password_hash" in data)) {
      data.password_hash = REDACTED_PASSWORD_HASH;
    }
    const lifted = upcast(exported.event_type, exported.version, data, exported.metadata);
    return RecordedEvent.parse({ ...exported, version: lifted.version, data: lifted.data });
  });
}

/** The exported stream as the plain events `given(...)` of decider-spec takes. */
export function historyFromExport(ndjson: string): UserEvent[] {
  return eventsFromExport(ndjson).map((event) => UserEvent.parse({ event_type: event.event_type, data: event.data }));
}

/** The state the exported stream folds to. */
export function stateFromExport(ndjson: string): UserState {
  return fold(eventsFromExport(ndjson));
}
