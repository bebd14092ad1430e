import { and, eq, gt, inArray, lte } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { ERASED, type PublicEvent } from "../../domain/events";
import { auditLog, checkpoints, type AuditRow } from "../schema";
import type { Checkpoint, Projection, Step } from "./index";

const NAME = "audit";
const IDS_PER_QUERY = 90;

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
    });
  }
  if (scrub) for (const row of rows) Object.assign(row, { username: ERASED, email: ERASED });
  return { rows, state, scrub };
}

function identityAfter(state: AuditState | null, event: PublicEvent): AuditState | null {
  switch (event.event_type) {
    case "USER_CREATED":
      return { username: event.data.username, email: event.data.email };
    case "USER_UPDATED":
      return state && { username: state.username, email: event.data.email ?? state.email };
    case "USER_CORRECTED":
      return state && { username: event.data.username ?? state.username, email: event.data.email ?? state.email };
    case "USER_ERASED":
      return { username: ERASED, email: ERASED };
    case "PASSWORD_CHANGED":
    case "PASSWORD_REHASHED":
    case "USER_DELETED":
    case "USER_SUSPENDED":
    case "USER_REACTIVATED":
    case "USER_RESTORED":
    case "USER_LOGGED_IN":
      return state;
  }
  // A type from a newer writer, read from its object to fill a gap: the identity stays.
  return state;
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

const CHECKPOINT = `coalesce((SELECT revision FROM checkpoints WHERE projection = '${NAME}' AND user_id = ?), 0)`;
/** Live: written only while the checkpoint is still the one planned from. Rebuild: only forward. */
const insertRow = (when: "=" | "<=") => `INSERT INTO audit_log (event_id, user_id, event_type, revision, timestamp,
    actor_id, actor_username, reason, request_id, username, email)
  SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${CHECKPOINT} ${when} ?
  ON CONFLICT (event_id) DO NOTHING`;
const moveCheckpoint = (when: "=" | "<=") => `INSERT INTO checkpoints (projection, user_id, revision, state)
  VALUES ('${NAME}', ?, ?, ?)
  ON CONFLICT (projection, user_id) DO UPDATE SET revision = excluded.revision, state = excluded.state
  WHERE checkpoints.revision ${when} ?`;
const SCRUB = `UPDATE audit_log SET username = '${ERASED}', email = '${ERASED}' WHERE user_id = ?`;

function rowParams(row: AuditRow) {
  return [
    row.eventId,
    row.userId,
    row.eventType,
    row.revision,
    row.timestamp,
    row.actorId,
    row.actorUsername,
    row.reason,
    row.requestId,
    row.username,
    row.email,
  ];
}

export const auditProjection: Projection<AuditState | null> = {
  name: NAME,
  checkpointSql: (user) => `(SELECT revision FROM checkpoints WHERE projection = '${NAME}' AND user_id = ${user})`,

  async load(db, userIds) {
    const orm = drizzle(db);
    const loaded = new Map<string, Checkpoint<AuditState | null>>();
    for (let i = 0; i < userIds.length; i += IDS_PER_QUERY) {
      const rows = await orm
        .select()
        .from(checkpoints)
        .where(and(eq(checkpoints.projection, NAME), inArray(checkpoints.userId, userIds.slice(i, i + IDS_PER_QUERY))));
      for (const row of rows) {
        loaded.set(row.userId, { revision: row.revision, state: JSON.parse(row.state) as AuditState | null });
      }
    }
    return loaded;
  },

  plan(db, userId, from, events) {
    const step: Step = { statements: [], guard: null };
    if (events.length === 0) return step;
    const at = from?.revision ?? 0;
    const { rows, state, scrub } = foldAudit(from?.state ?? null, events);
    // Each row is written only while the checkpoint is still `at`: a consumer that lost the race to
    // a concurrent one (say, one projecting an erasure) writes nothing.
    const insert = db.prepare(insertRow("="));
    step.statements.push(...rows.map((row) => insert.bind(...rowParams(row), userId, at)));
    if (scrub) step.statements.push(db.prepare(SCRUB).bind(userId));
    step.guard = step.statements.length;
    const newest = events[events.length - 1]!.revision;
    step.statements.push(db.prepare(moveCheckpoint("=")).bind(userId, newest, JSON.stringify(state), at));
    return step;
  },

  rebuild(db, userId, stream) {
    if (stream.length === 0) {
      return [
        db.prepare("DELETE FROM audit_log WHERE user_id = ?").bind(userId),
        db.prepare(`DELETE FROM checkpoints WHERE projection = '${NAME}' AND user_id = ?`).bind(userId),
      ];
    }
    // Only forward: if the live consumer already projected past this stream read, nothing changes.
    const head = stream[stream.length - 1]!.revision;
    const { rows, state } = foldAudit(null, stream);
    const insert = db.prepare(insertRow("<="));
    return [
      db.prepare(`DELETE FROM audit_log WHERE user_id = ? AND ${CHECKPOINT} <= ?`).bind(userId, userId, head),
      ...rows.map((row) => insert.bind(...rowParams(row), userId, head)),
      db.prepare(moveCheckpoint("<=")).bind(userId, head, JSON.stringify(state), head),
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
