import { and, eq, gt, inArray, lte } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { ERASED } from "../../domain/events";
import { bulk, JSON_IDS } from "../bulk";
import { deadLetterFailures, deadLetters, sentEmails, users, type UserRow } from "../schema";
import { projectUser } from "../user-projection";
import { findUserRowsStatement, upsertUserRows, writeUserRowStatement } from "../queries";
import { statement } from "../statement";
import type { Projection, Step } from "./index";

/**
 * The `users` table: the row of each user as the pure `projectUser` folds it. The row's `revision`
 * is the checkpoint; every write is guarded by the revision it was computed from. No side effects:
 * the welcome mail is the mail subscription's (src/deliver/mail-sink.ts), so applying, replaying or
 * rebuilding a user here never mails anyone.
 */
export const usersProjection: Projection<UserRow | null> = {
  name: "users",
  home: "user",
  checkpointSql: (user) => `(SELECT revision FROM users WHERE id = ${user})`,

  load(db, userIds) {
    return {
      statement: findUserRowsStatement(db, userIds),
      read: (result) =>
        new Map((result.results as UserRow[]).map((row) => [row.id, { revision: row.revision, state: row }])),
    };
  },

  plan(db, userId, from, events, { service }) {
    const before = from?.state ?? null;
    const after = events.reduce<UserRow | null>((row, event) => projectUser(row, event), before);
    const step: Step = { statements: [], guard: null };
    if (after && after !== before) {
      step.guard = step.statements.length;
      step.statements.push(writeUserRowStatement(db, after, before?.revision ?? null));
    }
    // The erasure clean-up follows from the row as it ends up, not only from events applied here: a
    // replay or rebuild may have moved the row past USER_ERASED already.
    if (after?.status === "erased") step.service = forgetErased(service, userId);
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
    ];
  },

  rebuildService(service, streams) {
    return streams
      .filter(
        ({ events }) => events.reduce<UserRow | null>((r, event) => projectUser(r, event), null)?.status === "erased",
      )
      .flatMap(({ userId }) => forgetErased(service, userId));
  },

  async userIdsBetween(db, after, upTo) {
    const rows = await drizzle(db)
      .select({ id: users.id })
      .from(users)
      .where(and(gt(users.id, after), upTo === null ? undefined : lte(users.id, upTo)));
    return rows.map((row) => row.id);
  },
};

/** After an erasure, in `DB` (`service`): the mail record stays as the marker that the welcome was sent, its personal data goes. */
function forgetErased(db: D1Database, userId: string): D1PreparedStatement[] {
  const orm = drizzle(db);
  const letters = orm.select({ id: deadLetters.id }).from(deadLetters).where(eq(deadLetters.aggregateId, userId));
  return [
    statement(db, orm.update(sentEmails).set({ recipient: ERASED, body: ERASED }).where(eq(sentEmails.userId, userId))),
    statement(db, orm.delete(deadLetterFailures).where(inArray(deadLetterFailures.letterId, letters))),
    statement(db, orm.delete(deadLetters).where(eq(deadLetters.aggregateId, userId))),
  ];
}
