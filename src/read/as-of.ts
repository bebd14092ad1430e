import type { D1Reader } from "./queries";
import { decodeCursorKey, encodeCursorKey } from "./cursor";
import type { UserIntervalRow } from "./schema";

/** What `GET /admin/users/?as_of=T` asks: users as they were at `asOf`, optionally narrowed. */
export interface AsOfFilters {
  /** ISO 8601 UTC, as the events' times are stored (`parseInstant`). */
  asOf: string;
  status?: UserIntervalRow["status"] | undefined;
  /** Exact, case-insensitive (ASCII, as the list's search). */
  username?: string | undefined;
  email?: string | undefined;
  limit: number;
  /** The last user id of the previous page. */
  after?: string | undefined;
}

const SELECT = `SELECT user_id AS userId, revision, username, email, status, role,
  valid_from AS validFrom, valid_to AS validTo FROM user_intervals`;

/**
 * One page of the intervals holding at `asOf` (at most one per user: a user's intervals do not
 * overlap), in user id order. The index is named, never left to the planner: an email or username
 * goes to its handful of intervals (`lower(…)` as the index is built), a status walks its intervals
 * in user order with the times tested inside the index, and no filter walks the primary key. Each
 * page then costs about `limit` over the share of intervals that hold at T, at any table size
 * (`npm run bench:as-of`).
 */
export function asOfStatement(db: D1Reader, filters: AsOfFilters): D1PreparedStatement {
  const { text, params } = asOfSql(filters);
  return db.prepare(text).bind(...params);
}

/** Each filter's condition and the index it answers through, least selective first. */
const FILTER_INDEXES = [
  ["status", "status = ?", "user_intervals_by_status"],
  ["username", "lower(username) = lower(?)", "user_intervals_by_username"],
  ["email", "lower(email) = lower(?)", "user_intervals_by_email"],
] as const;

/** The statement's SQL and parameters (for `EXPLAIN QUERY PLAN` in the tests as well). */
export function asOfSql(filters: AsOfFilters): { text: string; params: unknown[] } {
  const where = ["valid_from <= ?", "(valid_to IS NULL OR valid_to > ?)"];
  const params: unknown[] = [filters.asOf, filters.asOf];
  let index = "sqlite_autoindex_user_intervals_1";
  // The most selective filter given names the index: an email or a username has few intervals.
  for (const [key, condition, byIndex] of FILTER_INDEXES) {
    const value = filters[key];
    if (value === undefined) continue;
    where.push(condition);
    params.push(value);
    index = byIndex;
  }
  if (filters.after !== undefined) {
    where.push("user_id > ?");
    params.push(filters.after);
  }
  params.push(filters.limit + 1);
  return { text: `${SELECT} INDEXED BY ${index} WHERE ${where.join(" AND ")} ORDER BY user_id LIMIT ?`, params };
}

/**
 * The page and the user id to continue after, null on the last page. Over several read databases
 * (each holds its users' intervals, docs/decisions/0026) each answers its first `limit + 1` after
 * the cursor, asked at once, and the page is the first of their merge in user id order.
 */
export async function queryAsOf(
  databases: D1Reader | readonly D1Reader[],
  filters: AsOfFilters,
  askedAgain: readonly D1Reader[] = [],
): Promise<{ rows: UserIntervalRow[]; next: string | null }> {
  const dbs: readonly D1Reader[] = Array.isArray(databases) ? databases : [databases as D1Reader];
  const first = await Promise.all(dbs.map((db) => asOfStatement(db, filters).all<UserIntervalRow>()));
  // During a re-shard (decision 0027): a user moving while the databases answered is met here.
  const answers = [
    ...first,
    ...(await Promise.all(askedAgain.map((db) => asOfStatement(db, filters).all<UserIntervalRow>()))),
  ];
  // User ids are ASCII (UUIDs), so code units sort as SQLite's bytes do.
  const sorted = answers.flatMap((answer) => answer.results).sort(inUserOrder);
  // During a re-shard (decision 0027) a user's intervals are in two databases for a moment: once.
  const results = sorted.filter((row, i) => row.userId !== sorted[i - 1]?.userId);
  const rows = results.slice(0, filters.limit);
  return { rows, next: results.length > filters.limit ? (rows[rows.length - 1]?.userId ?? null) : null };
}

/**
 * User id order; a user's two copies (a re-shard) newest first: the later revision, or the same
 * interval already closed by an event the other copy has not had.
 */
function inUserOrder(a: UserIntervalRow, b: UserIntervalRow): number {
  if (a.userId !== b.userId) return a.userId < b.userId ? -1 : 1;
  return b.revision - a.revision || Number(a.validTo === null) - Number(b.validTo === null);
}

/** The opaque cursor: the last user id of a page, base64url so that clients do not build it. */
export function encodeAsOfCursor(userId: string): string {
  return encodeCursorKey(["as_of", userId]);
}

/** The user id of `encodeAsOfCursor`, or null when `text` is not one. */
export function decodeAsOfCursor(text: string): string | null {
  const [kind, userId] = decodeCursorKey(text) ?? [];
  return kind === "as_of" && typeof userId === "string" ? userId : null;
}
