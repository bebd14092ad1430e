import {
  ERASED,
  PERSONAL_FIELDS,
  eventSchemas,
  type EventMetadata,
  type EventType,
  type RecordedEvent,
  type UserEvent,
} from "../domain/events";
import type { StoredEvent } from "../domain/import";
import { upcast } from "../domain/upcasters";

/**
 * Plain synchronous functions over the object's SQLite: call them inside one `transactionSync`.
 *
 * An event's personal fields (and the actor's username) are stored in `personal_data`, with a null
 * placeholder in the event row. The stream stays append-only; erasure deletes the vault rows, after
 * which the placeholders read as ERASED.
 */

/** A row of the `events` table. */
export interface EventTableRow extends Record<string, SqlStorageValue> {
  revision: number;
  id: string;
  event_type: string;
  version: number;
  timestamp: string;
  data: string;
  metadata: string;
}

/** An event row with its vault row (`personal`) joined in. */
interface EventRow extends EventTableRow {
  personal: string | null;
}

const SELECT_EVENTS = `SELECT e.*, p.data AS personal FROM events e LEFT JOIN personal_data p ON p.revision = e.revision`;
const ACTOR = "$actor_username";

export function readEvents(
  sql: SqlStorage,
  aggregateId: string,
  fromRevision = 1,
  limit = Number.MAX_SAFE_INTEGER,
  between: { from?: string | undefined; to?: string | undefined } = {},
): RecordedEvent[] {
  // Stored times are all `…T…:ss.sssZ`, so they compare as text.
  return sql
    .exec<EventRow>(
      `${SELECT_EVENTS} WHERE e.revision >= ? AND e.timestamp >= ? AND e.timestamp <= ? ORDER BY e.revision LIMIT ?`,
      fromRevision,
      between.from ?? "",
      between.to ?? "9999",
      limit,
    )
    .toArray()
    .map((row) => toRecordedEvent(row, aggregateId));
}

/** The events up to a revision or a time, whichever is given: the stream as it was then. */
export function readEventsUntil(
  sql: SqlStorage,
  aggregateId: string,
  until: { revision?: number | undefined; timestamp?: string | undefined },
): RecordedEvent[] {
  return sql
    .exec<EventRow>(
      `${SELECT_EVENTS} WHERE e.revision <= ? AND e.timestamp <= ? ORDER BY e.revision`,
      until.revision ?? Number.MAX_SAFE_INTEGER,
      until.timestamp ?? "9999",
    )
    .toArray()
    .map((row) => toRecordedEvent(row, aggregateId));
}

// Rows were validated on the way in; parsing them again with zod on every cold start would cost
// more than the whole fold. Old schema versions are lifted to the current one here.
function toRecordedEvent(row: EventRow, aggregateId: string): RecordedEvent {
  const personal = row.personal ? (JSON.parse(row.personal) as Record<string, string>) : {};
  const data = JSON.parse(row.data) as Record<string, unknown>;
  const metadata = JSON.parse(row.metadata) as EventMetadata;
  for (const field of PERSONAL_FIELDS) {
    if (field in data && data[field] === null) data[field] = personal[field] ?? ERASED;
  }
  if (metadata.actor_username === "") metadata.actor_username = personal[ACTOR] ?? ERASED;
  const eventType = row.event_type as EventType;
  const lifted = upcast(eventType, row.version, data, metadata);
  return {
    id: row.id,
    aggregate_id: aggregateId,
    event_type: eventType,
    version: lifted.version,
    timestamp: row.timestamp,
    revision: row.revision,
    data: lifted.data,
    metadata,
  } as RecordedEvent;
}

export interface NewEvents {
  aggregateId: string;
  fromRevision: number;
  events: UserEvent[];
  ids: string[];
  timestamp: string;
  metadata: EventMetadata;
}

/** Builds the envelopes of freshly decided events: ids and time come in, nothing is invented here. */
export function record({ aggregateId, fromRevision, events, ids, timestamp, metadata }: NewEvents): RecordedEvent[] {
  return events.map((event, index) => ({
    ...event,
    id: ids[index] ?? "",
    aggregate_id: aggregateId,
    version: eventSchemas[event.event_type].version,
    timestamp,
    revision: fromRevision + index + 1,
    metadata,
  }));
}

/**
 * Appends an event, its personal data to the vault, and its outbox row. `sentAt`: the row is
 * already handed to the publish that follows the commit (see `Publisher.claims`), so no second
 * write marks it once sent.
 */
export function append(sql: SqlStorage, event: StoredEvent, now: number, sentAt: number | null = null) {
  const data: Record<string, unknown> = { ...event.data };
  const personal: Record<string, unknown> = {};
  for (const field of PERSONAL_FIELDS) {
    if (field in data) {
      personal[field] = data[field];
      data[field] = null;
    }
  }
  // An empty actor_username marks "stored in the vault" (null means there was none).
  const metadata = { ...event.metadata };
  if (metadata.actor_username !== null) {
    personal[ACTOR] = metadata.actor_username;
    metadata.actor_username = "";
  }
  sql.exec(
    "INSERT INTO events (revision, id, event_type, version, timestamp, data, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
    event.revision,
    event.id,
    event.event_type,
    event.version,
    event.timestamp,
    JSON.stringify(data),
    JSON.stringify(metadata),
  );
  if (Object.keys(personal).length > 0) {
    sql.exec("INSERT INTO personal_data (revision, data) VALUES (?, ?)", event.revision, JSON.stringify(personal));
  }
  sql.exec("INSERT INTO outbox (revision, created_at, sent_at) VALUES (?, ?, ?)", event.revision, now, sentAt);
}

/**
 * Erasure: the subject's personal data in every event is destroyed, and with it every snapshot
 * holding copies. Who else acted on the subject (an admin's username) is not the subject's data and
 * stays, so the audit trail still names them.
 */
export function destroyPersonalData(sql: SqlStorage, subjectId: string) {
  const byOthers = `SELECT revision FROM events WHERE json_extract(metadata, '$.actor_id') IS NOT ?`;
  const actorName = `json_extract(data, '$."${ACTOR}"')`;
  sql.exec(
    `UPDATE personal_data SET data = json_object('${ACTOR}', ${actorName})
     WHERE ${actorName} IS NOT NULL AND revision IN (${byOthers})`,
    subjectId,
  );
  sql.exec(`DELETE FROM personal_data WHERE ${actorName} IS NULL OR revision NOT IN (${byOthers})`, subjectId);
  sql.exec("DELETE FROM snapshots");
}

/**
 * An outbox row: an event owed to the read side, `sent_at` null until it was first handed to a
 * send. A row handed over and never sent (the process died first) is owed like a sent message the
 * queue lost: the alarm re-publishes it once it is `REPUBLISH.baseMs` old.
 */
export interface OutboxRow extends Record<string, SqlStorageValue> {
  revision: number;
  created_at: number;
  sent_at: number | null;
}

export function outboxRows(sql: SqlStorage, which: "unsent" | "sent", limit: number): OutboxRow[] {
  const where = which === "unsent" ? "sent_at IS NULL" : "sent_at IS NOT NULL";
  return sql.exec<OutboxRow>(`SELECT * FROM outbox WHERE ${where} ORDER BY revision LIMIT ?`, limit).toArray();
}

export function markOutboxSent(sql: SqlStorage, revisions: number[], now: number) {
  for (const revision of revisions) sql.exec("UPDATE outbox SET sent_at = ? WHERE revision = ?", now, revision);
}

/** The send these rows were handed to failed or gave them up: the next flush sends them. */
export function markOutboxUnsent(sql: SqlStorage, revisions: readonly number[]) {
  for (const revision of revisions) sql.exec("UPDATE outbox SET sent_at = NULL WHERE revision = ?", revision);
}

/** The read side confirmed every revision up to this one: they are owed no more. */
export function deleteOutboxThrough(sql: SqlStorage, revision: number) {
  sql.exec("DELETE FROM outbox WHERE revision <= ?", revision);
}

/** Forgets one outbox row: its event will never be sent (it was dead-lettered instead). */
export function deleteOutboxRow(sql: SqlStorage, revision: number): void {
  sql.exec("DELETE FROM outbox WHERE revision = ?", revision);
}

export function outboxIsEmpty(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM outbox LIMIT 1").toArray().length === 0;
}

export function outboxBacklog(sql: SqlStorage) {
  return sql
    .exec<{ size: number; oldest: number | null }>("SELECT COUNT(*) AS size, MIN(created_at) AS oldest FROM outbox")
    .one();
}

export function getMeta(sql: SqlStorage, key: string): string | null {
  return sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
}

/** Several keys of `meta` in one statement: the ones present. */
export function getMetas(sql: SqlStorage, keys: readonly string[]): Map<string, string> {
  const rows = sql
    .exec<{ key: string; value: string }>(
      `SELECT key, value FROM meta WHERE key IN (${keys.map(() => "?").join(", ")})`,
      ...keys,
    )
    .toArray();
  return new Map(rows.map((row) => [row.key, row.value]));
}

export function setMeta(sql: SqlStorage, key: string, value: string) {
  sql.exec(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    key,
    value,
  );
}

/** Of the given events, which ids and which revisions the stream already holds (for an import). */
export function storedIds(
  sql: SqlStorage,
  events: readonly { id: string; revision: number }[],
): { storedIdAt: Map<number, string>; revisionOfId: Map<string, number> } {
  const storedIdAt = new Map<number, string>();
  const revisionOfId = new Map<string, number>();
  for (const event of events) {
    const rows = sql
      .exec<{ id: string; revision: number }>(
        "SELECT id, revision FROM events WHERE id = ? OR revision = ?",
        event.id,
        event.revision,
      )
      .toArray();
    for (const row of rows) {
      if (row.revision === event.revision) storedIdAt.set(row.revision, row.id);
      if (row.id === event.id) revisionOfId.set(row.id, row.revision);
    }
  }
  return { storedIdAt, revisionOfId };
}

export function deleteMeta(sql: SqlStorage, key: string) {
  sql.exec("DELETE FROM meta WHERE key = ?", key);
}
