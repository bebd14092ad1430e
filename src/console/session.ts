/**
 * The signed-in session: the bearer token lives in this tab's sessionStorage only (never in a URL,
 * never in localStorage), so closing the tab signs out and other tabs sign in on their own.
 */
export interface Session {
  token: string;
  userId: string;
  username: string;
  role: "admin" | "user";
  /** Milliseconds since the epoch at which the token expires. */
  expiresAt: number;
}

const KEY = "console.session";
const NEXT = "console.next";

/** The token's claims, read without verifying: the server verifies; the console only needs role and expiry. */
export function sessionFromToken(token: string): Session | null {
  try {
    const payload = token.split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as { user_id?: unknown; sub?: unknown; role?: unknown; exp?: unknown };
    if (typeof claims.user_id !== "string" || typeof claims.sub !== "string" || typeof claims.exp !== "number") {
      return null;
    }
    const role = claims.role === "admin" ? "admin" : "user";
    return { token, userId: claims.user_id, username: claims.sub, role, expiresAt: claims.exp * 1000 };
  } catch {
    return null;
  }
}

export function loadSession(): Session | null {
  const token = sessionStorage.getItem(KEY);
  const session = token ? sessionFromToken(token) : null;
  return session && session.expiresAt > Date.now() ? session : null;
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, session.token);
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

/** The page to go back to after signing in again (an expired token remembers where it was). */
export function rememberPage(path: string): void {
  sessionStorage.setItem(NEXT, path);
}

export function takeRememberedPage(): string | null {
  const path = sessionStorage.getItem(NEXT);
  sessionStorage.removeItem(NEXT);
  return path && path.startsWith("/console/") ? path : null;
}
