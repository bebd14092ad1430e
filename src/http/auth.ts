import { createMiddleware } from "hono/factory";
import { config } from "../config";
import { sign, verify } from "hono/jwt";
import type { Role } from "../domain/events";
import type { PublicUser } from "../domain/user";
import { httpError } from "./errors";
import { parseUserId } from "./ids";
import type { AppEnv } from "./context";

export const TOKEN_TTL_SECONDS = 30 * 60;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const SCOPES = {
  admin: ["user:create", "user:read", "user:update", "user:delete"],
  user: ["user:read", "user:update"],
} as const satisfies Record<Role, readonly string[]>;
export type Scope = (typeof SCOPES)["admin"][number];

/** The authenticated caller, as the token and the caller's own stream agree on it. */
export interface Actor {
  id: string;
  username: string;
  role: Role;
  scopes: readonly string[];
  /** The caller's stream revision when its credential was accepted (live sockets close on later revocations). */
  revision: number;
}

export function actorOf(user: PublicUser, revision: number): Actor {
  return { id: user.id, username: user.username, role: user.role, scopes: SCOPES[user.role], revision };
}

const keys = new Map<string, Promise<CryptoKey>>();

/** The HMAC key for a secret, imported once per isolate rather than on every request. */
function signingKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keys.set(secret, key);
  }
  return key;
}

/**
 * `rev` (ext) is the user's stream revision the token was issued at (its login event): the user's
 * object refuses tokens older than its latest password change, suspension, deletion or erasure.
 * A revision, not `iat`: seconds cannot order a login and a suspension within the same second.
 */
export async function issueToken(user: PublicUser, secret: string, now: number): Promise<string> {
  const iat = Math.floor(now / 1000);
  return sign(
    {
      sub: user.username,
      user_id: user.id,
      role: user.role,
      scopes: SCOPES[user.role],
      rev: user.revision,
      iat,
      exp: iat + TOKEN_TTL_SECONDS,
      jti: crypto.randomUUID(),
    },
    await signingKey(secret),
    "HS256",
  );
}

/**
 * Verifies the bearer token (signature, `exp` present and not past), then asks the caller's own
 * object whether it still accepts it: the user is active and the token is not older than the
 * user's latest password change, suspension, deletion or erasure.
 */
export const authenticated = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("Authorization");
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  if (!match?.[1]) throw httpError(401, "Not authenticated");
  const claims = await verify(match[1], await signingKey(config(c.env).JWT_SECRET), "HS256").catch(() => null);
  if (
    !claims ||
    typeof claims.user_id !== "string" ||
    !UUID.test(claims.user_id) ||
    typeof claims.exp !== "number" ||
    !Number.isSafeInteger(claims.rev)
  ) {
    throw httpError(401, "Could not validate credentials");
  }
  const stream = c.env.USER_STREAM.getByName(claims.user_id);
  const user = await stream.tokenHolder(claims.rev as number);
  if (!user) throw httpError(401, "User not found");
  c.set("actor", actorOf(user, user.revision));
  await next();
});

export function requireScope(actor: Actor, scope: Scope): void {
  if (!actor.scopes.includes(scope)) {
    throw httpError(403, `Insufficient permissions. Required scope: ${scope}`);
  }
}

export function requireSelfOrAdmin(actor: Actor, userId: string, reading = false): void {
  requireScope(actor, reading ? "user:read" : "user:update");
  if (actor.role !== "admin" && actor.id !== userId) {
    const what = reading ? "read" : "update";
    throw httpError(403, `Insufficient permissions. You can only ${what} your own user data.`);
  }
}

/**
 * The permission checks as route middleware: they run right after authentication and before the
 * request is validated, so a caller learns 401, then 403, then 422, as from the reference.
 */
export const requires = (scope: Scope) =>
  createMiddleware<AppEnv>(async (c, next) => {
    requireScope(c.var.actor, scope);
    await next();
  });

/**
 * Self or admin, judged on the path's id as given: an id that cannot be read is nobody's, so a
 * regular user gets 403 for it (the reference compares before it parses) and an admin the 400.
 */
export const selfOrAdmin = createMiddleware<AppEnv>(async (c, next) => {
  requireSelfOrAdmin(c.var.actor, parseUserId(c.req.param("user_id") ?? "") ?? "");
  await next();
});

/** The same for reads (the audit trail, live events): a read's scope and a read's message. */
export const selfOrAdminReading = createMiddleware<AppEnv>(async (c, next) => {
  requireSelfOrAdmin(c.var.actor, parseUserId(c.req.param("user_id") ?? "") ?? "", true);
  await next();
});
