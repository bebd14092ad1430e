import { and, asc, count, inArray, sql, type SQL } from "drizzle-orm";
import type { AnySQLiteColumn } from "drizzle-orm/sqlite-core";
import { drizzle } from "drizzle-orm/d1";
import { users, type UserRow } from "./schema";

export interface ListFilters {
  page: number;
  pageSize: number;
  username?: string | undefined;
  email?: string | undefined;
}

const FIND_USER = `SELECT id, username, email, first_name AS firstName, last_name AS lastName, role, status,
  created_at AS createdAt, updated_at AS updatedAt, deleted_at AS deletedAt, revision FROM users WHERE id = ?`;

/** The hot read path: one prepared statement, no query building (see BENCHMARKS.md). */
export async function findUserRow(db: D1Database, id: string): Promise<UserRow | undefined> {
  return (await db.prepare(FIND_USER).bind(id).first<UserRow>()) ?? undefined;
}

/** Live users matching case-insensitive substrings, in creation order (then id, for ties). */
export async function listUsers(db: D1Database, filters: ListFilters) {
  const where = and(
    inArray(users.status, ["active", "suspended"]),
    contains(users.username, filters.username),
    contains(users.email, filters.email),
  );
  const orm = drizzle(db);
  const [rows, total] = await orm.batch([
    orm
      .select()
      .from(users)
      .where(where)
      .orderBy(asc(users.createdAt), asc(users.id))
      .limit(filters.pageSize)
      .offset((filters.page - 1) * filters.pageSize),
    orm.select({ n: count() }).from(users).where(where),
  ]);
  return { rows, count: total[0]?.n ?? 0 };
}

// SQLite's LIKE is case-insensitive for ASCII; the pattern's own wildcards are escaped.
function contains(column: AnySQLiteColumn, needle: string | undefined): SQL | undefined {
  if (!needle) return undefined;
  const escaped = needle.replace(/[\\%_]/g, (ch) => `\\${ch}`);
  return sql`${column} LIKE ${`%${escaped}%`} ESCAPE '\\'`;
}
