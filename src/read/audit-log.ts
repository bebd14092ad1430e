import type { EventType } from "../domain/events";
import { decodeCursorKey, encodeCursorKey } from "./cursor";
import { and, desc, eq, gte, lte, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { bulk, JSON_IDS } from "./bulk";
import { auditLog, type AuditRow } from "./schema";

export interface AuditFilters {
  userId?: string | undefined;
  username?: string | undefined;
  email?: string | undefined;
  /** An actor's id (a UUID) or username. */
  actor?: string | undefined;
  eventType?: EventType | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  cursor?: AuditCursor | undefined;
}

/** Where a page ended: the (timestamp, user, revision) of its last entry, the log's order. */
export interface AuditCursor {
  timestamp: string;
  userId: string;
  revision: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Audit entries newest first, by (timestamp, user_id, revision) descending: every filter has an
 * index leading with it and ending in that order, names compared case-insensitively through
 * `lower()` indexes. Fetches one more than asked to know whether a next page exists.
 */
export async function queryAuditLog(
  db: D1Database,
  filters: AuditFilters,
): Promise<{ rows: AuditRow[]; next: AuditCursor | null }> {
  const where: (SQL | undefined)[] = [
    filters.userId ? eq(auditLog.userId, filters.userId) : undefined,
    filters.username ? sql`lower(${auditLog.username}) = lower(${filters.username})` : undefined,
    filters.email ? sql`lower(${auditLog.email}) = lower(${filters.email})` : undefined,
    filters.actor
      ? UUID.test(filters.actor)
        ? eq(auditLog.actorId, filters.actor.toLowerCase())
        : sql`lower(${auditLog.actorUsername}) = lower(${filters.actor})`
      : undefined,
    filters.eventType ? eq(auditLog.eventType, filters.eventType) : undefined,
    filters.from ? gte(auditLog.timestamp, filters.from) : undefined,
    filters.to ? lte(auditLog.timestamp, filters.to) : undefined,
    filters.cursor
      ? sql`(${auditLog.timestamp}, ${auditLog.userId}, ${auditLog.revision}) < (${filters.cursor.timestamp}, ${filters.cursor.userId}, ${filters.cursor.revision})`
      : undefined,
  ];
  const rows = await drizzle(db)
    .select()
    .from(auditLog)
    .where(and(...where))
    .orderBy(desc(auditLog.timestamp), desc(auditLog.userId), desc(auditLog.revision))
    .limit(filters.limit + 1);
  const page = rows.slice(0, filters.limit);
  const last = page[page.length - 1];
  return {
    rows: page,
    next:
      rows.length > filters.limit && last
        ? { timestamp: last.timestamp, userId: last.userId, revision: last.revision }
        : null,
  };
}

export function encodeCursor(cursor: AuditCursor): string {
  return encodeCursorKey([cursor.timestamp, cursor.userId, cursor.revision]);
}

/** The cursor of `encodeCursor`, or null when it is not one. */
export function decodeCursor(text: string): AuditCursor | null {
  const [timestamp, userId, revision] = decodeCursorKey(text) ?? [];
  if (typeof timestamp !== "string" || typeof userId !== "string" || !Number.isInteger(revision)) return null;
  return { timestamp, userId, revision: revision as number };
}

/**
 * The user whose stream holds each of these event ids, as far as the audit log knows (it has a row
 * per projected event, keyed by the event's id): an import checks that an id it brings is not
 * already another user's.
 */
export async function ownersOfEvents(db: D1Database, eventIds: readonly string[]): Promise<Map<string, string>> {
  const statements = bulk(db, `SELECT event_id, user_id FROM audit_log WHERE event_id IN ${JSON_IDS}`, eventIds);
  if (statements.length === 0) return new Map();
  const results = await db.batch<{ event_id: string; user_id: string }>(statements);
  return new Map(results.flatMap((result) => result.results.map((row) => [row.event_id, row.user_id] as const)));
}
