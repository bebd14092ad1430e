import { eventSchemas, type EventMetadata, type RecordedEvent, type UserEvent } from "../domain/events";

/** Plain synchronous functions over the object's SQLite: call them inside one `transactionSync`. */

interface EventRow extends Record<string, SqlStorageValue> {
  revision: number;
  id: string;
  event_type: string;
  version: number;
  timestamp: string;
  data: string;
  metadata: string;
}

export function readEvents(
  sql: SqlStorage,
  aggregateId: string,
  fromRevision = 1,
  limit = Number.MAX_SAFE_INTEGER,
): RecordedEvent[] {
  return sql
    .exec<EventRow>(
      "SELECT * FROM events WHERE revision >= ? ORDER BY revision LIMIT ?",
      fromRevision,
      limit,
    )
    .toArray()
    .map((row) => toRecordedEvent(row, aggregateId));
}

// Rows were validated on the way in; parsing them again on every cold start would cost more than
// the whole fold. Old schema versions are lifted here when an event's shape changes.
function toRecordedEvent(row: EventRow, aggregateId: string): RecordedEvent {
  return {
    id: row.id,
    aggregate_id: aggregateId,
    event_type: row.event_type,
    version: row.version,
    timestamp: row.timestamp,
    revision: row.revision,
    data: JSON.parse(row.data) as unknown,
    metadata: JSON.parse(row.metadata) as unknown,
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
  return events.map(
    (event, index) =>
      ({
        ...event,
        id: ids[index] ?? "",
        aggregate_id: aggregateId,
        version: eventSchemas[event.event_type].version,
        timestamp,
        revision: fromRevision + index + 1,
        metadata,
      }),
  );
}

export function append(sql: SqlStorage, event: RecordedEvent, outboxMessage: string, now: number) {
  sql.exec(
    "INSERT INTO events (revision, id, event_type, version, timestamp, data, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
    event.revision,
    event.id,
    event.event_type,
    event.version,
    event.timestamp,
    JSON.stringify(event.data),
    JSON.stringify(event.metadata),
  );
  sql.exec("INSERT INTO outbox (revision, message, created_at) VALUES (?, ?, ?)", event.revision, outboxMessage, now);
}

export function readOutbox(sql: SqlStorage, limit: number) {
  return sql
    .exec<{ revision: number; message: string }>(
      "SELECT revision, message FROM outbox ORDER BY revision LIMIT ?",
      limit,
    )
    .toArray();
}

export function deleteOutboxThrough(sql: SqlStorage, revision: number) {
  sql.exec("DELETE FROM outbox WHERE revision <= ?", revision);
}

export function outboxBacklog(sql: SqlStorage) {
  return sql
    .exec<{ size: number; oldest: number | null }>("SELECT COUNT(*) AS size, MIN(created_at) AS oldest FROM outbox")
    .one();
}

export function getMeta(sql: SqlStorage, key: string): string | null {
  return sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
}

export function setMeta(sql: SqlStorage, key: string, value: string) {
  sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
}
