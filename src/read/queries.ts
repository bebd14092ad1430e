import { getTableColumns } from "drizzle-orm";
import { bulk, changed } from "./bulk";
import { users, type UserRow } from "./schema";

/** What a query needs of D1: the database itself, or one of its sessions (`withSession`). */
export type D1Reader = Pick<D1Database, "prepare" | "batch">;

/**
 * The users table's columns as the drizzle schema names them: the hot statements below are
 * plain SQL (building a drizzle query per row cost more than D1 itself, see BENCHMARKS.md), and
 * are built from this list so that a new column cannot be missed in one of them.
 */
const COLUMNS = Object.entries(getTableColumns(users)).map(([key, column]) => ({
  key: key as keyof UserRow,
  name: column.name,
}));

export const SELECT_USERS = `SELECT ${COLUMNS.map((c) => `${c.name} AS "${c.key}"`).join(", ")} FROM users`;

const FIND_USER = `${SELECT_USERS} WHERE id = ?`;

// A row only moves forward: the live projector may have applied a newer event meanwhile. The rows
// come as one JSON array (`bulk`), each an object keyed by column name.
const UPSERT_USERS = `INSERT INTO users (${COLUMNS.map((c) => c.name).join(", ")})
  SELECT ${COLUMNS.map((c) => `value ->> '$.${c.name}'`).join(", ")} FROM json_each(?1) WHERE true
  ON CONFLICT (id) DO UPDATE SET ${COLUMNS.filter((c) => c.key !== "id")
    .map((c) => `${c.name} = excluded.${c.name}`)
    .join(", ")}
  WHERE users.revision <= excluded.revision AND ${changed(
    "users",
    COLUMNS.map((c) => c.name),
  )}`;

const FIND_USERS = `SELECT ${COLUMNS.map((c) => `${c.name} AS "${c.key}"`).join(", ")} FROM users
  WHERE id IN (SELECT value FROM json_each(?1))`;
/** The rows of these users, in one statement whatever their number (their ids as one JSON array). */
export function findUserRowsStatement(db: D1Reader, ids: readonly string[]): D1PreparedStatement {
  return db.prepare(FIND_USERS).bind(JSON.stringify(ids));
}

const INSERT_USER = `INSERT INTO users (${COLUMNS.map((c) => c.name).join(", ")})
  VALUES (${COLUMNS.map(() => "?").join(", ")}) ON CONFLICT (id) DO NOTHING`;
const UPDATE_USER = `UPDATE users SET ${COLUMNS.filter((c) => c.key !== "id")
  .map((c) => `${c.name} = ?`)
  .join(", ")} WHERE id = ? AND revision = ?`;

/**
 * The projector's write of a row: inserted if there was none, else updated only while the stored
 * row is still at `from` (no change: a concurrent consumer moved first). Plain SQL: the hot path.
 */
export function writeUserRowStatement(db: D1Database, row: UserRow, from: number | null): D1PreparedStatement {
  if (from === null) return db.prepare(INSERT_USER).bind(...COLUMNS.map((c) => row[c.key]));
  const values = COLUMNS.filter((c) => c.key !== "id").map((c) => row[c.key]);
  return db.prepare(UPDATE_USER).bind(...values, row.id, from);
}

/** The hot read path: one prepared statement, no query building. */
export async function findUserRow(db: D1Reader, id: string): Promise<UserRow | undefined> {
  return (await db.prepare(FIND_USER).bind(id).first<UserRow>()) ?? undefined;
}

/**
 * What a read needs to check its caller's token against the read model: the caller's row, and the
 * newest revision its object has announced to the `streams` ledger (null if none), which tells
 * whether the row may be missing a revoking event that is committed but not projected yet.
 */
export type CallerRow = Pick<UserRow, "status" | "role" | "tokensValidFrom" | "revision"> & {
  published: number | null;
};

export const FIND_CALLER = `SELECT u.status AS status, u.role AS role, u.tokens_valid_from AS tokensValidFrom,
  u.revision AS revision, s.published_revision AS published
  FROM users u LEFT JOIN streams s ON s.user_id = u.id WHERE u.id = ?`;

/**
 * A user's row read by a caller, with the caller's row: one D1 round trip when both live in one
 * database (`callerDb`, the caller's read database, defaults to the user's), else one read on
 * each, at once (docs/decisions/0026).
 */
export async function findUserRowAs(
  db: D1Reader,
  callerId: string,
  id: string,
  callerDb: D1Reader = db,
): Promise<{ caller: CallerRow | undefined; row: UserRow | undefined }> {
  if (callerDb !== db) {
    const [caller, row] = await Promise.all([
      callerDb.prepare(FIND_CALLER).bind(callerId).first<CallerRow>(),
      findUserRow(db, id),
    ]);
    return { caller: caller ?? undefined, row };
  }
  const [caller, row] = await db.batch<CallerRow | UserRow>([
    db.prepare(FIND_CALLER).bind(callerId),
    db.prepare(FIND_USER).bind(id),
  ]);
  return { caller: caller?.results[0] as CallerRow | undefined, row: row?.results[0] as UserRow | undefined };
}

/** Statements writing these rows unless the stored row is already further along, for one D1 batch. */
export function upsertUserRows(db: D1Database, rows: UserRow[]): D1PreparedStatement[] {
  return bulk(
    db,
    UPSERT_USERS,
    rows.map((row) => Object.fromEntries(COLUMNS.map((c) => [c.name, row[c.key]]))),
  );
}
