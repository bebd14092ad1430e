import type { FeedEvent } from "../read/feed";
import type { DeliveryQuery, DeliveryState, DeliveryView, SubscriptionStatus } from "./protocol";

/**
 * A subscription object's SQLite: its settings (one row), and one row per wanted event of the feed
 * (its delivery). Plain synchronous functions: call the writing ones inside one `transactionSync`.
 * The tables are created by `createTables`, on `create` only, so asking an unknown id about itself
 * stores nothing.
 */

export interface SettingsRow extends Record<string, SqlStorageValue> {
  id: string;
  kind: "webhook" | "mail";
  url: string | null;
  /** JSON array. */
  event_types: string;
  description: string | null;
  status: SubscriptionStatus;
  secret: string | null;
  /** Still signed with, beside `secret`, until `previous_until` (epoch ms): a rotation's grace period. */
  previous_secret: string | null;
  previous_until: number | null;
  /** Every feed event up to here has a delivery row or is not wanted: the ingest checkpoint. */
  checkpoint: number;
  /** The feed's end as last read, for the lag when D1 cannot be asked. */
  feed_end: number;
  created_at: string;
  updated_at: string;
  /** JSON `{at, status_code, ms}` of the latest attempt. */
  last_delivery: string | null;
  failing_since: string | null;
  /** 1 while D1's `subscriptions` row may be behind these settings. */
  mirror_dirty: number;
}

export interface DeliveryRow extends Record<string, SqlStorageValue> {
  event_id: string;
  position: number;
  user_id: string;
  event_type: string;
  event_at: string;
  /** The FeedEvent as JSON; null once delivered (nothing personal kept longer than needed). */
  event: string | null;
  state: DeliveryState;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: number | null;
}

export function tablesExist(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'settings'").toArray().length > 0;
}

export function createTables(sql: SqlStorage): void {
  sql.exec(`CREATE TABLE IF NOT EXISTS settings (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, url TEXT, event_types TEXT NOT NULL, description TEXT,
    status TEXT NOT NULL, secret TEXT, previous_secret TEXT, previous_until INTEGER,
    checkpoint INTEGER NOT NULL, feed_end INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    last_delivery TEXT, failing_since TEXT, mirror_dirty INTEGER NOT NULL DEFAULT 1)`);
  sql.exec(`CREATE TABLE IF NOT EXISTS deliveries (
    event_id TEXT PRIMARY KEY, position INTEGER NOT NULL UNIQUE, user_id TEXT NOT NULL,
    event_type TEXT NOT NULL, event_at TEXT NOT NULL, event TEXT, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT, next_attempt_at INTEGER)`);
  // Each user's oldest pending delivery (its head) and the state filters of the list.
  sql.exec("CREATE INDEX IF NOT EXISTS deliveries_by_user ON deliveries (user_id, state, position)");
  sql.exec("CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (state, position)");
}

export function readSettings(sql: SqlStorage): SettingsRow | null {
  return sql.exec<SettingsRow>("SELECT * FROM settings LIMIT 1").toArray()[0] ?? null;
}

export function insertSettings(sql: SqlStorage, row: SettingsRow): void {
  const columns = Object.keys(row);
  sql.exec(
    `INSERT INTO settings (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
    ...columns.map((c) => row[c] ?? null),
  );
}

/** Sets some settings (a change D1's row mirrors also sets `mirror_dirty`: the caller's part). */
export function updateSettings(sql: SqlStorage, patch: Partial<SettingsRow>): void {
  const columns = Object.keys(patch);
  if (columns.length === 0) return;
  sql.exec(`UPDATE settings SET ${columns.map((c) => `${c} = ?`).join(", ")}`, ...columns.map((c) => patch[c] ?? null));
}

/**
 * Records the wanted events of a page of the feed as pending deliveries (an event already known
 * keeps its row: ingesting twice is harmless) and moves the checkpoint.
 */
export function ingest(
  sql: SqlStorage,
  events: readonly FeedEvent[],
  checkpoint: number,
  feedEnd: number,
  now: number,
): void {
  for (const event of events) {
    sql.exec(
      `INSERT INTO deliveries (event_id, position, user_id, event_type, event_at, event, state, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING`,
      event.id,
      event.position,
      event.aggregate_id,
      event.event_type,
      event.timestamp,
      JSON.stringify(event),
      now,
    );
  }
  sql.exec("UPDATE settings SET checkpoint = MAX(checkpoint, ?), feed_end = MAX(feed_end, ?)", checkpoint, feedEnd);
}

/**
 * Up to `limit` users' oldest pending deliveries that are due (each the only one of its user that
 * may go now), in feed order, leaving out the users in `skip` (a round's busy and held-back users).
 */
export function dueHeads(sql: SqlStorage, now: number, skip: readonly string[], limit: number): DeliveryRow[] {
  return sql
    .exec<DeliveryRow>(
      `SELECT d.* FROM deliveries d
       WHERE d.state = 'pending' AND d.next_attempt_at <= ?
         AND d.position = (SELECT MIN(p.position) FROM deliveries p WHERE p.user_id = d.user_id AND p.state = 'pending')
         AND d.user_id NOT IN (SELECT value FROM json_each(?))
       ORDER BY d.position LIMIT ?`,
      now,
      JSON.stringify(skip),
      limit,
    )
    .toArray();
}

/** The users with a pending delivery after `position`: what a replay from there may send again. */
export function usersPendingAfter(sql: SqlStorage, position: number): string[] {
  return sql
    .exec<{ user_id: string }>(
      "SELECT DISTINCT user_id FROM deliveries WHERE state = 'pending' AND position > ?",
      position,
    )
    .toArray()
    .map((row) => row.user_id);
}

/** When the earliest user's head is due (null: nothing pending). */
export function nextDueAt(sql: SqlStorage): number | null {
  const [row] = sql
    .exec<{ at: number | null }>(
      `SELECT MIN(d.next_attempt_at) AS at FROM deliveries d
       WHERE d.state = 'pending'
         AND d.position = (SELECT MIN(p.position) FROM deliveries p WHERE p.user_id = d.user_id AND p.state = 'pending')`,
    )
    .toArray();
  return row?.at ?? null;
}

export function finishDelivery(
  sql: SqlStorage,
  eventId: string,
  result: { state: DeliveryState; status: number | null; error: string | null; nextAttemptAt: number | null },
): void {
  sql.exec(
    `UPDATE deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?, next_attempt_at = ?,
       event = CASE WHEN ? = 'delivered' THEN NULL ELSE event END
     WHERE event_id = ? AND state = 'pending'`,
    result.state,
    result.status,
    result.error,
    result.nextAttemptAt,
    result.state,
    eventId,
  );
}

/** Every feed event up to the returned position is delivered, dead or not wanted. */
export function position(sql: SqlStorage, checkpoint: number): number {
  const [row] = sql
    .exec<{ p: number | null }>("SELECT MIN(position) AS p FROM deliveries WHERE state = 'pending'")
    .toArray();
  return row?.p == null ? checkpoint : Math.min(checkpoint, row.p - 1);
}

export function oldestUndeliveredAt(sql: SqlStorage): string | null {
  const [row] = sql
    .exec<{ at: string | null }>("SELECT MIN(event_at) AS at FROM deliveries WHERE state = 'pending'")
    .toArray();
  return row?.at ?? null;
}

/**
 * Replay: forgets what was delivered or dead after `from`, so ingesting again makes them pending
 * with the same event ids; pending rows stay as they are (their attempts go on).
 */
export function rewind(sql: SqlStorage, from: number): void {
  sql.exec("DELETE FROM deliveries WHERE position > ? AND state != 'pending'", from);
  sql.exec("UPDATE settings SET checkpoint = ?", from);
}

/** Makes one delivery pending and due now, with its attempts counted afresh; false if unknown. */
export function requeue(sql: SqlStorage, eventId: string, now: number): boolean {
  const result = sql.exec(
    `UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ? WHERE event_id = ? AND event IS NOT NULL`,
    now,
    eventId,
  );
  return result.rowsWritten > 0;
}

/** Requeue of a delivered row, whose event was dropped: the caller brings the event back from the feed. */
export function restoreEvent(sql: SqlStorage, event: FeedEvent): void {
  sql.exec("UPDATE deliveries SET event = ? WHERE event_id = ?", JSON.stringify(event), event.id);
}

/** Positions of the user's deliveries that still hold their event (pending or dead: a sent one drops it). */
export function heldPositions(sql: SqlStorage, userId: string): number[] {
  return sql
    .exec<{ position: number }>("SELECT position FROM deliveries WHERE user_id = ? AND event IS NOT NULL", userId)
    .toArray()
    .map((row) => row.position);
}

/** Each held event of `positions` replaced by the feed's row now (`events`), or dropped where the feed has none. */
export function replaceHeld(sql: SqlStorage, positions: readonly number[], events: readonly FeedEvent[]): void {
  const byPosition = new Map(events.map((event) => [event.position, event]));
  for (const position of positions) {
    const event = byPosition.get(position);
    sql.exec("UPDATE deliveries SET event = ? WHERE position = ?", event ? JSON.stringify(event) : null, position);
  }
}

export function deliveryRow(sql: SqlStorage, eventId: string): DeliveryRow | null {
  return sql.exec<DeliveryRow>("SELECT * FROM deliveries WHERE event_id = ?", eventId).toArray()[0] ?? null;
}

/** Newest first; `cursor` is the position of the previous page's last row. */
export function listDeliveries(sql: SqlStorage, query: DeliveryQuery): DeliveryRow[] {
  return sql
    .exec<DeliveryRow>(
      `SELECT * FROM deliveries WHERE (? IS NULL OR state = ?) AND (? IS NULL OR user_id = ?) AND position < ?
       ORDER BY position DESC LIMIT ?`,
      query.state ?? null,
      query.state ?? null,
      query.userId ?? null,
      query.userId ?? null,
      query.cursor ?? Number.MAX_SAFE_INTEGER,
      query.limit,
    )
    .toArray();
}

/** Delivered rows beyond the newest `keep` are forgotten: the list is for recent history, the feed keeps the rest. */
export function pruneDelivered(sql: SqlStorage, keep: number): void {
  sql.exec(
    `DELETE FROM deliveries WHERE state = 'delivered' AND position < (
       SELECT position FROM deliveries WHERE state = 'delivered' ORDER BY position DESC LIMIT 1 OFFSET ?)`,
    keep,
  );
}

export function deliveryView(row: DeliveryRow): DeliveryView {
  return {
    event_id: row.event_id,
    position: row.position,
    user_id: row.user_id,
    event_type: row.event_type,
    attempts: row.attempts,
    last_status: row.last_status,
    last_error: row.last_error,
    next_attempt_at:
      row.state === "pending" && row.next_attempt_at != null ? new Date(row.next_attempt_at).toISOString() : null,
    state: row.state,
  };
}
