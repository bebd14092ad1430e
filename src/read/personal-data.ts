/**
 * The read side's part of the access report (`GET /v1/users/{id}/personal-data/`): every D1 row
 * about one user, per table, as stored (snake_case columns, JSON columns parsed). Read only, in one
 * batch. The object's part (stream, vault, identity claims) is `src/write/personal-data.ts`; the
 * subscriptions' pending deliveries are `src/deliver/personal-data.ts`.
 */
import type { D1Reader } from "./queries";

/** Rows per table in one report at most: a longer list is reported as truncated. */
export const REPORT_ROWS_MAX = 1000;

type Row = Record<string, unknown>;

export interface Rows {
  rows: Row[];
  truncated: boolean;
}

export interface HeldInReadSide {
  /** The user's row in the read model (`users`); null if it has none (yet). */
  read_model: Row | null;
  audit_log: Rows;
  /** Audit rows of other users' events this user caused: its id and username as the actor. */
  audit_log_as_actor: Rows;
  feed: Rows;
  dead_letters: Rows;
  mail: Rows;
}

const LIMIT = REPORT_ROWS_MAX + 1;

/** The user's `users` row as stored, every column: what the access report shows of the read model. */
export const usersRowStatement = (db: D1Reader, userId: string) =>
  db.prepare("SELECT * FROM users WHERE id = ?").bind(userId);

/**
 * `readDb` is the user's read database (its `users` row, docs/decisions/0026), `db` the one that
 * keeps the audit log, feed, dead letters and mail (`DB`): one batch per database, at once.
 */
export async function heldInReadSide(readDb: D1Database, db: D1Database, userId: string): Promise<HeldInReadSide> {
  const [users, audit, asActor, feed, letters, mail] = await batchedPerDatabase<Row>([
    [readDb, usersRowStatement(readDb, userId)],
    [
      db,
      db
        .prepare(
          `SELECT event_id, event_type, revision, timestamp, actor_id, actor_username, reason, request_id, username,
                email, import_request_id
         FROM audit_log WHERE user_id = ? ORDER BY timestamp, revision LIMIT ?`,
        )
        .bind(userId, LIMIT),
    ],
    [
      db,
      db
        .prepare(
          `SELECT event_id, user_id, event_type, revision, timestamp, actor_id, actor_username, reason, request_id
         FROM audit_log WHERE actor_id = ? AND user_id != ? ORDER BY timestamp, user_id, revision LIMIT ?`,
        )
        .bind(userId, userId, LIMIT),
    ],
    [
      db,
      db.prepare("SELECT position, event FROM feed WHERE user_id = ? ORDER BY revision LIMIT ?").bind(userId, LIMIT),
    ],
    [
      db,
      db
        .prepare(
          `SELECT id, message_id, revision, projection, state, error, failed_at, redriven_at, resolved_at, body
         FROM dead_letters WHERE aggregate_id = ? ORDER BY id LIMIT ?`,
        )
        .bind(userId, LIMIT),
    ],
    [
      db,
      db
        .prepare(
          "SELECT kind, recipient, subject, body, event_id, sent_at, message_id FROM sent_emails WHERE user_id = ? ORDER BY sent_at LIMIT ?",
        )
        .bind(userId, LIMIT),
    ],
  ]);
  return {
    read_model: users?.results[0] ?? null,
    audit_log: bounded(audit?.results ?? []),
    audit_log_as_actor: bounded(asActor?.results ?? []),
    feed: bounded((feed?.results ?? []).map((row) => ({ position: row.position, event: parsed(row.event) }))),
    dead_letters: bounded((letters?.results ?? []).map((row) => ({ ...row, body: parsed(row.body) }))),
    mail: bounded(mail?.results ?? []),
  };
}

/** How many dead letters carry this user's events: each holds the event as it was published. */
export async function deadLettersOf(db: D1Database, userId: string): Promise<number> {
  const row = await db
    .prepare("SELECT COUNT(*) AS n FROM dead_letters WHERE aggregate_id = ?")
    .bind(userId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** The webhook and mail subscriptions, as D1's `subscriptions` list mirrors them. */
export async function subscriptionList(db: D1Database): Promise<{ id: string; url: string; status: string }[]> {
  const { results } = await db
    .prepare("SELECT id, url, status FROM subscriptions ORDER BY id")
    .all<{ id: string; url: string; status: string }>();
  return results;
}

/** The statements' results in their order, each database's statements run as one batch, the batches at once. */
async function batchedPerDatabase<T>(statements: [D1Database, D1PreparedStatement][]): Promise<D1Result<T>[]> {
  const groups = new Map<D1Database, number[]>();
  statements.forEach(([db], i) => groups.set(db, [...(groups.get(db) ?? []), i]));
  const results: D1Result<T>[] = [];
  await Promise.all(
    [...groups].map(async ([db, indexes]) => {
      const answers = await db.batch<T>(indexes.map((i) => statements[i]![1]));
      indexes.forEach((i, k) => (results[i] = answers[k]!));
    }),
  );
  return results;
}

function bounded(rows: Row[]): Rows {
  return { rows: rows.slice(0, REPORT_ROWS_MAX), truncated: rows.length > REPORT_ROWS_MAX };
}

function parsed(text: unknown): unknown {
  if (typeof text !== "string") return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
