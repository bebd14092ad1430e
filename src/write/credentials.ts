import { REVOKING_EVENTS, acceptsToken, publicUser, type PublicUser } from "../domain/user";
import type { WatchTarget } from "../live/protocol";
import { TOKEN_REFUSED, type SelfCaller, type TokenRefused } from "./protocol";
import type { StreamContext } from "./stream-context";
import { issueTicket, redeemTicket } from "./tickets";

// What a user's own object vouches for: its tokens, its single-use tickets, and where it watches
// other streams. A credential holds while the user is active and nothing revoked it since.

/**
 * The user a token issued at `issuedAtRevision` acts for, or null: unknown, not active, or the
 * token predates the latest password change, suspension, deletion or erasure.
 */
export function tokenHolder(stream: StreamContext, issuedAtRevision: number): PublicUser | null {
  const { user, revision } = stream.current;
  return user && acceptsToken(user, issuedAtRevision) ? publicUser(user, revision) : null;
}

/** A single-use ticket, asked with the user's own token. `now` comes from the caller. */
export async function ticketFor(
  stream: StreamContext,
  now: number,
  caller: SelfCaller,
): Promise<{ secret: string; expiresIn: number } | TokenRefused> {
  if (!stream.acceptsSelf(stream.userId, caller)) return TOKEN_REFUSED;
  return issueTicket(stream.sql, now);
}

/** Uses up a ticket: the user if the ticket was valid and the user active. */
export async function ticketHolder(
  stream: StreamContext,
  secret: string,
  now: number,
): Promise<{ revision: number; user: PublicUser } | null> {
  // A ticket naming a user that never existed must not create its storage.
  if (!stream.stored || !(await redeemTicket(stream.sql, secret, now))) return null;
  const { user, revision } = stream.current;
  return user?.status === "active" ? { revision, user: publicUser(user, revision) } : null;
}

/**
 * Asked by the object of a stream this user watches: does its credential still hold? If so, the
 * place is recorded, so that a revocation can close the socket there.
 */
export function startWatching(stream: StreamContext, target: WatchTarget, authRevision: number): boolean {
  const user = stream.current.user;
  if (!user || user.status !== "active" || revokedSince(stream.sql, authRevision)) return false;
  stream.sql.exec("INSERT INTO watching (target) VALUES (?) ON CONFLICT DO NOTHING", target);
  return true;
}

/** This user's last socket on `target` closed. */
export function stopWatching(stream: StreamContext, target: WatchTarget): void {
  stream.sql.exec("DELETE FROM watching WHERE target = ?", target);
}

function revokedSince(sql: SqlStorage, revision: number): boolean {
  const types = [...REVOKING_EVENTS];
  const placeholders = types.map(() => "?").join(", ");
  const query = `SELECT 1 FROM events WHERE revision > ? AND event_type IN (${placeholders}) LIMIT 1`;
  return sql.exec(query, revision, ...types).toArray().length > 0;
}
