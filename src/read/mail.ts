import { and, desc, eq, inArray, lt, or, sql } from "drizzle-orm";
import { decodeCursorKey, encodeCursorKey } from "./cursor";
import { drizzle } from "drizzle-orm/d1";
import { ERASED, type PublicEvent } from "../domain/events";
import { feed, sentEmails, type SentEmailRow } from "./schema";
import { statement } from "./statement";

export const WELCOME = "welcome";

/** The welcome mail's words, in one place: what is sent and what `sent_emails` records are the same. */
export function welcomeEmail(firstName: string): { subject: string; text: string } {
  return { subject: "Welcome!", text: `Hello ${firstName || "there"}, your account is ready.` };
}

/**
 * Whether the user `?1` is erased, as `DB` knows it: its row says so, or (the row living in another
 * read database, decision 0026) the audit log holds its USER_ERASED. The audit log commits in the
 * same batch as the erasure's clean-up of `sent_emails`, before the user's read database does.
 */
const ERASED_SQL = `(EXISTS (SELECT 1 FROM users WHERE id = ?1 AND status = 'erased')
  OR EXISTS (SELECT 1 FROM audit_log WHERE user_id = ?1 AND event_type = 'USER_ERASED'))`;

/**
 * What the mail sink must know before it sends, in one round trip to `DB`: whether the welcome is
 * already on record (a repeated delivery) and whether the user is erased by now (its address must
 * not be used).
 */
export async function welcomeState(db: D1Database, userId: string): Promise<{ sent: boolean; erased: boolean }> {
  const row = await db
    .prepare(
      `SELECT EXISTS (SELECT 1 FROM sent_emails WHERE user_id = ?1 AND kind = '${WELCOME}') AS sent,
        ${ERASED_SQL} AS erased`,
    )
    .bind(userId)
    .first<{ sent: number; erased: number }>();
  return { sent: row?.sent === 1, erased: row?.erased === 1 };
}

/**
 * Records a mail the binding took. Once per (user, kind): a second record of a mail sent twice (a
 * retry after a lost record) changes nothing. The same transaction blanks it if the user was erased
 * while it was being sent, since the erasure's own clean-up may already have run.
 */
export async function recordMail(db: D1Database, mail: SentEmailRow): Promise<void> {
  const orm = drizzle(db);
  await db.batch([
    statement(db, orm.insert(sentEmails).values(mail).onConflictDoNothing()),
    statement(
      db,
      orm
        .update(sentEmails)
        .set({ recipient: ERASED, body: ERASED })
        .where(
          and(
            eq(sentEmails.userId, mail.userId),
            sql`(EXISTS (SELECT 1 FROM users WHERE id = ${mail.userId} AND status = 'erased')
              OR EXISTS (SELECT 1 FROM audit_log WHERE user_id = ${mail.userId} AND event_type = 'USER_ERASED'))`,
          ),
        ),
    ),
  ]);
}

/** Where a page of sent mail ended: the (sent_at, user, kind) of its last row, the list's order. */
export interface MailCursor {
  sentAt: string;
  userId: string;
  kind: string;
}

/** Sent mail newest first, by (sent_at, user_id, kind) descending; one more than asked to know if a next page exists. */
export async function listSentMail(
  db: D1Database,
  query: { userId?: string | undefined; limit: number; cursor?: MailCursor | undefined },
): Promise<{ rows: SentEmailRow[]; next: MailCursor | null }> {
  const { cursor } = query;
  const after = cursor
    ? or(
        lt(sentEmails.sentAt, cursor.sentAt),
        and(eq(sentEmails.sentAt, cursor.sentAt), lt(sentEmails.userId, cursor.userId)),
        and(
          eq(sentEmails.sentAt, cursor.sentAt),
          eq(sentEmails.userId, cursor.userId),
          lt(sentEmails.kind, cursor.kind),
        ),
      )
    : undefined;
  const rows = await drizzle(db)
    .select()
    .from(sentEmails)
    .where(and(query.userId ? eq(sentEmails.userId, query.userId) : undefined, after))
    .orderBy(desc(sentEmails.sentAt), desc(sentEmails.userId), desc(sentEmails.kind))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  const next = rows.length > query.limit && last ? { sentAt: last.sentAt, userId: last.userId, kind: last.kind } : null;
  return { rows: page, next };
}

export function encodeMailCursor(cursor: MailCursor): string {
  return encodeCursorKey([cursor.sentAt, cursor.userId, cursor.kind]);
}

/** The cursor of `encodeMailCursor`, or null when it is not one. */
export function decodeMailCursor(text: string): MailCursor | null {
  const [sentAt, userId, kind] = decodeCursorKey(text) ?? [];
  if (typeof sentAt !== "string" || typeof userId !== "string" || typeof kind !== "string") return null;
  return { sentAt, userId, kind };
}

/**
 * The address each of these feed events' welcome is owed to (its `USER_CREATED`'s email, `[erased]`
 * after an erasure): a pending delivery names only its event.
 */
export async function welcomeRecipients(db: D1Database, eventIds: readonly string[]): Promise<Map<string, string>> {
  if (eventIds.length === 0) return new Map();
  const rows = await drizzle(db)
    .select({ eventId: feed.eventId, event: feed.event })
    .from(feed)
    .where(inArray(feed.eventId, [...eventIds]));
  const recipients = new Map<string, string>();
  for (const row of rows) {
    const event = JSON.parse(row.event) as PublicEvent;
    if (event.event_type === "USER_CREATED") recipients.set(row.eventId, event.data.email);
  }
  return recipients;
}
