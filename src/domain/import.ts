import { z } from "zod";
import { EventMetadata, UserEvent, eventSchemas, type EventType, type RecordedEvent } from "./events";
import { commandCouldProduce, eventShapeProblem } from "./import-gate";
import { readPasswordHash } from "./password-hash";
import { upcast } from "./upcasters";
import { fold, type UserState } from "./user";

/**
 * Import: lines of our own export, or rows of the reference implementation's `user_event_stream`,
 * become events of our streams with their ids, revisions and times. An event is stored at the schema
 * version it comes with and lifted by the upcasters on every read, like any other stored event.
 */

/** An event as it will be stored: its data at its own schema version, not necessarily the current. */
export interface StoredEvent {
  id: string;
  aggregate_id: string;
  event_type: EventType;
  version: number;
  timestamp: string;
  revision: number;
  data: Record<string, unknown>;
  metadata: EventMetadata;
}

/** A row of the reference's `user_event_stream` exactly as PostgreSQL's `row_to_json` writes it. */
const ReferenceRow = z.object({
  id: z.uuid(),
  aggregate_id: z.uuid(),
  event_type: z.enum(["USER_CREATED", "USER_UPDATED", "USER_DELETED", "PASSWORD_CHANGED"]),
  timestamp: z.string(),
  version: z.union([z.string().regex(/^\d+$/), z.number().int()]).transform(Number),
  revision: z.number().int().min(1),
  data: z.record(z.string(), z.unknown()),
  created_at: z.string().optional(),
  updated_at: z.string().optional(),
});

/** A line of `GET /admin/export`: the contract's `Event`. */
const ExportedEvent = z.object({
  id: z.uuid(),
  aggregate_id: z.uuid(),
  event_type: z.enum(Object.keys(eventSchemas) as [EventType, ...EventType[]]),
  version: z.number().int().min(1),
  timestamp: z.string(),
  revision: z.number().int().min(1),
  data: z.record(z.string(), z.unknown()),
  metadata: EventMetadata,
});

export type ImportedLine = { ok: true; event: StoredEvent } | { ok: false; error: string };

export interface ImportContext {
  /** The import request's id, recorded in each event's metadata. */
  importRequestId: string;
  /** An ISO 8601 time with any offset as the store keeps times (`…T…:…:….sssZ`); null if unreadable. */
  instant(text: string): string | null;
}

/** One parsed NDJSON line, of either kind, as the event it will be stored as. */
export function importLine(value: unknown, context: ImportContext): ImportedLine {
  const isOurs = typeof value === "object" && value !== null && "metadata" in value;
  return isOurs ? fromExport(value, context) : fromReference(value, context);
}

function fromReference(value: unknown, context: ImportContext): ImportedLine {
  const parsed = ReferenceRow.safeParse(value);
  if (!parsed.success) return { ok: false, error: `not a user_event_stream row: ${describe(parsed.error)}` };
  const row = parsed.data;
  // The reference writes "unchanged" as null; our events leave the field out.
  const data = Object.fromEntries(Object.entries(row.data).filter(([, v]) => v !== null));
  if (row.event_type === "USER_CREATED" && typeof data.role === "string") data.role = data.role.toLowerCase();
  return checked(
    {
      id: row.id,
      aggregate_id: row.aggregate_id,
      event_type: row.event_type,
      version: row.version,
      timestamp: row.timestamp,
      revision: row.revision,
      data,
      // The reference records no actor, request or reason: only that the event was imported.
      metadata: {
        actor_id: null,
        actor_username: null,
        request_id: null,
        idempotency_key: null,
        reason: null,
        import_request_id: context.importRequestId,
      },
    },
    context,
  );
}

function fromExport(value: unknown, context: ImportContext): ImportedLine {
  const parsed = ExportedEvent.safeParse(value);
  if (!parsed.success) return { ok: false, error: `not an exported event: ${describe(parsed.error)}` };
  const event = parsed.data;
  return checked({ ...event, metadata: { ...event.metadata, import_request_id: context.importRequestId } }, context);
}

/** The event must read, once lifted to the current version, as a valid event of its type. */
function checked(event: StoredEvent, context: ImportContext): ImportedLine {
  const timestamp = context.instant(event.timestamp);
  if (!timestamp) return { ok: false, error: `unreadable timestamp ${JSON.stringify(event.timestamp)}` };
  const current = eventSchemas[event.event_type].version;
  if (event.version > current) {
    return { ok: false, error: `${event.event_type} version ${event.version} is newer than this service's ${current}` };
  }
  const needsHash = ["USER_CREATED", "PASSWORD_CHANGED", "PASSWORD_REHASHED"].includes(event.event_type);
  if (needsHash && typeof event.data.password_hash !== "string") {
    return { ok: false, error: "data.password_hash is missing: only an export made with ?secrets=include imports" };
  }
  const hash = needsHash ? readPasswordHash(event.data.password_hash as string) : null;
  if (hash && !hash.ok) return { ok: false, error: `data.password_hash refused: ${hash.problem}` };
  const stored = { ...event, timestamp };
  const valid = UserEvent.safeParse({ event_type: stored.event_type, data: lift(stored).data });
  if (!valid.success) return { ok: false, error: `invalid ${event.event_type}: ${describe(valid.error)}` };
  const shape = eventShapeProblem(lift(stored));
  if (shape) return { ok: false, error: `invalid ${event.event_type}: ${shape}` };
  return { ok: true, event: stored };
}

/** The stored event as every reader sees it: lifted to the current schema version. */
export function lift(event: StoredEvent): RecordedEvent {
  const { version, data } = upcast(event.event_type, event.version, event.data, event.metadata);
  return { ...event, version, data } as RecordedEvent;
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join(".") || "line"}: ${issue.message}`)
    .join("; ");
}

export type ImportPlan =
  | { ok: true; append: StoredEvent[]; skipped: number; after: UserState }
  | { ok: false; error: string; event: StoredEvent };

/** What the stream is, beyond its state, and what the operator allowed. */
export interface ImportTarget {
  /** The stream's first event carries `metadata.import_request_id`: an import made it (or it is empty). */
  createdByImport: boolean;
  /** The operator's explicit `?onto_existing=allow`: events may be added to a stream a command created. */
  ontoExisting: boolean;
}

/** An empty stream, or one an earlier import created: what an import may always add to. */
export const IMPORTED_STREAM: ImportTarget = { createdByImport: true, ontoExisting: false };

/** Whether a stream whose first event is `first` (undefined: none) was created by an import. */
export function createdByImport(first: { metadata: EventMetadata } | undefined): boolean {
  return first === undefined || first.metadata.import_request_id !== undefined;
}

/**
 * What one user's imported events do to its stream, given the stream's state and what it already
 * holds (`storedIdAt`: the event id at each revision the lines name; `revisionOfId`: the revision of
 * each id the lines carry, if stored). Events already there are skipped; the rest must continue the
 * stream without a gap and each be one a command could have made from the state before it
 * (`commandCouldProduce`). A stream a command created (`target`) takes no imported event unless the
 * operator allowed it. All or nothing per user.
 */
export function planImport(
  state: UserState,
  events: readonly StoredEvent[],
  storedIdAt: ReadonlyMap<number, string>,
  revisionOfId: ReadonlyMap<string, number>,
  target: ImportTarget = IMPORTED_STREAM,
): ImportPlan {
  const sorted = [...events].sort((a, b) => a.revision - b.revision);
  const append: StoredEvent[] = [];
  const seen = new Map<number, string>();
  const seenIds = new Map<string, number>();
  let skipped = 0;
  for (const event of sorted) {
    const sameId = seenIds.get(event.id);
    if (sameId !== undefined && sameId !== event.revision) {
      return conflict(event, `event ${event.id} appears as revision ${sameId} and ${event.revision}`);
    }
    seenIds.set(event.id, event.revision);
    const twin = seen.get(event.revision);
    if (twin !== undefined) {
      if (twin === event.id) {
        skipped += 1;
        continue;
      }
      return conflict(event, `revision ${event.revision} appears twice, as events ${twin} and ${event.id}`);
    }
    seen.set(event.revision, event.id);
    const storedAt = revisionOfId.get(event.id);
    if (storedAt === event.revision) {
      skipped += 1;
      continue;
    }
    if (storedAt !== undefined) {
      return conflict(event, `event ${event.id} is already revision ${storedAt} of this user, not ${event.revision}`);
    }
    const holder = storedIdAt.get(event.revision);
    if (holder !== undefined) {
      return conflict(event, `revision ${event.revision} already holds another event (${holder})`);
    }
    const expected = state.revision + append.length + 1;
    if (event.revision !== expected) {
      return conflict(
        event,
        `revision gap: the stream is at ${expected - 1}, this event is revision ${event.revision}`,
      );
    }
    append.push(event);
  }
  const first = append[0];
  if (first && state.revision > 0 && !target.createdByImport && !target.ontoExisting) {
    return conflict(
      first,
      "the stream was created by a command, not an import: an import adds to it only with ?onto_existing=allow",
    );
  }
  // Events before an erasure arrive with their personal data destroyed (`[erased]`), as exported.
  const erasedAt = append.find((event) => event.event_type === "USER_ERASED")?.revision ?? 0;
  let after = state;
  for (const event of append) {
    const lifted = lift(event);
    const exists = after.user !== null;
    if (lifted.event_type === "USER_CREATED" && exists) return conflict(event, "USER_CREATED on an existing user");
    if (lifted.event_type !== "USER_CREATED" && !exists)
      return conflict(event, `${event.event_type} before USER_CREATED`);
    const refused = commandCouldProduce(after, lifted, { erasedLater: event.revision < erasedAt });
    if (refused) return conflict(event, `revision ${event.revision}: ${refused}`);
    after = fold([lifted], after);
  }
  return { ok: true, append, skipped, after };
}

function conflict(event: StoredEvent, error: string): ImportPlan {
  return { ok: false, error, event };
}
