import { redact, type PublicEvent } from "../domain/events";
import { heldBy } from "../domain/plan";
import { fold, publicUser, type PublicUser } from "../domain/user";
import { outboxBacklog, readEvents, readEventsUntil } from "./event-store";
import { TOKEN_REFUSED, type AuditTrailQuery, type SelfCaller, type StreamStatus, type TokenRefused } from "./protocol";
import type { StreamContext } from "./stream-context";

// Everything the object answers from its stream without writing: the user now and as it was, the
// stream as it may leave the object, the export, the audit trail, the backlog. A user reading its
// own passes its token (`caller`), checked here in the same call.

export function currentUser(stream: StreamContext): { revision: number; user: PublicUser | null } {
  const { user, revision } = stream.current;
  return { revision, user: user ? publicUser(user, revision) : null };
}

export function streamStatus(stream: StreamContext): StreamStatus {
  if (!stream.stored) return { revision: 0, outboxSize: 0, oldestOutboxAt: null };
  const { size, oldest } = outboxBacklog(stream.sql);
  return { revision: stream.current.revision, outboxSize: size, oldestOutboxAt: oldest };
}

export function userAsOf(
  stream: StreamContext,
  until: { revision?: number; timestamp?: string },
  caller?: SelfCaller,
): PublicUser | null | TokenRefused {
  if (caller && !stream.acceptsSelf(stream.userId, caller)) return TOKEN_REFUSED;
  if (!stream.userId) return null;
  const state = fold(readEventsUntil(stream.sql, stream.userId, until));
  return state.user ? publicUser(state.user, state.revision) : null;
}

/** The stream as it may leave the object: secrets redacted. */
export function publicEvents(stream: StreamContext, fromRevision: number, limit: number): PublicEvent[] {
  if (!stream.userId) return [];
  return readEvents(stream.sql, stream.userId, fromRevision, limit).map(redact);
}

/**
 * The stream for `GET /admin/export`: as every reader sees it, with the password hashes only for
 * a backup, and without this deployment's import marks, so that the export of a restored service
 * is the file it was restored from.
 */
export function exportedEvents(stream: StreamContext, fromRevision: number, limit: number, secrets: boolean) {
  if (!stream.userId) return [];
  return readEvents(stream.sql, stream.userId, fromRevision, limit).map((event): PublicEvent => {
    const { import_request_id: _mark, ...metadata } = event.metadata;
    return { ...(secrets ? event : redact(event)), metadata };
  });
}

/** A page of the audit trail; null for a user that never existed, so the caller can answer 404. */
export function auditTrail(
  stream: StreamContext,
  query: AuditTrailQuery,
  caller?: SelfCaller,
): PublicEvent[] | null | TokenRefused {
  if (caller && !stream.acceptsSelf(stream.userId, caller)) return TOKEN_REFUSED;
  if (!stream.userId) return null;
  return readEvents(stream.sql, stream.userId, query.fromRevision, query.limit, {
    from: query.fromTimestamp,
    to: query.toTimestamp,
  }).map(redact);
}

/** Whether this user, live, holds a username or email key: the truth behind the registry. */
export function holdsIdentity(stream: StreamContext, key: string): boolean {
  return heldBy(stream.current).includes(key);
}

/** The username and email keys this user holds, none once deleted or erased. */
export function heldIdentities(stream: StreamContext): string[] {
  return heldBy(stream.current);
}
