/** A drizzle query as a plain D1 statement, so queries built either way go into one `DB.batch`. */
export function statement(db: D1Database, query: { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql, params } = query.toSQL();
  return db.prepare(sql).bind(...params);
}
