import type { Context, Next } from "hono";
import { createMiddleware } from "hono/factory";
import { config } from "../config";
import { sign, verify } from "hono/jwt";
import type { JWTPayload } from "hono/utils/jwt/types";
import type { Role } from "../domain/events";
import { acceptsToken, type PublicUser } from "../domain/user";
import type { CallerRow } from "../read/queries";
import { TOKEN_REFUSED, type SelfCaller, type TokenRefused } from "../write/protocol";
import { httpError } from "./errors";
import { parseUserId } from "./ids";
import type { AppEnv } from "./context";
import { userStream } from "../objects";
import { verifiedOnce } from "./verified-tokens";

/*
 * Two words, one meaning each. A token is *verified* here, once: signature and expiry. It is
 * *confirmed* by whoever can tell whether its user still accepts it (active, and no password change,
 * suspension, deletion or erasure since it was issued: the domain's `acceptsToken`): the caller's
 * own object (`confirmWithObject`), the caller's read-model row (`confirmFromReadModel`), or the
 * object a caller acting on itself writes to or reads from (`selfCaller`, `confirmedByTarget`).
 * `tokenConfirmed` records that one of them did.
 */

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
  /**
   * The caller's stream revision when its object accepted the credential (live sockets close on
   * later revocations); the token's own revision while the route has not confirmed it yet.
   */
  revision: number;
}

export function actorOf(user: PublicUser, revision: number): Actor {
  return { id: user.id, username: user.username, role: user.role, scopes: SCOPES[user.role], revision };
}

const keys = new Map<string, Promise<CryptoKey>>();

/** The HMAC key for a secret, imported once per isolate rather than on every request. */
export function signingKey(secret: string): Promise<CryptoKey> {
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

/** A bearer token whose signature and expiry are verified: whom it names, as what, since when. */
export interface TokenClaims {
  userId: string;
  /** The username when the token was issued; the user's current one is in its stream. */
  username: string;
  role: Role;
  /** The user's stream revision the token was issued at (`rev`). */
  issuedAt: number;
}

async function verifiedClaims(c: Context<AppEnv>): Promise<TokenClaims> {
  const header = c.req.header("Authorization");
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  if (!match?.[1]) throw httpError(401, "Not authenticated");
  const token = match[1];
  const key = await signingKey(config(c.env).JWT_SECRET);
  // A token seen before is not verified again, but its expiry is checked again (verified-tokens.ts).
  const claims = await verifiedOnce(token, key, async () => {
    const payload = await verify(token, key, "HS256").catch(() => null);
    const read = payload && claimsOf(payload);
    return read ? { claims: read, exp: payload.exp as number } : null;
  });
  if (!claims) throw httpError(401, "Could not validate credentials");
  return claims;
}

/** The claims of a verified payload, or null when it is not a token this service issues. */
function claimsOf(payload: JWTPayload): TokenClaims | null {
  if (
    typeof payload.user_id !== "string" ||
    !UUID.test(payload.user_id) ||
    typeof payload.exp !== "number" ||
    !Number.isSafeInteger(payload.rev) ||
    (payload.role !== "admin" && payload.role !== "user") ||
    typeof payload.sub !== "string"
  ) {
    return null;
  }
  return { userId: payload.user_id, username: payload.sub, role: payload.role, issuedAt: payload.rev as number };
}

export const tokenRefused = () => httpError(401, "User not found");

/**
 * Asks the caller's own object whether it still accepts the token: the user is active and the
 * token is not older than the user's latest password change, suspension, deletion or erasure.
 * The actor then carries the user as its stream has it now.
 */
export async function confirmWithObject(c: Context<AppEnv>): Promise<Actor> {
  const { userId, issuedAt } = c.get("token");
  const user = await userStream(c.env, userId).tokenHolder(issuedAt);
  c.set("tokenConfirmed", true);
  if (!user) throw tokenRefused();
  const actor = actorOf(user, user.revision);
  c.set("actor", actor);
  return actor;
}

/**
 * The token was confirmed by the request's own I/O (a read's D1 batch, a command's object), which
 * throws `tokenRefused` if its user no longer accepts it.
 */
export function tokenConfirmed(c: Context<AppEnv>): void {
  c.set("tokenConfirmed", true);
}

/**
 * Confirms the token from the caller's row in the read model, read in the same D1 round trip as
 * the query it authorises. A row that may miss a revoking event (its object announced a revision the
 * row has not reached; or projected before `tokens_valid_from` existed) or no row at all (a user
 * just created) sends the question to the caller's object instead. So a read refuses a revoked
 * token once the revocation is projected, or as soon as the object announced it to the ledger.
 * Returns the actor as confirmed: a role other than the token's (which no real token has) is the
 * object's, and the route re-checks what depends on it.
 */
export async function confirmFromReadModel(c: Context<AppEnv>, caller: CallerRow | undefined): Promise<Actor> {
  if (c.get("tokenConfirmed")) return c.get("actor");
  const { role, issuedAt } = c.get("token");
  if (!caller || caller.tokensValidFrom === null || (caller.published ?? 0) > caller.revision || caller.role !== role) {
    return confirmWithObject(c);
  }
  tokenConfirmed(c);
  if (!acceptsToken({ status: caller.status, tokens_valid_from: caller.tokensValidFrom }, issuedAt)) {
    throw tokenRefused();
  }
  return c.get("actor");
}

/**
 * Verifies the bearer token (signature, `exp` present and not past), then asks the caller's own
 * object whether it still accepts it, before the route runs: revocation is immediate.
 */
export const authenticated = createMiddleware<AppEnv>(async (c, next) => {
  c.set("token", await verifiedClaims(c));
  await confirmWithObject(c);
  await next();
});

/**
 * Verifies the bearer token and leaves the question whether its user still accepts it to the
 * route's own I/O, which calls `tokenConfirmed` once it has the answer (and throws `tokenRefused`
 * on a refusal): a read checks the caller's row in the same D1 batch as its query. Until then the
 * actor is the token's claims. Any answer the route gives without confirming (a 403, a 422, a 400
 * decided before its I/O) waits for the caller's object: a revoked token still gets 401 first, as
 * the contract's check order has it.
 */
export const authenticatedInRoute = createMiddleware<AppEnv>((c, next) => confirmInRoute(c, next));

/**
 * For calls to one user's object (commands, its history and events): a caller acting on itself
 * (the path's `user_id` is the token's) leaves the check to that object, which checks the token's
 * claims in the same call (`selfCaller`; one call). Anyone else is confirmed by its own object
 * first, before the permission checks that depend on its role (then the call: two calls).
 */
export const authenticatedByTarget = createMiddleware<AppEnv>(async (c, next) => {
  const token = await verifiedClaims(c);
  if (pathUserId(c) === token.userId) return confirmInRoute(c, next, token);
  c.set("token", token);
  await confirmWithObject(c);
  await next();
});

async function confirmInRoute(c: Context<AppEnv>, next: Next, verified?: TokenClaims): Promise<void> {
  const token = verified ?? (await verifiedClaims(c));
  c.set("token", token);
  c.set("tokenConfirmed", false);
  c.set("actor", {
    id: token.userId,
    username: token.username,
    role: token.role,
    scopes: SCOPES[token.role],
    revision: token.issuedAt,
  });
  await next();
  if (!c.get("tokenConfirmed")) await confirmWithObject(c);
}

/**
 * The token to hand to `userId`'s object for it to confirm, when the caller acts on itself and
 * `authenticatedByTarget` left the check to that object; otherwise undefined (already confirmed).
 */
export function selfCaller(c: Context<AppEnv>, userId: string): SelfCaller | undefined {
  if (c.get("tokenConfirmed") !== false || c.get("actor").id !== userId) return undefined;
  return { issuedAt: c.get("token").issuedAt, role: c.get("token").role };
}

/** After the object answered for a `selfCaller`: its refusal is the 401 a revoked token gets. */
export function confirmedByTarget<T>(c: Context<AppEnv>, answer: T | TokenRefused): T {
  if (answer === TOKEN_REFUSED) throw tokenRefused();
  tokenConfirmed(c);
  return answer;
}

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
    requireScope(c.get("actor"), scope);
    await next();
  });

/**
 * The path's `user_id` for the checks that must answer before the request is validated (whose self
 * it is, and so 401 and 403 before 422), read once per request: the route's schema (`UserId`) parses
 * it again as it validates, to answer its 422 and hand the handler the id.
 */
function pathUserId(c: Context<AppEnv>): string | null {
  let id = c.get("pathUserId") as string | null | undefined;
  if (id === undefined) {
    id = parseUserId(c.req.param("user_id") ?? "");
    c.set("pathUserId", id);
  }
  return id;
}

/**
 * Self or admin, judged on the path's id as given: an id that cannot be read is nobody's, so a
 * regular user gets 403 for it (the reference compares before it parses) and an admin the 400.
 */
export const selfOrAdmin = createMiddleware<AppEnv>(async (c, next) => {
  requireSelfOrAdmin(c.get("actor"), pathUserId(c) ?? "");
  await next();
});

/** The same for reads (the audit trail, live events): a read's scope and a read's message. */
export const selfOrAdminReading = createMiddleware<AppEnv>(async (c, next) => {
  requireSelfOrAdmin(c.get("actor"), pathUserId(c) ?? "", true);
  await next();
});
