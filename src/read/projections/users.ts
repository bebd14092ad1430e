import { and, eq, gt, inArray, lte, ne, sql } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { ERASED, type PublicEventOf } from "../../domain/events";
import { bulk, JSON_IDS } from "../bulk";
import { welcomeEmail } from "../mail";
import { deadLetterFailures, deadLetters, sentEmails, users, type SentEmailRow, type UserRow } from "../schema";
import { projectUser } from "../user-projection";
import { findUserRowsStatement, upsertUserRows, writeUserRowStatement } from "../queries";
import { statement } from "../statement";
import type { Projection, Step } from "./index";

/**
 * The `users` table: the row of each user as the pure `projectUser` folds it. The row's `revision`
 * is the checkpoint; every write is guarded by the revision it was computed from. The welcome mail
 * is this projection's side effect, exactly once per user through the `sent_emails` key.
 */
export const usersProjection: Projection<UserRow | null> = {
  name: "users",
  checkpointSql: (user) => `(SELECT revision FROM users WHERE id = ${user})`,

  load(db, userIds) {
    return {
      statement: findUserRowsStatement(db, userIds),
      read: (result) =>
        new Map((result.results as UserRow[]).map((row) => [row.id, { revision: row.revision, state: row }])),
    };
  },

  plan(db, userId, from, events, { delivered, mail }) {
    const orm = drizzle(db);
    const before = from?.state ?? null;
    const after = events.reduce<UserRow | null>((row, event) => projectUser(row, event), before);
    const step: Step = { statements: [], guard: null };
    if (after && after !== before) {
      step.guard = step.statements.length;
      step.statements.push(writeUserRowStatement(db, after, before?.revision ?? null));
    }
    // The welcome and the erasure clean-up follow from the row as it ends up, not only from events
    // applied here: a replay or rebuild may have moved the row past them already.
    if (after?.status === "erased") step.statements.push(...forgetErased(db, userId));
    const created = [...delivered, ...events].find((event) => event.event_type === "USER_CREATED");
    // Imported users were welcomed where they came from.
    const imported = created?.metadata.import_request_id !== undefined;
    if (created && after && after.status !== "erased" && !imported) {
      const mailIndex = step.statements.length;
      const welcome = welcomeFor(userId, created);
      step.statements.push(statement(db, welcomeUnlessErased(orm, welcome)));
      // Mail goes out before the handler returns: unawaited work after a queue handler may be cut off.
      step.afterCommit = async (results) => {
        if ((results[mailIndex]?.meta.changes ?? 0) > 0) await mail.send(welcome);
      };
    }
    return step;
  },

  rebuild(db, streams) {
    const rows: UserRow[] = [];
    const gone: string[] = [];
    for (const { userId, events } of streams) {
      const row = events.reduce<UserRow | null>((r, event) => projectUser(r, event), null);
      if (row) rows.push(row);
      else gone.push(userId);
    }
    return [
      ...bulk(db, `DELETE FROM users WHERE id IN ${JSON_IDS}`, gone),
      // A row only moves forward: the live projector may have applied a newer event meanwhile.
      ...upsertUserRows(db, rows),
      ...rows.filter((row) => row.status === "erased").flatMap((row) => forgetErased(db, row.id)),
    ];
  },

  async userIdsBetween(db, after, upTo) {
    const rows = await drizzle(db)
      .select({ id: users.id })
      .from(users)
      .where(and(gt(users.id, after), upTo === null ? undefined : lte(users.id, upTo)));
    return rows.map((row) => row.id);
  },
};

/** After an erasure: the mail record stays as the marker that the welcome was sent, its personal data goes. */
function forgetErased(db: D1Database, userId: string): D1PreparedStatement[] {
  const orm = drizzle(db);
  const letters = orm.select({ id: deadLetters.id }).from(deadLetters).where(eq(deadLetters.aggregateId, userId));
  return [
    statement(db, orm.update(sentEmails).set({ recipient: ERASED, body: ERASED }).where(eq(sentEmails.userId, userId))),
    statement(db, orm.delete(deadLetterFailures).where(inArray(deadLetterFailures.letterId, letters))),
    statement(db, orm.delete(deadLetters).where(eq(deadLetters.aggregateId, userId))),
  ];
}

function welcomeFor(userId: string, created: PublicEventOf<"USER_CREATED">): SentEmailRow {
  return welcomeEmail(userId, created.id, created.data.email, created.data.first_name, created.timestamp);
}

/**
 * The welcome's record, inserted once per user and never for an erased one: it is selected from the
 * user's row, written earlier in the same D1 batch, so an erasure projected by a concurrent consumer
 * wins over a late create.
 */
function welcomeUnlessErased(orm: DrizzleD1Database, mail: SentEmailRow) {
  const value = (v: string, column: string) => sql<string>`${v}`.as(column);
  return orm
    .insert(sentEmails)
    .select(
      orm
        .select({
          userId: users.id,
          kind: value(mail.kind, "kind"),
          recipient: value(mail.recipient, "recipient"),
          subject: value(mail.subject, "subject"),
          body: value(mail.body, "body"),
          eventId: value(mail.eventId, "event_id"),
          sentAt: value(mail.sentAt, "sent_at"),
        })
        .from(users)
        .where(and(eq(users.id, mail.userId), ne(users.status, "erased"))),
    )
    .onConflictDoNothing();
}
