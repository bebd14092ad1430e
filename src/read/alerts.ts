import {
  lagChecks,
  lagIncidentKey,
  OPS_USER,
  type AlertData,
  type OpsEventType,
  type ProjectionLag,
} from "../domain/alerts";
import { log } from "../observability";

/**
 * Operations alerts written into the feed (src/domain/alerts.ts says what they are). Every write is
 * an insert that ignores an event id the feed already holds: a check that runs twice, or two checks
 * that race, leave one alert per incident. Positions come from the feed's AUTOINCREMENT like any
 * user event's, so readers and subscriptions never find an alert behind their checkpoint.
 */

/**
 * Alert numbers: alerts are one pseudo-user's events, and like a user's they appear in revision
 * order. Each statement numbers its rows after the newest alert; a row the feed already held leaves
 * a gap, so the numbers grow but may skip.
 */
const LAST_REVISION = `(SELECT coalesce(MAX(revision), 0) FROM feed WHERE user_id = '${OPS_USER}')`;

/**
 * Alert rows from SQL expressions over the rows of `from` (filtered by `where`): id, type,
 * timestamp and data (a JSON object). The outer `WHERE` is required: SQLite would read the `ON` of
 * `ON CONFLICT` after a bare `FROM` as a join's.
 */
function alertInsert(parts: {
  id: string;
  type: string;
  timestamp: string;
  data: string;
  from: string;
  where: string;
  /** The rows' order, when there may be several. */
  order?: string;
}) {
  return `INSERT INTO feed (event_id, user_id, revision, event_type, timestamp, event)
  SELECT a.id, '${OPS_USER}', a.n, a.type, a.ts,
    json_object('id', a.id, 'aggregate_id', '${OPS_USER}', 'version', 1, 'revision', a.n, 'event_type', a.type, 'timestamp', a.ts,
      'data', json(a.data), 'metadata', json_object())
  FROM (SELECT ${parts.id} AS id, ${parts.type} AS type, ${parts.timestamp} AS ts, ${parts.data} AS data,
      ${LAST_REVISION} + row_number() OVER (${parts.order ?? ""}) AS n FROM ${parts.from} WHERE ${parts.where}) a
  WHERE true ORDER BY a.n
  ON CONFLICT (event_id) DO NOTHING`;
}

/** One alert: `?1` id, `?2` type, `?3` timestamp, `?4` data as JSON. */
const INSERT_ALERT = alertInsert({
  id: "?1",
  type: "?2",
  timestamp: "?3",
  data: "?4",
  from: "(SELECT 1)",
  where: "true",
});

export function alertStatement(
  db: D1Database,
  alert: { id: string; type: OpsEventType; timestamp: string; data: AlertData },
): D1PreparedStatement {
  return db.prepare(INSERT_ALERT).bind(alert.id, alert.type, alert.timestamp, JSON.stringify(alert.data));
}

/** `errorSummary` (src/domain/alerts.ts) in SQL: the first line, at most 200 characters. */
const FIRST_LINE = (text: string) =>
  `substr(CASE WHEN instr(${text}, char(10)) > 0 THEN substr(${text}, 1, instr(${text}, char(10)) - 1) ELSE ${text} END, 1, 200)`;

/**
 * When the letter's current incident began: its first failure, or the re-drive (or resolution) it
 * failed again after. Exhaustions while it stays open (its object re-publishes the event every round)
 * are the same incident, and keep this.
 */
const LETTER_OPENED = `max(coalesce(d.first_failed_at, d.failed_at), coalesce(d.redriven_at, ''), coalesce(d.resolved_at, ''))`;

/**
 * `ops.dead_letter` for the open letters `where` selects (over `d`, a `dead_letters` row), with the
 * id `deadLetterAlertId` builds, once per opening of a letter. Facts only: the event's and user's ids, the projection, the counts
 * and the error's first line.
 */
function letterAlertSql(where: string): string {
  return alertInsert({
    id: `'ops.dead_letter:' || d.id || ':' || ${LETTER_OPENED}`,
    type: `'ops.dead_letter'`,
    timestamp: "d.failed_at",
    data: `json_object('dead_letter_id', d.id, 'event_id', d.message_id, 'user_id', d.aggregate_id,
      'revision', d.revision, 'projection', d.projection, 'attempts', d.attempts, 'exhaustions', d.exhaustions,
      'error', ${FIRST_LINE("d.error")}, 'failed_at', d.failed_at, 'open_since', ${LETTER_OPENED})`,
    from: "dead_letters d",
    order: "ORDER BY d.id",
    where: `d.state = 'open' AND ${where}`,
  });
}

/** The alert for the letter of message `?1`, in the batch that records its exhaustion. */
export const LETTER_ALERT = letterAlertSql("d.message_id = ?1");

/** Letters checked per cron run for an alert they lack (recorded by a user's object, say). */
const LETTERS_PER_CHECK = 100;
const MISSING_LETTER_ALERTS = letterAlertSql(
  `d.id IN (SELECT id FROM dead_letters WHERE state = 'open' ORDER BY id DESC LIMIT ${LETTERS_PER_CHECK})`,
);

/**
 * The cron's check of the dead letters: the consumer alerts in the batch that records a letter, but
 * a letter a user's object records (an event too large to send) has nobody there to alert; the
 * newest open letters get theirs here. Returns how many alerts were written.
 */
export async function alertOpenLetters(db: D1Database): Promise<number> {
  const result = await db.prepare(MISSING_LETTER_ALERTS).run();
  return result.meta.changes ?? 0;
}

const OPEN_INCIDENT = "INSERT INTO ops_incidents (key, started_at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING";
const CLOSE_INCIDENT = "DELETE FROM ops_incidents WHERE key = ?1";
/** The lag alert of the incident open under `?1`, its start read from the row (not from this run). */
const LAG_ALERT = alertInsert({
  id: `'ops.projection_lagging:' || ?2 || ':' || i.started_at`,
  type: `'ops.projection_lagging'`,
  timestamp: "?3",
  data: "json_set(?4, '$.lagging_since', i.started_at)",
  from: "ops_incidents i",
  where: "i.key = ?1",
});

/**
 * The cron's lag check: a projection whose oldest owed event is older than `thresholdMs` opens an
 * incident (kept until a check finds it caught up) and alerts once for it, one D1 batch for all.
 * Returns the projections found lagging.
 */
export async function checkProjectionLag(
  db: D1Database,
  projections: readonly ProjectionLag[],
  thresholdMs: number,
  now = new Date(),
): Promise<string[]> {
  const checks = lagChecks(projections, thresholdMs);
  const at = now.toISOString();
  const statements = checks.flatMap((check) => {
    const key = lagIncidentKey(check.projection);
    if (!check.lagging) return [db.prepare(CLOSE_INCIDENT).bind(key)];
    return [
      db.prepare(OPEN_INCIDENT).bind(key, at),
      db.prepare(LAG_ALERT).bind(key, check.projection, at, JSON.stringify(check.facts)),
    ];
  });
  if (statements.length > 0) await db.batch(statements);
  const lagging = checks.filter((check) => check.lagging).map((check) => check.projection);
  if (lagging.length > 0) log("warn", "projections lagging", { projections: lagging });
  return lagging;
}
