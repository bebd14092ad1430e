import type { EventMetadata } from "../domain/events";

/** Idempotency records live in the user's object, written in the same transaction as the events. */

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface IdempotencyRecord<T> {
  fingerprint: string;
  result: T;
}

export function findIdempotencyRecord<T>(sql: SqlStorage, key: string): IdempotencyRecord<T> | null {
  const row = sql
    .exec<{ fingerprint: string; result: string }>("SELECT fingerprint, result FROM idempotency WHERE key = ?", key)
    .toArray()[0];
  return row ? { fingerprint: row.fingerprint, result: JSON.parse(row.result) as T } : null;
}

export function saveIdempotencyRecord<T>(sql: SqlStorage, key: string, record: IdempotencyRecord<T>, now: number) {
  sql.exec(
    "INSERT INTO idempotency (key, fingerprint, result, created_at) VALUES (?, ?, ?, ?)",
    key,
    record.fingerprint,
    JSON.stringify(record.result),
    now,
  );
}

export function pruneIdempotencyRecords(sql: SqlStorage, now: number) {
  sql.exec("DELETE FROM idempotency WHERE created_at < ?", now - IDEMPOTENCY_TTL_MS);
}

/**
 * Keys are the caller's: the same key sent by an admin and then by the user is two requests, and
 * must never replay one caller's response to the other. The target is the object itself.
 */
export function scopedKey(metadata: EventMetadata, key: string): string {
  return `${metadata.actor_id ?? "anonymous"}\n${key}`;
}
