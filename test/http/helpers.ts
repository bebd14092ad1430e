import { env } from "cloudflare:workers";
import { sign } from "hono/jwt";
import { expect } from "vitest";
import type { PublicEvent } from "../../src/domain/events";
import type { ErrorBody } from "../../src/http/errors";
import { takeWaitingPlace } from "../../src/read/read-your-writes";
import type { ApiResponse } from "../support/api";

/** Helpers shared by the HTTP tests: typed bodies, the error envelope, the user's stream. */

export type { ErrorBody };
export type { CommandBody, LoginBody, UserListBody as ListBody, UserView as UserBody } from "../support/types";

export interface ValidationIssue {
  loc: string[];
  msg: string;
  type: string;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Asserts the status and the contract's envelope `{error, message, type[, details]}`. */
export function expectError(res: ApiResponse<unknown>, status: number, envelope: Partial<ErrorBody>): ErrorBody {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  const body = res.body as ErrorBody;
  expect(typeof body.error).toBe("string");
  expect(typeof body.message).toBe("string");
  expect(typeof body.type).toBe("string");
  expect(body).toMatchObject(envelope);
  const allowed = ["error", "message", "type", "details"];
  expect(Object.keys(body).filter((key) => !allowed.includes(key))).toEqual([]);
  return body;
}

/** The user's stored stream, read from its own object (secrets redacted there). */
export async function streamOf(userId: string): Promise<PublicEvent[]> {
  return (await env.USER_STREAM.getByName(userId).readStream(1, 100)) as PublicEvent[];
}

/**
 * The types of the events commands appended. Logins append USER_LOGGED_IN too; a test's own logins
 * (its setup) are left out here, so "nothing appended" means no command appended anything.
 */
export async function eventTypes(userId: string): Promise<string[]> {
  return (await streamOf(userId)).map((event) => event.event_type).filter((type) => type !== "USER_LOGGED_IN");
}

/**
 * A token in the server's format, signed by the test: expired, forged or otherwise crafted. `exp:
 * null` leaves `exp` out; `rev` (the revision it claims to be issued at) defaults to one far ahead.
 */
export async function craftToken(
  claims: { user_id: string; username: string; role: "admin" | "user"; exp: number | null; rev?: number },
  secret = env.JWT_SECRET,
): Promise<string> {
  const scopes =
    claims.role === "admin" ? ["user:create", "user:read", "user:update", "user:delete"] : ["user:read", "user:update"];
  const iat = (claims.exp ?? nowSeconds() + 30 * 60) - 30 * 60;
  return sign(
    {
      sub: claims.username,
      user_id: claims.user_id,
      role: claims.role,
      scopes,
      rev: claims.rev ?? 1_000_000,
      iat,
      ...(claims.exp === null ? {} : { exp: claims.exp }),
      jti: crypto.randomUUID(),
    },
    secret,
    "HS256",
  );
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Everything a response shows: its headers and its body as text. */
export function responseText(res: ApiResponse<unknown>): string {
  const headers = [...res.headers.entries()].map(([name, value]) => `${name}: ${value}`).join("\n");
  const body = typeof res.body === "string" ? res.body : JSON.stringify(res.body);
  return `${headers}\n\n${body}`;
}

/**
 * Asserts a response leaks no secret: none of the plaintext passwords, no hash (`pbkdf2…`), no
 * `password_hash` field.
 */
export function expectNoSecrets(res: ApiResponse<unknown>, passwords: readonly string[]): void {
  const text = responseText(res);
  for (const password of passwords) expect(text).not.toContain(password);
  expect(text).not.toContain("pbkdf2");
  expect(text).not.toContain("password_hash");
}

/** Takes `n` of the isolate's places for requests waiting on the read model (returns the release). */
export function occupyWaiting(n: number): () => void {
  const taken = Array.from({ length: n }, () => takeWaitingPlace());
  return () => {
    for (const release of taken) release?.();
  };
}
