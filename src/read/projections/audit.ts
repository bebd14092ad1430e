import { and, getTableColumns, gt, lte } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { ERASED, type PublicEvent } from "../../domain/events";
import { changesOf } from "../../domain/fields";
import { bulk, changed, JSON_IDS } from "../bulk";
import { auditLog, type AuditRow } from "../schema";
import { checkpointSqlOf, loadCheckpoints, moveCheckpointSql, moveCheckpointsSql, upToHeadSql } from "./checkpoints";
import type { Projection, Step } from "./index";

const NAME = "audit";

/** The user's identity as of the last event folded: what each audit row names. */
export interface AuditState {
  username: string;
  email: string;
}

/**
 * The audit log as a pure fold: one row per event, naming the user by the username and email it
 * had at that event (so a user deleted long ago is still found by its old name). After an erasure
 * every row of the user reads `[erased]`, which `scrub` applies to rows written earlier.
 */
export function foldAudit(
  state: AuditState | null,
  events: readonly PublicEvent[],
): { rows: AuditRow[]; state: AuditState | null; scrub: boolean } {
  const rows: AuditRow[] = [];
  let scrub = false;
  for (const event of events) {
    const identity = identityAfter(state, event);
    if (!identity) {
      // A stream starts with USER_CREATED: anything else first is a broken stream, not a blank name.
      throw new Error(
        `audit: ${event.event_type} at revision ${event.revision} of ${event.aggregate_id} precedes USER_CREATED`,
      );
    }
    state = identity;
    if (event.event_type === "USER_ERASED") scrub = true;
    rows.push({
      eventId: event.id,
      userId: event.aggregate_id,
      eventType: event.event_type,
      revision: event.revision,
      timestamp: event.timestamp,
      actorId: event.metadata.actor_id,
      actorUsername: event.metadata.actor_username,
      reason: event.metadata.reason ?? reasonOf(event),
      requestId: event.metadata.request_id,
      username: identity.username,
      email: identity.email,
      // An imported event's actor, request and reason are the source's word, not an act here: marked.
      importRequestId: event.metadata.import_request_id ?? null,
    });
  }
  // The user's own acts name it as their actor too: erased with the rest (an admin's name stays, it is the admin's).
  if (scrub) {
    for (const row of rows) {
      Object.assign(row, { username: ERASED, email: ERASED }, row.actorId === row.userId && { actorUsername: ERASED });
    }
  }
  return { rows, state, scrub };
}

/**
 * The username and email after `event`, by the deltas the user's state and row apply (`changesOf`).
 * Before USER_CREATED only an erasure names the user (`[erased]`); anything else is a broken stream.
 */
function identityAfter(state: AuditState | null, event: PublicEvent): AuditState | null {
  if (event.event_type === "USER_CREATED") return { username: event.data.username, email: event.data.email };
  const { username = state?.username, email = state?.email, status } = changesOf(event, null);
  if (username === undefined || email === undefined || (!state && status !== "erased")) return null;
  return { username, email };
}

/** The reason an event carries in its data (the request's metadata has the first say). */
function reasonOf(event: PublicEvent): string | null {
  switch (event.event_type) {
    case "USER_DELETED":
    case "USER_CORRECTED":
    case "USER_RESTORED":
      return event.data.reason;
    case "USER_CREATED":
    case "USER_UPDATED":
    case "PASSWORD_CHANGED":
    case "PASSWORD_REHASHED":
    case "USER_SUSPENDED":
    case "USER_REACTIVATED":
    case "USER_ERASED":
    case "USER_LOGGED_IN":
      return null;
  }
  return null;
}

/** The log's columns (drizzle key → SQL name), so the statements below cannot miss one. */
const COLUMNS = Object.entries(getTableColumns(auditLog)).map(([key, column]) => ({
  key: key as keyof AuditRow,
  name: column.name,
}));
/** A row as one element of a `bulk` JSON array. */
function columnsOf(row: AuditRow): Record<string, unknown> {
  return Object.fromEntries(COLUMNS.map((c) => [c.name, row[c.key]]));
}
const INSERT_FROM_JSON = `INSERT INTO audit_log (${COLUMNS.map((c) => c.name).join(", ")})
  SELECT ${COLUMNS.map((c) => `j.value ->> '$.${c.name}'`).join(", ")} FROM json_each(?1) j`;

/** Live: the user's rows (`?1`), written only while its checkpoint (`?2`) is still the one planned from (`?3`). */
const INSERT_PLANNED = `${INSERT_FROM_JSON}
  WHERE coalesce((SELECT revision FROM checkpoints WHERE projection = '${NAME}' AND user_id = ?2), 0) = ?3
  ON CONFLICT (event_id) DO NOTHING`;
const MOVE_CHECKPOINT = moveCheckpointSql(NAME);
const SCRUB = `UPDATE audit_log SET username = '${ERASED}', email = '${ERASED}',
  actor_username = CASE WHEN actor_id = user_id THEN '${ERASED}' ELSE actor_username END WHERE user_id = ?`;

/** Rebuild: only forward, each JSON row's user (`user_id`) while its checkpoint is at most `head`. */
const UP_TO_HEAD = upToHeadSql(NAME);
/**
 * Each JSON row is a user with its `head` and the ids of its stream's `events`: its rows not among
 * them go. Driven by the users' ids (the `audit_by_user` index) and one set of the step's event ids,
 * never by a scan of the log joined to the JSON.
 */
const DELETE_UP_TO_HEAD = `DELETE FROM audit_log
  WHERE user_id IN (SELECT j.value ->> '$.user_id' FROM json_each(?1) j WHERE ${UP_TO_HEAD})
    AND event_id NOT IN (SELECT e.value FROM json_each(?1) j, json_each(j.value, '$.events') e)`;
/** Rows written, or rewritten where they differ from the stream's. */
const UPSERT_UP_TO_HEAD = `${INSERT_FROM_JSON} WHERE ${UP_TO_HEAD}
  ON CONFLICT (event_id) DO UPDATE SET ${COLUMNS.filter((c) => c.name !== "event_id")
    .map((c) => `${c.name} = excluded.${c.name}`)
    .join(", ")}
  WHERE ${changed(
    "audit_log",
    COLUMNS.map((c) => c.name),
  )}`;
const MOVE_CHECKPOINTS = moveCheckpointsSql(NAME);

export const auditProjection: Projection<AuditState | null> = {
  name: NAME,
  checkpointSql: (user) => checkpointSqlOf(NAME, user),

  load: (db, userIds) => loadCheckpoints<AuditState | null>(db, NAME, userIds),

  plan(db, userId, from, events) {
    const step: Step = { statements: [], guard: null };
    if (events.length === 0) return step;
    const at = from?.revision ?? 0;
    const { rows, state, scrub } = foldAudit(from?.state ?? null, events);
    // Each row is written only while the checkpoint is still `at`: a consumer that lost the race to
    // a concurrent one (say, one projecting an erasure) writes nothing.
    step.statements.push(...bulk(db, INSERT_PLANNED, rows.map(columnsOf), userId, at));
    if (scrub) step.statements.push(db.prepare(SCRUB).bind(userId));
    step.guard = step.statements.length;
    const newest = events[events.length - 1]!.revision;
    step.statements.push(db.prepare(MOVE_CHECKPOINT).bind(userId, newest, JSON.stringify(state), at));
    return step;
  },

  rebuild(db, streams) {
    const gone: string[] = [];
    const heads: { user_id: string; head: number; events: string[] }[] = [];
    const rows: Record<string, unknown>[] = [];
    const moves: { user_id: string; revision: number; state: string }[] = [];
    for (const { userId, events } of streams) {
      if (events.length === 0) {
        gone.push(userId);
        continue;
      }
      const head = events[events.length - 1]!.revision;
      const folded = foldAudit(null, events);
      heads.push({ user_id: userId, head, events: events.map((event) => event.id) });
      rows.push(...folded.rows.map((row) => ({ ...columnsOf(row), head })));
      moves.push({ user_id: userId, revision: head, state: JSON.stringify(folded.state) });
    }
    // Only forward: a user the live consumer already projected past this stream read is left alone.
    return [
      ...bulk(db, `DELETE FROM audit_log WHERE user_id IN ${JSON_IDS}`, gone),
      ...bulk(db, `DELETE FROM checkpoints WHERE projection = '${NAME}' AND user_id IN ${JSON_IDS}`, gone),
      ...bulk(db, DELETE_UP_TO_HEAD, heads),
      ...bulk(db, UPSERT_UP_TO_HEAD, rows),
      ...bulk(db, MOVE_CHECKPOINTS, moves),
    ];
  },

  async userIdsBetween(db, after, upTo) {
    const rows = await drizzle(db)
      .selectDistinct({ id: auditLog.userId })
      .from(auditLog)
      .where(and(gt(auditLog.userId, after), upTo === null ? undefined : lte(auditLog.userId, upTo)));
    return rows.map((row) => row.id);
  },
};
