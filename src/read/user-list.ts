import { FIND_CALLER, SELECT_USERS, callerOf, callerWith, type CallerRow, type D1Reader } from "./queries";
import { decodeCursorKey, encodeCursorKey } from "./cursor";
import { isAscii, rarestTrigramsMatch } from "./rarest-trigrams";
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
 * ties), with their count, the caller's row and where the next page starts, over every read
 * database given (`databases`, in any order; `callerDb` is the caller's, default the first). One
 * database: one D1 round trip for any page. Several: one each, asked at once, and before them, for
 * page 2 onwards of an unfiltered list without a cursor, a round trip per level of the summed walk
 * (`summedPageStart`; a write landing meanwhile moves that page by as many rows as OFFSET would have).
 *
 * No page costs a scan of the users before it. The list is a merge of one ordered walk of the
 * `users_listing` index per status (SQLite's `MERGE (UNION ALL)`), and starts either after a cursor
 * (a seek) or, for `page` N, at the minute in which its first row was created, found by walking
 * down the per-period counts of `user_blocks`, then skipping only the rows of that minute. A search
 * reads its matches from the trigram index `users_search` and sorts them: it costs what the users
 * it matches cost, whatever the number of users. The unfiltered count is the per-status counts
 * (`user_counts`).
 *
 * Over several databases (docs/decisions/0026) each answers the first rows of its own part of the
 * list from the same start, and they are merged here in the same order: the page is the merge's
 * rows after the start, so it is the page one database holding every row would give. The counts
 * are summed, and `page` N's minute is found on the summed `user_blocks`.
 */
export async function listUsers(
  databases: D1Reader | readonly D1Reader[],
  filters: ListFilters,
  callerId: string,
  callerDb?: D1Reader,
  askedAgain: readonly D1Reader[] = [],
) {
  const dbs: readonly D1Reader[] = Array.isArray(databases) ? databases : [databases as D1Reader];
  const statuses = STATUSES[filters.status ?? "live"];
  const needles = [
    ["username", filters.username],
    ["email", filters.email],
  ].filter((entry): entry is [string, string] => Boolean(entry[1]));
  const offset = filters.after ? 0 : (filters.page - 1) * filters.pageSize;
  const alone = dbs.length === 1 && askedAgain.length === 0;
  // Page N of an unfiltered list starts in the minute `user_blocks` puts its first row in: a lone
  // database walks to it inside the page's own statement, several first walk their summed counts.
  const walked = needles.length === 0 && offset > 0;
  const start: PageStart | undefined = walked
    ? alone
      ? { walk: offset }
      : await summedPageStart(dbs, statuses, offset)
    : undefined;
  // Rows of the list from the start that come before the page. A lone database skips them itself
  // (OFFSET); merged, a database cannot know how many of them are its own, so each answers them too.
  const skip = start && "skip" in start ? start.skip : needles.length > 0 ? offset : 0;
  const span: Span = { limit: filters.pageSize + 1 + (alone ? 0 : skip), offset: alone ? skip : 0 };
  const callerAt = dbs.indexOf(callerDb ?? dbs[0]!);
  const [page, count] =
    needles.length > 0
      ? searchStatements(statuses, needles, filters, span)
      : listStatements(statuses, filters, span, start);
  const statementsOf = (db: D1Reader, withCaller = false) => [
    db.prepare(page.sql).bind(...page.params),
    // The count, and on the caller's database the caller's row beside it in the same statement.
    withCaller ? callerWith(db, callerId, { n: count.sql }, count.params) : db.prepare(count.sql).bind(...count.params),
  ];
  const answers = await Promise.all(dbs.map((db, i) => db.batch<unknown>(statementsOf(db, i === callerAt))));
  // During a re-shard (decision 0027): a user moving while the databases answered is met here.
  const again = await Promise.all(askedAgain.map((db) => db.batch<unknown>(statementsOf(db))));
  const caller =
    callerAt >= 0
      ? callerOf(answers[callerAt]?.[1]?.results[0] as Parameters<typeof callerOf>[0])
      : ((await callerDb!.prepare(FIND_CALLER).bind(callerId).first<CallerRow>()) ?? undefined);
  const found = alone
    ? ((answers[0]?.[0]?.results ?? []) as UserRow[])
    : oncePerUser(
        [...answers, ...again].flatMap((answer) => (answer[0]?.results ?? []) as UserRow[]).sort(inListOrder),
      ).slice(skip);
  const rows = found.slice(0, filters.pageSize);
  const last = rows[rows.length - 1];
  return {
    rows,
    count: answers.reduce((sum, answer) => sum + ((answer[1]?.results[0] as { n: number } | undefined)?.n ?? 0), 0),
    caller,
    next: found.length > filters.pageSize && last ? { createdAt: last.createdAt, id: last.id } : null,
  };
}

/**
 * Each user's row once, its newest (highest revision) where it is: during a re-shard (decision
 * 0027) a user is in two databases for a moment, written in its new one before it leaves the one
 * the layout being left put it in. The merge's first rows stay right: a row's place in one
 * database's part is never later than in the merge, and `created_at` never changes.
 */
function oncePerUser(rows: UserRow[]): UserRow[] {
  const newest = new Map<string, UserRow>();
  for (const row of rows) {
    const seen = newest.get(row.id);
    if (!seen || row.revision > seen.revision) newest.set(row.id, row);
  }
  return newest.size === rows.length ? rows : rows.filter((row) => newest.get(row.id) === row);
}

/** The list's order, as SQLite sorts it: `created_at`, then `id` (both ASCII, so code units sort as bytes). */
function inListOrder(a: UserRow, b: UserRow): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A statement's SQL and its positional parameters, prepared on whichever database asks it. */
interface Statement {
  sql: string;
  params: readonly unknown[];
}

/** How many of a database's rows from the start a statement answers, and how many it skips first. */
interface Span {
  limit: number;
  offset: number;
}

/**
 * Where a page starts: from the first row created at or after `block`, skipping `skip` rows; or,
 * `walk`, at the row at that offset of the list, found by the page's statement itself (its `walk` CTE, `walkLevels`).
 */
type PageStart = { block: string; skip: number } | { walk: number };

/**
 * The unfiltered list: a page (one row more, to tell whether another follows) and the kept count.
 * The statuses are written into the SQL (they are this file's constants): bound, they made SQLite
 * plan the `user_blocks` walk twenty times slower.
 *
 * LIMIT and OFFSET are never a bare bound parameter (`?2 + 0`, not `?2`): recent SQLite (seen in
 * node:sqlite's 3.51, not in 3.40; workerd ships 3.53) prepares a statement with a bare one again
 * every time it is bound. That was all of the 2 ms a page with its walk inside cost, against 0.15 ms
 * for the two statements it replaces (300,000 users); with `+ 0` it costs 0.16 ms.
 */
function listStatements(
  statuses: UserRow["status"][],
  filters: ListFilters,
  span: Span,
  start?: PageStart,
): [Statement, Statement] {
  let from = "true";
  let walk = "";
  let params: unknown[] = [span.limit, span.offset];
  let window = `LIMIT ?1 + 0 OFFSET ?2 + 0`;
  if (filters.after) {
    from = "(created_at, id) > (?1, ?2)";
    params = [filters.after.createdAt, filters.after.id, span.limit, span.offset];
    window = `LIMIT ?3 + 0 OFFSET ?4 + 0`;
  } else if (start && "block" in start) {
    from = "created_at >= ?1";
    params = [start.block, span.limit, span.offset];
    window = `LIMIT ?2 + 0 OFFSET ?3 + 0`;
  } else if (start) {
    // The walk's `?1` is the offset; past the end of the list it finds no minute and the page is empty.
    walk = `${walkLevels(statuses)}, `;
    from = "created_at >= (SELECT block FROM walk)";
    params = [start.walk, span.limit];
    window = `LIMIT ?2 + 0 OFFSET coalesce((SELECT ?1 - before FROM walk), 0)`;
  }
  const arms = statuses.map(
    (status) => `SELECT rowid AS r, created_at, id FROM users WHERE status = '${status}' AND ${from}`,
  );
  return [
    {
      sql: `WITH ${walk}page AS (${arms.join(" UNION ALL ")} ORDER BY created_at, id ${window})
        ${SELECT_USERS} WHERE rowid IN (SELECT r FROM page) ORDER BY created_at, id`,
      params,
    },
    // Counting rows costs O(users); the per-status counts kept by triggers cost the same at any size.
    { sql: `SELECT coalesce(sum(n), 0) AS n FROM user_counts WHERE status IN (${quoted(statuses)})`, params: [] },
  ];
}

/**
 * The walk to the minute in which the row at offset `?1` of the list was created, as CTEs ending in
 * `walk(block, before)`: the minute, and how many rows of the list come before it. It is the first
 * block, month down to minute, whose rows and all before it number more than the offset; each level
 * reads the blocks of the one above (a month's days, a day's hours, an hour's minutes). Past the end
 * of the list `walk` has no row.
 *
 * SQLite runs the walk once per statement, however often the page refers to it (counted with a
 * function in node:sqlite). Put in the page's statement it once cost 2 ms against 0.3 ms alone: not
 * the walk, but the statement prepared again at every run for its bare bound LIMIT (`listStatements`).
 */
function walkLevels(statuses: UserRow["status"][]): string {
  const levels = BLOCK_SIZES.map((size, i) => {
    const parent = i === 0 ? "(SELECT '' AS block, 0 AS before)" : `l${i}`;
    return `l${i + 1}(block, before) AS MATERIALIZED (
      SELECT block, before FROM (
        SELECT block, n, (SELECT before FROM ${parent}) + sum(n) OVER (ORDER BY block) - n AS before
        FROM (SELECT block, sum(n) AS n FROM user_blocks
          WHERE size = ${size} AND status IN (${quoted(statuses)})
            AND block >= (SELECT block FROM ${parent}) AND block < (SELECT block FROM ${parent}) || '~'
          GROUP BY block))
      WHERE before + n > ?1 ORDER BY block LIMIT 1)`;
  });
  return `${levels.join(", ")}, walk AS (SELECT block, before FROM l${BLOCK_SIZES.length})`;
}

/**
 * `walkLevels` over several databases' `user_blocks`, summed here level by level: a round trip per
 * level, each database asked at once. Past the end of the list: a start after every row.
 */
async function summedPageStart(
  dbs: readonly D1Reader[],
  statuses: UserRow["status"][],
  offset: number,
): Promise<{ block: string; skip: number }> {
  let block = "";
  let before = 0;
  for (const size of BLOCK_SIZES) {
    const answers = await Promise.all(
      dbs.map((db) =>
        db
          .prepare(
            `SELECT block, sum(n) AS n FROM user_blocks WHERE size = ${size} AND status IN (${quoted(statuses)})
              AND block >= ?1 AND block < ?1 || '~' GROUP BY block`,
          )
          .bind(block)
          .all<{ block: string; n: number }>(),
      ),
    );
    const counts = new Map<string, number>();
    for (const { results } of answers) {
      for (const row of results) counts.set(row.block, (counts.get(row.block) ?? 0) + row.n);
    }
    const blocks = [...counts.keys()].sort();
    const inside = blocks.find((candidate) => {
      const n = counts.get(candidate) ?? 0;
      if (before + n > offset) return true;
      before += n;
      return false;
    });
    if (inside === undefined) return { block: "~", skip: 0 };
    block = inside;
  }
  return { block, skip: offset - before };
}

/** Statuses as SQL literals: only this file's constants, never a caller's text. */
function quoted(statuses: UserRow["status"][]): string {
  return statuses.map((status) => `'${status}'`).join(", ");
}

/**
 * A search: the ids of the rows holding the needles' rarest trigrams from the trigram index
 * (`rarestTrigramsMatch`), then their rows, checked for the needles, filtered by status and sorted;
 * and their count. A needle too short for trigrams is matched by LIKE on the rows the index found,
 * or, when no needle is long enough, on every row of the statuses (a scan).
 */
function searchStatements(
  statuses: UserRow["status"][],
  needles: [string, string][],
  filters: ListFilters,
  span: Span,
): [Statement, Statement] {
  const indexed = needles.filter(([, needle]) => [...needle].length >= INDEXED_NEEDLE);
  const scanned = needles.filter(([, needle]) => [...needle].length < INDEXED_NEEDLE);
  const where: string[] = [];
  const params: string[] = [];
  if (indexed.length > 0) {
    const match = rarestTrigramsMatch(indexed);
    where.push(`rowid IN (SELECT rowid FROM users_search WHERE users_search MATCH ${match.sql})`);
    params.push(...match.params);
  }
  // `+status`: with matches in hand, filter them rather than walk the status's index in order.
  where.push(`${indexed.length > 0 ? "+" : ""}status IN (${quoted(statuses)})`);
  // The index found the users holding an ASCII needle's rarest trigrams: each is checked for the
  // needle itself. `lower` folds ASCII only, as LIKE does; LIKE with a bound pattern on an indexed
  // column makes SQLite prepare the statement again at every run (30 µs of this one, at any size).
  for (const [column, needle] of indexed.filter(([, needle]) => isAscii(needle))) {
    where.push(`instr(lower(${column}), lower(?)) > 0`);
    params.push(needle);
  }
  for (const [column, needle] of scanned) {
    // SQLite's LIKE is case-insensitive for ASCII; the pattern's own wildcards are escaped.
    where.push(`${column} LIKE ? ESCAPE '\\'`);
    params.push(`%${needle.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`);
  }
  const condition = where.join(" AND ");
  const page: Statement = filters.after
    ? {
        sql: `${SELECT_USERS} WHERE ${condition} AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ? + 0`,
        params: [...params, filters.after.createdAt, filters.after.id, span.limit],
      }
    : {
        sql: `${SELECT_USERS} WHERE ${condition} ORDER BY created_at, id LIMIT ? + 0 OFFSET ? + 0`,
        params: [...params, span.limit, span.offset],
      };
  return [page, { sql: `SELECT count(*) AS n FROM users WHERE ${condition}`, params }];
}

export function encodeListCursor(cursor: ListCursor): string {
  return encodeCursorKey([cursor.createdAt, cursor.id]);
}

/** The cursor of `encodeListCursor`, or null when it is not one. */
export function decodeListCursor(text: string): ListCursor | null {
  const [createdAt, id] = decodeCursorKey(text) ?? [];
  if (typeof createdAt !== "string" || typeof id !== "string") return null;
  return { createdAt, id };
}
