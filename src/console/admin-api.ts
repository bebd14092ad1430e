import type { EventType } from "../domain/events";

/**
 * The admin routes' answers the audit and operations pages read, as docs/API.md states them (the
 * routes' zod schemas in src/admin/routes/ reach Worker-only code, so the browser build cannot
 * import them; `EventType` comes from the domain, which it can).
 */

/** `GET /admin/audit/`: an event of any user, naming the user as of that event. */
export interface AuditEntry {
  event_id: string;
  user_id: string;
  event_type: EventType;
  revision: number;
  timestamp: string;
  actor_id: string | null;
  actor_username: string | null;
  reason: string | null;
  request_id: string | null;
  username: string;
  email: string;
}
export interface AuditPage {
  results: AuditEntry[];
  next_cursor: string | null;
}

/** Every event type, for the audit filter; the check below fails the build when the domain adds one. */
export const EVENT_TYPES = [
  "USER_CREATED",
  "USER_UPDATED",
  "PASSWORD_CHANGED",
  "PASSWORD_REHASHED",
  "USER_DELETED",
  "USER_SUSPENDED",
  "USER_REACTIVATED",
  "USER_CORRECTED",
  "USER_ERASED",
  "USER_RESTORED",
  "USER_LOGGED_IN",
] as const satisfies readonly EventType[];
const everyType: Exclude<EventType, (typeof EVENT_TYPES)[number]> extends never ? true : false = true;
void everyType;

/** `GET /admin/projections/status`. */
export interface ProjectionStatus {
  projections: {
    name: string;
    users_behind: number;
    oldest_owed_age_ms: number | null;
    last_projected: {
      event_id: string;
      user_id: string;
      revision: number;
      event_at: string;
      projected_at: string;
    } | null;
    dead_letters_open: number;
  }[];
  users_behind: number;
  outbox: { backlog: number; users: number; oldest_age_ms: number | null };
  dead_letters: number;
}

export type DeadLetterState = "open" | "redriven" | "resolved";

/** `GET /admin/dead-letters`: an event the projector gave up on, with every exhaustion. */
export interface DeadLetter {
  id: number;
  message_id: string;
  aggregate_id: string | null;
  revision: number | null;
  projection: string | null;
  state: DeadLetterState;
  exhaustions: number;
  attempts: number;
  first_error: string | null;
  first_failed_at: string | null;
  error: string;
  failed_at: string;
  redriven_at: string | null;
  resolved_at: string | null;
  history: { failed_at: string; error: string; attempts: number }[];
  body: string;
}
export interface DeadLetterPage {
  results: DeadLetter[];
  next_cursor: number | null;
}

/** `GET|POST /admin/projections/rebuild`. */
export interface RebuildProgress {
  projection: string | null;
  status: "idle" | "running" | "done";
  users_done: number;
  users_total: number;
  events: number;
  events_per_second: number | null;
  started_at: string | null;
  finished_at: string | null;
  last_error: string | null;
  ghosts_removed: number;
}

/** `POST /admin/import`. */
export interface ImportReport {
  imported: number;
  skipped: number;
  rejected: { line: number; aggregate_id: string | null; error: string }[];
}
