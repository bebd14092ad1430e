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
 * `FIND_CALLER`'s columns beside other columns of a statement, prefixed `caller_`, from its joins
 * `users c` (the caller) and `streams s` (its ledger row); all null when the caller has no row.
 * `callerOf` reads them back.
 */
const CALLER_COLUMNS = `c.id AS caller_id, c.status AS caller_status, c.role AS caller_role,
  c.tokens_valid_from AS caller_tokens_valid_from, c.revision AS caller_revision,
  s.published_revision AS caller_published`;

type CallerColumns = {
  caller_id: string | null;
  caller_status: UserRow["status"];
  caller_role: UserRow["role"];
  caller_tokens_valid_from: number | null;
  caller_revision: number;
  caller_published: number | null;
};

/** The caller's row of an answer holding `CALLER_COLUMNS`, undefined when the caller has none. */
export function callerOf(row: CallerColumns | undefined | null): CallerRow | undefined {
  if (!row || row.caller_id === null) return undefined;
  return {
    status: row.caller_status,
    role: row.caller_role,
    tokensValidFrom: row.caller_tokens_valid_from,
    revision: row.caller_revision,
    published: row.caller_published,
  };
}

/**
 * A statement answering the caller's row (`callerOf` reads it) beside the scalar subqueries `extra`
 * (`name → SQL` with positional parameters `params`): one row always. A list asks its count this
 * way, one statement with the caller's row rather than two in its batch (each statement of a batch
 * costs the D1 binding its own handling).
 */
export function callerWith(
  db: D1Reader,
  callerId: string,
  extra: Record<string, string>,
  params: readonly unknown[] = [],
): D1PreparedStatement {
  const columns = Object.entries(extra).map(([name, sql]) => `(${sql}) AS "${name}"`);
  return db
    .prepare(
      `SELECT ${columns.join(", ")}, ${CALLER_COLUMNS}
        FROM (SELECT ? AS caller_id) AS asked LEFT JOIN users c ON c.id = asked.caller_id
        LEFT JOIN streams s ON s.user_id = c.id`,
    )
    .bind(...params, callerId);
}

/**
 * The user's row and the caller's in one statement, one row always: what `FIND_USER` and
 * `FIND_CALLER` answer, side by side (the caller's columns prefixed `caller_`), each all null when
 * its user has no row. One statement rather than a batch of the two: the D1 binding's handling of
 * a batch (its statements, their results) was a tenth of a get's CPU in the profile (issue 25).
 */
const FIND_USER_AS = `SELECT ${COLUMNS.map((c) => `u.${c.name} AS "${c.key}"`).join(", ")}, ${CALLER_COLUMNS}
  FROM (SELECT ?1 AS caller_id, ?2 AS user_id) AS asked
  LEFT JOIN users c ON c.id = asked.caller_id
  LEFT JOIN streams s ON s.user_id = c.id
  LEFT JOIN users u ON u.id = asked.user_id`;

type UserAsRow = { [K in keyof UserRow]: UserRow[K] | null } & CallerColumns;

/**
 * A user's row read by a caller, with the caller's row: one D1 round trip, one statement, when
 * both live in one database (`callerDb`, the caller's read database, defaults to the user's), else
 * one read on each, at once (docs/decisions/0026).
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
  const both = await db.prepare(FIND_USER_AS).bind(callerId, id).first<UserAsRow>();
  if (!both) return { caller: undefined, row: undefined };
  const caller = callerOf(both);
  if (both.id === null) return { caller, row: undefined };
  const row = {} as Record<keyof UserRow, unknown>;
  for (const { key } of COLUMNS) row[key] = both[key];
  return { caller, row: row as UserRow };
}

/** Statements writing these rows unless the stored row is already further along, for one D1 batch. */
export function upsertUserRows(db: D1Database, rows: UserRow[]): D1PreparedStatement[] {
  return bulk(
    db,
    UPSERT_USERS,
    rows.map((row) => Object.fromEntries(COLUMNS.map((c) => [c.name, row[c.key]]))),
  );
}

const FIND_WAITED_FOR = `SELECT ${COLUMNS.map((c) => `u.${c.name} AS "${c.key}"`).join(", ")},
  s.published_revision AS published
  FROM users u LEFT JOIN streams s ON s.user_id = u.id
  WHERE u.id IN (SELECT value FROM json_each(?1))`;

/**
 * One statement for a shared look of the waiting reads (src/read/read-your-writes.ts): the rows of
 * these users, each with what its caller check needs (`callerRowOf`): the users waited for and the
 * callers of the reads that joined them, whatever their number.
 */
export async function findWaitedFor(
  db: D1Reader,
  ids: readonly string[],
): Promise<Array<{ row: UserRow; published: number | null }>> {
  const { results } = await db
    .prepare(FIND_WAITED_FOR)
    .bind(JSON.stringify(ids))
    .all<UserRow & { published: number | null }>();
  return results.map(({ published, ...row }) => ({ row, published }));
}

/** What `FIND_CALLER` answers, from a user's row and its newest announced revision. */
export function callerRowOf(row: UserRow, published: number | null): CallerRow {
  return {
    status: row.status,
    role: row.role,
    tokensValidFrom: row.tokensValidFrom,
    revision: row.revision,
    published,
  };
}
