import { LIMITS } from "../live/protocol";

/**
 * Single-use tickets for browsers, which cannot set an Authorization header on a WebSocket. A
 * ticket is `<user id>.<secret>`; the user's own object keeps the secret's SHA-256 until it is
 * used or expires, and forgets every ticket when the user's credentials are revoked.
 */

export async function issueTicket(sql: SqlStorage, now: number): Promise<{ secret: string; expiresIn: number }> {
  const secret = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const hash = await sha256(secret);
  sql.exec("DELETE FROM tickets WHERE expires_at <= ?", now);
  sql.exec(
    `DELETE FROM tickets WHERE hash IN
       (SELECT hash FROM tickets ORDER BY expires_at DESC LIMIT -1 OFFSET ?)`,
    LIMITS.maxTicketsPerUser - 1,
  );
  sql.exec("INSERT INTO tickets (hash, expires_at) VALUES (?, ?)", hash, now + LIMITS.ticketSeconds * 1000);
  return { secret, expiresIn: LIMITS.ticketSeconds };
}

/** Whether the ticket was valid; either way it cannot be used again. */
export async function redeemTicket(sql: SqlStorage, secret: string, now: number): Promise<boolean> {
  const hash = await sha256(secret);
  const used = sql.exec<{ expires_at: number }>("DELETE FROM tickets WHERE hash = ? RETURNING expires_at", hash);
  const row = used.toArray()[0];
  return row !== undefined && row.expires_at > now;
}

export function forgetTickets(sql: SqlStorage): void {
  sql.exec("DELETE FROM tickets");
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return base64url(new Uint8Array(digest));
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}
