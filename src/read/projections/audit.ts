import { ERASED, type PublicEvent } from "../../domain/events";
import { changesOf } from "../../domain/fields";
import { auditLog, type AuditRow } from "../schema";
import { rowLogProjection, type Folded } from "./row-log";

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
export function foldAudit(state: AuditState | null, events: readonly PublicEvent[]): Folded<AuditRow, AuditState> {
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

export const auditProjection = rowLogProjection<AuditRow, AuditState>({
  name: "audit",
  // One log for the service, in `DB` (decision 0026).
  home: "service",
  table: auditLog,
  key: ["event_id"],
  keep: "eventId",
  // An event's row never changes once written (an erasure scrubs it in its own statement).
  onLiveConflict: "keep",
  fold: foldAudit,
  scrubSql: `UPDATE audit_log SET username = '${ERASED}', email = '${ERASED}',
  actor_username = CASE WHEN actor_id = user_id THEN '${ERASED}' ELSE actor_username END WHERE user_id = ?`,
});
