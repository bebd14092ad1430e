import { FIND_CALLER, SELECT_USERS, type CallerRow, type D1Reader } from "./queries";
import type { UserRow } from "./schema";

/** Which users a listing shows: `live` (active and suspended) unless an admin asks for others. */
export type StatusFilter = "live" | "active" | "suspended" | "deleted" | "all";

/** A place in the list's order (`created_at`, then `id`): a page handed out ended here. */
export interface ListCursor {
  createdAt: string;
  id: string;
}

export interface ListFilters {
  page: number;
  pageSize: number;
  username?: string | undefined;
  email?: string | undefined;
  status?: StatusFilter | undefined;
  /** The page starts after this place instead of at `(page - 1) × pageSize`. */
  after?: ListCursor | undefined;
}

// An erased user is deleted too: its tombstone (`[erased]`) shows under "deleted" and "all".
const STATUSES: Record<StatusFilter, UserRow["status"][]> = {
  live: ["active", "suspended"],
  active: ["active"],
  suspended: ["suspended"],
  deleted: ["deleted", "erased"],
  all: ["active", "suspended", "deleted", "erased"],
};

/** The prefixes of `created_at` that `user_blocks` counts by (month, day, hour, minute): migration 0015. */
const BLOCK_SIZES = [7, 10, 13, 16];

/** Trigrams: the search index cannot find a needle shorter than this, which is searched by scanning. */
const INDEXED_NEEDLE = 3;

/**
 * Users of the given status matching case-insensitive substrings, in creation order (then id, for
 * ties), with their count, the caller's row and where the next page starts: one D1 round trip.
 *
 * No page costs a scan of the users before it. The list is a merge of one ordered walk of the
 * `users_listing` index per status (SQLite's `MERGE (UNION ALL)`, the same merge a list over
 * several shards would do), and starts either after a cursor (a seek) or, for `page` N, at the
 * minute in which its first row was created, found by walking down the per-period counts of
 * `user_blocks`, then skipping only the rows of that minute. A search reads its matches from the
 * trigram index `users_search` and sorts them: it costs what the users it matches cost, whatever
 * the number of users. The unfiltered count is the per-status counts (`user_counts`).
 */
export async function listUsers(db: D1Reader, filters: ListFilters, callerId: string) {
  const statuses = STATUSES[filters.status ?? "live"];
  const needles = [
    ["username", filters.username],
    ["email", filters.email],
  ].filter((entry): entry is [string, string] => Boolean(entry[1]));
  const [rows, total, caller] = await db.batch<unknown>([
    ...(needles.length === 0
      ? listStatements(db, statuses, filters)
      : searchStatements(db, statuses, needles, filters)),
    db.prepare(FIND_CALLER).bind(callerId),
  ]);
  const found = (rows?.results ?? []) as UserRow[];
  const page = found.slice(0, filters.pageSize);
  const last = page[page.length - 1];
  return {
    rows: page,
    count: (total?.results[0] as { n: number } | undefined)?.n ?? 0,
    caller: caller?.results[0] as CallerRow | undefined,
    next: found.length > filters.pageSize && last ? { createdAt: last.createdAt, id: last.id } : null,
  };
}

/** The unfiltered list: a page (one row more, to tell whether another follows) and the kept count. */
function listStatements(db: D1Reader, statuses: UserRow["status"][], filters: ListFilters) {
  const offset = filters.after ? 0 : (filters.page - 1) * filters.pageSize;
  // ?1 the offset, ?2… the statuses, then the limit and the cursor.
  const status = statuses.map((_, i) => `?${i + 2}`);
  const limit = `?${statuses.length + 2}`;
  const [afterTime, afterId] = [`?${statuses.length + 3}`, `?${statuses.length + 4}`];
  const walk = offset > 0 ? blockWalk(status.join(", ")) : "";
  const start = filters.after
    ? `(created_at, id) > (${afterTime}, ${afterId})`
    : offset > 0
      ? "created_at >= (SELECT block FROM start)"
      : "true";
  const arms = status.map((s) => `SELECT rowid AS r, created_at, id FROM users WHERE status = ${s} AND ${start}`);
  // Past the last row there is no start: no row matches, and the offset must still be a number.
  const skip = offset > 0 ? "coalesce(?1 - (SELECT before FROM start), 0)" : "0";
  const params: (string | number)[] = [offset, ...statuses, filters.pageSize + 1];
  if (filters.after) params.push(filters.after.createdAt, filters.after.id);
  return [
    db
      .prepare(
        `WITH ${walk}page AS (${arms.join(" UNION ALL ")} ORDER BY created_at, id LIMIT ${limit} OFFSET ${skip})
        ${SELECT_USERS} WHERE rowid IN (SELECT r FROM page) ORDER BY created_at, id`,
      )
      .bind(...params),
    // Counting rows costs O(users); the per-status counts kept by triggers cost the same at any size.
    db
      .prepare(`SELECT coalesce(sum(n), 0) AS n FROM user_counts WHERE status IN (${statuses.map(() => "?")})`)
      .bind(...statuses),
  ];
}

/**
 * CTEs `l1`…`l4` and `start`: the first block, month down to minute, in which the rows before it
 * number more than the offset (?1), and how many rows come before it (`before`). Each level reads
 * the blocks of the one above: a month's days, a day's hours, an hour's minutes.
 */
function blockWalk(statusParams: string): string {
  const levels = BLOCK_SIZES.map((size, i) => {
    const parent = i === 0 ? "(SELECT '' AS block, 0 AS before)" : `l${i}`;
    return `l${i + 1}(block, before) AS (
      SELECT block, before FROM (
        SELECT block, n, (SELECT before FROM ${parent}) + sum(n) OVER (ORDER BY block) - n AS before
        FROM (SELECT block, sum(n) AS n FROM user_blocks
          WHERE size = ${size} AND status IN (${statusParams})
            AND block >= (SELECT block FROM ${parent}) AND block < (SELECT block FROM ${parent}) || '~'
          GROUP BY block))
      WHERE before + n > ?1 ORDER BY block LIMIT 1), `;
  });
  return `${levels.join("")}start AS (SELECT block, before FROM l${BLOCK_SIZES.length}), `;
}

/**
 * A search: the matching rows' ids from the trigram index, then their rows, filtered by status
 * and sorted; and their count. A needle too short for trigrams is matched by LIKE on the rows the
 * index found, or, when no needle is long enough, on every row of the statuses (a scan).
 */
function searchStatements(
  db: D1Reader,
  statuses: UserRow["status"][],
  needles: [string, string][],
  filters: ListFilters,
) {
  const indexed = needles.filter(([, needle]) => [...needle].length >= INDEXED_NEEDLE);
  const scanned = needles.filter(([, needle]) => [...needle].length < INDEXED_NEEDLE);
  const where: string[] = [];
  const params: string[] = [];
  if (indexed.length > 0) {
    where.push("rowid IN (SELECT rowid FROM users_search WHERE users_search MATCH ?)");
    // Each needle one phrase (its quotes doubled) in its own column: the trigrams of a substring.
    params.push(indexed.map(([column, needle]) => `${column} : "${needle.replaceAll('"', '""')}"`).join(" AND "));
  }
  // `+status`: with matches in hand, filter them rather than walk the status's index in order.
  where.push(`${indexed.length > 0 ? "+" : ""}status IN (${statuses.map(() => "?")})`);
  params.push(...statuses);
  for (const [column, needle] of scanned) {
    // SQLite's LIKE is case-insensitive for ASCII; the pattern's own wildcards are escaped.
    where.push(`${column} LIKE ? ESCAPE '\\'`);
    params.push(`%${needle.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`);
  }
  const condition = where.join(" AND ");
  const page = filters.after
    ? db
        .prepare(`${SELECT_USERS} WHERE ${condition} AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?`)
        .bind(...params, filters.after.createdAt, filters.after.id, filters.pageSize + 1)
    : db
        .prepare(`${SELECT_USERS} WHERE ${condition} ORDER BY created_at, id LIMIT ? OFFSET ?`)
        .bind(...params, filters.pageSize + 1, (filters.page - 1) * filters.pageSize);
  return [page, db.prepare(`SELECT count(*) AS n FROM users WHERE ${condition}`).bind(...params)];
}

export function encodeListCursor(cursor: ListCursor): string {
  return btoa(JSON.stringify([cursor.createdAt, cursor.id]))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** The cursor of `encodeListCursor`, or null when it is not one. */
export function decodeListCursor(text: string): ListCursor | null {
  try {
    const [createdAt, id] = JSON.parse(atob(text.replaceAll("-", "+").replaceAll("_", "/"))) as unknown[];
    if (typeof createdAt !== "string" || typeof id !== "string") return null;
    return { createdAt, id };
  } catch {
    return null;
  }
}
