/**
 * Many rows in one D1 statement. D1 binds at most 100 parameters per statement, which a plain
 * multi-row insert spends in a few rows; one parameter can instead hold a JSON array of any number
 * of rows, which the statement unpacks with `json_each` (each row is `value`, a field is
 * `value ->> '$.name'`). Arrays are cut well under D1's 2 MB limit on one value.
 */
const CHUNK_BYTES = 400_000;

/** `sql` (whose `?1` is the JSON array, `?2`… the `params`) once per chunk of `rows`; none without rows. */
export function bulk(
  db: D1Database,
  sql: string,
  rows: readonly unknown[],
  ...params: unknown[]
): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  let chunk: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (chunk.length > 0) statements.push(db.prepare(sql).bind(`[${chunk.join(",")}]`, ...params));
    chunk = [];
    bytes = 0;
  };
  for (const row of rows) {
    const json = JSON.stringify(row);
    if (bytes + json.length > CHUNK_BYTES) flush();
    chunk.push(json);
    bytes += json.length + 1;
  }
  flush();
  return statements;
}

/** The ids of a JSON array bound as `?1`, for `WHERE id IN (…)`. */
export const JSON_IDS = "(SELECT value FROM json_each(?1))";

/**
 * An upsert's `DO UPDATE … WHERE` clause that skips rows already equal to the incoming ones: a
 * rebuild mostly meets rows the live projector wrote, and an unchanged row then costs a lookup
 * instead of a write to every index of the table.
 */
export function changed(table: string, columns: readonly string[]): string {
  return `(${columns.map((c) => `${table}.${c} IS NOT excluded.${c}`).join(" OR ")})`;
}
