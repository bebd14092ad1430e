import type { AuditRow } from "../read/schema";
import type { AuditEntry } from "./schemas";

/** An audit-log row as the admin routes answer it (`GET /admin/audit`, a request's trail). */
export function auditEntryOf(row: AuditRow): AuditEntry {
  return {
    event_id: row.eventId,
    user_id: row.userId,
    event_type: row.eventType,
    revision: row.revision,
    timestamp: row.timestamp,
    actor_id: row.actorId,
    actor_username: row.actorUsername,
    reason: row.reason,
    request_id: row.requestId,
    username: row.username,
    email: row.email,
    import_request_id: row.importRequestId,
  };
}
