/**
 * The write side's half of the `streams` ledger in D1 (the read side's half, confirming, is
 * `src/read/ledger.ts`): a user's object announces each revision before publishing it, and deletes
 * its outbox up to the revision the read side has confirmed. Here, not in read, so the objects do
 * not bundle the projections that the confirming SQL is built from. The `db` is the user's read
 * database (`readDatabaseOf`, src/shards.ts): a user's ledger row lives beside its `users` row.
 */

/** An announce onto a row already there: owed since now unless something was owed already. */
export const ANNOUNCE_ONTO_ROW = `ON CONFLICT (user_id) DO UPDATE SET
    owed_since = CASE WHEN streams.confirmed_revision >= streams.published_revision THEN excluded.owed_since
                      ELSE streams.owed_since END,
    published_revision = max(streams.published_revision, excluded.published_revision)`;

const ANNOUNCE = `INSERT INTO streams (user_id, published_revision, confirmed_revision, owed_since) VALUES (?1, ?2, 0, ?3)
  ${ANNOUNCE_ONTO_ROW}`;

/** Before publishing `revision`: from now on the read side owes it until a projection batch confirms it. */
export async function announce(db: D1Database, userId: string, revision: number, now: number): Promise<void> {
  await db.prepare(ANNOUNCE).bind(userId, revision, now).run();
}

/** The newest revision of the user that every projection holds. */
export async function confirmedRevision(db: D1Database, userId: string): Promise<number> {
  const row = await db
    .prepare("SELECT confirmed_revision AS revision FROM streams WHERE user_id = ?")
    .bind(userId)
    .first<{ revision: number }>();
  return row?.revision ?? 0;
}
