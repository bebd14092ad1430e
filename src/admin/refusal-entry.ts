import type { RefusalRow } from "../read/schema";
import type { RefusalEntry } from "./refusal-schemas";

/** A journal row as the admin routes answer it (`GET /admin/refusals`, a request's trail). */
export function refusalEntryOf(row: RefusalRow): RefusalEntry {
  return {
    at: row.at,
    actor_id: row.actorId,
    target_id: row.targetId,
    command: row.command,
    status: row.status,
    reason: row.reason,
    request_id: row.requestId,
  };
}
