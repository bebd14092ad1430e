import { log } from "../observability";
import { previousReadDatabaseOf, readDatabaseOf } from "../shards";
import { PROJECTIONS } from "./projections";
import { FIND_CALLER, type CallerRow, type D1Reader } from "./queries";
import { removeMisplaced } from "./replay";

/**
 * A re-shard of the read databases while reads keep answering (docs/decisions/0027): with
 * `READ_DATABASES_PREVIOUS` set, a user not moved yet is only where the layout being left put it.
 * A read of one user's row that found nothing in the user's read database looks there next: a
 * second round trip only on a miss, and only during a re-shard.
 */

/** Opens a database for a read: the request's D1 session (`sessionOf`), or the database itself. */
export type Open = (db: D1Database) => D1Reader;
const direct: Open = (db) => db;

/**
 * What `read` finds of the user in its previous read database, else (it found nothing there
 * either) in its own again; undefined outside a re-shard. The rebuild and the consumer write a
 * user into its new database before removing it from the previous one, so a user moved between
 * the first look and this one is found by the last.
 */
export async function lookBefore<T>(
  env: Env,
  userId: string,
  read: (db: D1Reader) => Promise<T | undefined>,
  open: Open = direct,
): Promise<T | undefined> {
  const before = previousReadDatabaseOf(env, userId);
  if (!before) return undefined;
  // The last look bare (the primary): the request's session may sit on a replica older than the
  // previous database's answer, and miss the user written before it left there.
  return (await read(open(before))) ?? read(readDatabaseOf(env, userId));
}

/**
 * The caller's row from its previous read database, for a token check that found none in its
 * own (undefined outside a re-shard, or when neither has it: the caller's object then confirms).
 * The object announces each revision to the ledger of the user's read database now, so the
 * newest announced revision is read there: a revocation committed but not projected yet still
 * sends the check to the object (`confirmFromReadModel`), as outside a re-shard.
 */
export async function callerBefore(env: Env, callerId: string, open: Open = direct): Promise<CallerRow | undefined> {
  const before = previousReadDatabaseOf(env, callerId);
  if (!before) return undefined;
  const [row, ledger] = await Promise.all([
    open(before).prepare(FIND_CALLER).bind(callerId).first<CallerRow>(),
    open(readDatabaseOf(env, callerId))
      .prepare("SELECT published_revision AS published FROM streams WHERE user_id = ?")
      .bind(callerId)
      .first<{ published: number }>(),
  ]);
  if (!row) return undefined;
  return ledger ? { ...row, published: Math.max(row.published ?? 0, ledger.published) } : row;
}

/**
 * Once these users' rows are written in their read databases (a consumer batch committed, a
 * replay), their rows in the databases the layout being left put them in go: so a user is in two
 * databases only for that moment, and a list merging both meets it once. Nothing outside a
 * re-shard. Best effort: a row left behind is the rebuild's (it removes misplaced rows), and reads
 * take the user's own database first.
 */
export async function leavePreviousPlaces(env: Env, userIds: readonly string[]): Promise<void> {
  const byDb = new Map<D1Database, string[]>();
  for (const userId of userIds) {
    const before = previousReadDatabaseOf(env, userId);
    if (before) byDb.set(before, [...(byDb.get(before) ?? []), userId]);
  }
  if (byDb.size === 0) return;
  try {
    await removeMisplaced(
      env,
      PROJECTIONS,
      [...byDb].map(([db, ids]) => ({ db, ids })),
    );
  } catch (error) {
    log("warn", "rows in the previous read database not removed; the rebuild will", {
      users: userIds.length,
      error: String(error),
    });
  }
}
