/**
 * The schema of a user's own SQLite, applied in order when the object starts. `PRAGMA user_version`
 * is not allowed in Durable Objects, so the applied steps are tracked in `_schema_migrations`.
 * Append new steps; never edit an applied one.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     revision INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     event_type TEXT NOT NULL,
     version INTEGER NOT NULL,
     timestamp TEXT NOT NULL,
     data TEXT NOT NULL,
     metadata TEXT NOT NULL
   );
   CREATE TRIGGER events_no_update BEFORE UPDATE ON events
     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
   CREATE TRIGGER events_no_delete BEFORE DELETE ON events
     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
   CREATE TABLE personal_data (revision INTEGER PRIMARY KEY, data TEXT NOT NULL);
   CREATE TABLE outbox (revision INTEGER PRIMARY KEY, created_at INTEGER NOT NULL);
   CREATE TABLE snapshots (revision INTEGER PRIMARY KEY, shape INTEGER NOT NULL, state TEXT NOT NULL);
   CREATE TABLE idempotency (
     key TEXT PRIMARY KEY,
     fingerprint TEXT NOT NULL,
     result TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE login_failures (at INTEGER NOT NULL);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // Live events: single-use tickets (their SHA-256, never the ticket), and where this user watches
  // other streams, so a revocation of its credentials can close those sockets.
  `CREATE TABLE tickets (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
   CREATE TABLE watching (target TEXT PRIMARY KEY);`,
  // An outbox row stays until the read side confirms its event; sent_at tells what was sent, and when.
  `ALTER TABLE outbox ADD COLUMN sent_at INTEGER;`,
];

/** How many steps a schema brought up to date has applied. */
export const SCHEMA_STEPS = MIGRATIONS.length;

/** Whether this object has ever stored anything: reads of an unknown id must not create storage. */
export function hasSchema(sql: SqlStorage): boolean {
  return (
    sql
      .exec<{ n: number }>(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_schema_migrations'",
      )
      .one().n > 0
  );
}

const WHOLE_SCHEMA = [
  "CREATE TABLE _schema_migrations (step INTEGER PRIMARY KEY)",
  ...MIGRATIONS,
  `INSERT INTO _schema_migrations (step) VALUES ${MIGRATIONS.map((_, index) => `(${index + 1})`).join(", ")}`,
].join(";\n");

/**
 * Every step at once, for an object that stores nothing yet (`hasSchema` false): the statements
 * `migrate` runs, in one call instead of eight. Paid by each user an import or a create makes.
 */
export function createSchema(sql: SqlStorage): void {
  sql.exec(WHOLE_SCHEMA);
}

export function migrate(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS _schema_migrations (step INTEGER PRIMARY KEY)");
  const applied = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM _schema_migrations").one().n;
  MIGRATIONS.slice(applied).forEach((statements, index) => {
    sql.exec(statements);
    sql.exec("INSERT INTO _schema_migrations (step) VALUES (?)", applied + index + 1);
  });
}
