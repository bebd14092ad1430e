import { ERASED, type PublicEvent } from "../domain/events";
import { revokesTokens } from "../domain/user";
import type { UserRow } from "./schema";

/**
 * The `users` read model as a pure fold over redacted events: the row after `event`, given the row
 * before it (null before USER_CREATED). Unknown or out-of-place events leave the row as it was,
 * with its revision advanced: a projection never rejects an event.
 */
export function projectUser(row: UserRow | null, event: PublicEvent): UserRow | null {
  if (event.event_type === "USER_CREATED") {
    const { data } = event;
    return {
      id: event.aggregate_id,
      username: data.username,
      email: data.email,
      firstName: data.first_name,
      lastName: data.last_name,
      role: data.role,
      status: "active",
      createdAt: event.timestamp,
      updatedAt: event.timestamp,
      deletedAt: null,
      lastLoginAt: null,
      revision: event.revision,
      tokensValidFrom: 0,
    };
  }
  if (!row) return null;
  // Not a change of the user (the same password under the service's own hash): only counted as seen.
  if (event.event_type === "PASSWORD_REHASHED") return { ...row, revision: event.revision };
  // Kept apart for the default branch, where the switch has narrowed `event` to nothing.
  const { revision } = event;
  const next: UserRow = {
    ...row,
    updatedAt: event.timestamp,
    revision: event.revision,
    tokensValidFrom: revokesTokens(event.event_type) ? event.revision : row.tokensValidFrom,
  };
  switch (event.event_type) {
    case "USER_UPDATED":
      return {
        ...next,
        firstName: event.data.first_name ?? row.firstName,
        lastName: event.data.last_name ?? row.lastName,
        email: event.data.email ?? row.email,
      };
    case "PASSWORD_CHANGED":
      return next;
    case "USER_DELETED":
      return { ...next, status: "deleted", deletedAt: event.timestamp };
    case "USER_SUSPENDED":
      return { ...next, status: "suspended" };
    case "USER_REACTIVATED":
      return { ...next, status: "active" };
    case "USER_RESTORED":
      return { ...next, status: event.data.status, deletedAt: null };
    case "USER_LOGGED_IN":
      // A login is not a change of the user's data: updated_at stays.
      return { ...row, lastLoginAt: event.timestamp, revision: event.revision };
    case "USER_CORRECTED":
      return {
        ...next,
        username: event.data.username ?? row.username,
        firstName: event.data.first_name ?? row.firstName,
        lastName: event.data.last_name ?? row.lastName,
        email: event.data.email ?? row.email,
      };
    case "USER_ERASED":
      // The row stays as a tombstone: its revision keeps redelivered old events from resurrecting it.
      return {
        ...next,
        username: ERASED,
        email: ERASED,
        firstName: ERASED,
        lastName: ERASED,
        status: "erased",
        deletedAt: row.deletedAt ?? event.timestamp,
        lastLoginAt: null,
      };
    default:
      // A type from a newer writer, read from its object to fill a gap: keep the row, count it as seen.
      return { ...row, revision };
  }
}

/** The contract's `User` from a row. */
export function userView(row: UserRow) {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    first_name: row.firstName,
    last_name: row.lastName,
    role: row.role,
    status: row.status,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    deleted_at: row.deletedAt,
    last_login_at: row.lastLoginAt,
    revision: row.revision,
  };
}
