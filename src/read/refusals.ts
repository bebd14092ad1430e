import { and, desc, eq, gte, lte, sql, type SQL } from "drizzle-orm";
import { decodeCursorKey, encodeCursorKey } from "./cursor";
import { drizzle } from "drizzle-orm/d1";
import { refusals, type RefusalRow } from "./schema";

/**
 * The refusals journal (docs/decisions/0021-refusals-journal.md): refused commands, in D1, outside
 * every user's stream. Bounded per actor and per target and hour: the counters and the row are
 * written in one D1 batch (one transaction, and D1 runs one at a time), so concurrent refusals
 * cannot slip past a cap together.
 */

export interface Refusal {
  at: string;
  /** The token's user id, or `anonymous` for a command without a valid token. */
  actorId: string;
  targetId: string | null;
  command: string;
  status: number;
  reason: string;
  requestId: string;
}

export interface RefusalCaps {
  perActor: number;
  perTarget: number;
}

/** The hour a refusal is counted in: its `window_start`. */
export function windowOf(at: string): string {
  return `${at.slice(0, 13)}:00:00.000Z`;
}

const COUNT_ACTOR = `INSERT INTO refusal_windows (kind, key, window_start, seen, cap) VALUES ('actor', ?1, ?2, 1, ?3)
  ON CONFLICT (kind, key, window_start) DO UPDATE SET seen = seen + 1, cap = excluded.cap`;

const SEEN = (kind: "actor" | "target", key: string, window: string) =>
  `(SELECT seen FROM refusal_windows WHERE kind = '${kind}' AND key = ${key} AND window_start = ${window})`;

// The target is counted only while its actor is within its cap: an actor past it (an attacker
// aiming at ever new ids) adds no counter rows either.
const COUNT_TARGET = `INSERT INTO refusal_windows (kind, key, window_start, seen, cap)
  SELECT 'target', ?1, ?2, 1, ?3 WHERE ${SEEN("actor", "?4", "?2")} <= ?5
  ON CONFLICT (kind, key, window_start) DO UPDATE SET seen = seen + 1, cap = excluded.cap`;

const KEEP = `INSERT INTO refusals (at, actor_id, target_id, command, status, reason, request_id)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
  WHERE ${SEEN("actor", "?2", "?8")} <= ?9 AND (?3 IS NULL OR ${SEEN("target", "?3", "?8")} <= ?10)`;

/** Counts the refusal, and keeps it if its actor and target are within their caps. Returns whether it was kept. */
export async function journalRefusal(db: D1Database, refusal: Refusal, caps: RefusalCaps): Promise<boolean> {
  const window = windowOf(refusal.at);
  const statements = [db.prepare(COUNT_ACTOR).bind(refusal.actorId, window, caps.perActor)];
  if (refusal.targetId !== null) {
    statements.push(
      db.prepare(COUNT_TARGET).bind(refusal.targetId, window, caps.perTarget, refusal.actorId, caps.perActor),
    );
  }
  statements.push(
    db
      .prepare(KEEP)
      .bind(
        refusal.at,
        refusal.actorId,
        refusal.targetId,
        refusal.command,
        refusal.status,
        refusal.reason,
        refusal.requestId,
        window,
        caps.perActor,
        caps.perTarget,
      ),
  );
  const results = await db.batch(statements);
  return (results[results.length - 1]?.meta.changes ?? 0) > 0;
}

export interface RefusalFilters {
  /** The target user. */
  userId?: string | undefined;
  actor?: string | undefined;
  requestId?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  cursor?: RefusalCursor | undefined;
}

/** Where a page ended: the (at, id) of its last entry, the journal's order. */
export interface RefusalCursor {
  at: string;
  id: number;
}

/**
 * Refusals newest first by (at, id), each filter served by an index ending in that order; one row
 * more than asked tells whether a next page exists.
 */
export async function queryRefusals(
  db: D1Database,
  filters: RefusalFilters,
): Promise<{ rows: RefusalRow[]; next: RefusalCursor | null }> {
  const where: (SQL | undefined)[] = [
    filters.userId ? eq(refusals.targetId, filters.userId) : undefined,
    filters.actor ? eq(refusals.actorId, filters.actor) : undefined,
    filters.requestId ? eq(refusals.requestId, filters.requestId) : undefined,
    filters.from ? gte(refusals.at, filters.from) : undefined,
    filters.to ? lte(refusals.at, filters.to) : undefined,
    filters.cursor ? sql`(${refusals.at}, ${refusals.id}) < (${filters.cursor.at}, ${filters.cursor.id})` : undefined,
  ];
  const rows = await drizzle(db)
    .select()
    .from(refusals)
    .where(and(...where))
    .orderBy(desc(refusals.at), desc(refusals.id))
    .limit(filters.limit + 1);
  const page = rows.slice(0, filters.limit);
  const last = page[page.length - 1];
  return {
    rows: page,
    next: rows.length > filters.limit && last ? { at: last.at, id: last.id } : null,
  };
}

/**
 * How many refusals of the filtered actor and target (all, without either filter) were only
 * counted, not kept, in the hours the range touches. An actor's refusals past its cap are not
 * counted against their targets: filtered by target alone, those are not in the number.
 */
export async function suppressedRefusals(
  db: D1Database,
  filters: Pick<RefusalFilters, "userId" | "actor" | "from" | "to">,
): Promise<number> {
  const keys: [string, string][] = [];
  if (filters.actor) keys.push(["actor", filters.actor]);
  if (filters.userId) keys.push(["target", filters.userId]);
  const byKey = keys.length > 0 ? `AND (${keys.map(() => "(kind = ? AND key = ?)").join(" OR ")})` : "";
  const row = await db
    .prepare(
      `SELECT COALESCE(SUM(MAX(seen - cap, 0)), 0) AS suppressed FROM refusal_windows
       WHERE window_start >= ? AND window_start <= ? ${byKey}`,
    )
    .bind(filters.from ? windowOf(filters.from) : "", filters.to ?? "9999", ...keys.flat())
    .first<{ suppressed: number }>();
  return row?.suppressed ?? 0;
}

export function encodeRefusalCursor(cursor: RefusalCursor): string {
  return encodeCursorKey([cursor.at, cursor.id]);
}

/** The cursor of `encodeRefusalCursor`, or null when it is not one. */
export function decodeRefusalCursor(text: string): RefusalCursor | null {
  const [at, id] = decodeCursorKey(text) ?? [];
  if (typeof at !== "string" || !Number.isSafeInteger(id)) return null;
  return { at, id: id as number };
}

/** Rows deleted per table and sweep at most: a cron run stays short; the next one goes on. */
const PER_SWEEP = 5_000;
const DAY_MS = 86_400_000;

/** Deletes refusals and counters older than `retentionDays` (by the cron). Returns the refusals deleted. */
export async function sweepRefusals(db: D1Database, retentionDays: number, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - retentionDays * DAY_MS).toISOString();
  const [deleted] = await db.batch([
    db
      .prepare(`DELETE FROM refusals WHERE id IN (SELECT id FROM refusals WHERE at < ? ORDER BY at LIMIT ${PER_SWEEP})`)
      .bind(cutoff),
    db
      .prepare(
        `DELETE FROM refusal_windows WHERE rowid IN
         (SELECT rowid FROM refusal_windows WHERE window_start < ? LIMIT ${PER_SWEEP})`,
      )
      .bind(windowOf(cutoff)),
  ]);
  return deleted?.meta.changes ?? 0;
}
