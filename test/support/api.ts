import { env, exports } from "cloudflare:workers";
import type { CommandBody, LoginBody } from "./types";
import { PASSWORD, newUserBody, uniqueName } from "./builders";
import { issueToken } from "../../src/http/auth";

/** A tiny client for the Worker under test: JSON in, `{ status, headers, body }` out. */

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export async function call<T = unknown>(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string | Uint8Array } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | Uint8Array | undefined = options.raw;
  if (options.body !== undefined) {
    headers["Content-Type"] ??= "application/json";
    body = JSON.stringify(options.body);
  }
  const res = await exports.default.fetch(`http://localhost${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // NDJSON and other non-JSON bodies stay text.
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

/** Creates an admin through the bootstrap route and logs in: returns its id and token. */
export async function adminSession(): Promise<{ id: string; token: string; username: string }> {
  const body = newUserBody(uniqueName("admin"));
  const created = await call<CommandBody>("POST", "/admin/bootstrap/admins", {
    token: env.ADMIN_BOOTSTRAP_TOKEN,
    body,
  });
  if (created.status !== 200) throw new Error(`bootstrap failed: ${JSON.stringify(created.body)}`);
  const token = await login(body.username, body.password);
  return { id: created.body.user_id!, token, username: body.username };
}

export async function login(username: string, password = PASSWORD): Promise<string> {
  const res = await call<LoginBody>("POST", "/v1/auth/login/", { body: { username, password } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token;
}

/** Creates a user as `adminToken`; returns its id, username and own token. */
export async function createUser(adminToken: string, overrides: Partial<ReturnType<typeof newUserBody>> = {}) {
  const body = { ...newUserBody(), ...overrides };
  const res = await call<CommandBody>("POST", "/v1/users/", { token: adminToken, body });
  if (res.status !== 200) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return {
    id: res.body.user_id!,
    username: body.username,
    email: body.email,
    revision: res.body.revision,
  };
}

/**
 * A token exactly as a login would issue it, but without the login's USER_LOGGED_IN event: for
 * tests that assert a user's revisions event by event and are not about logins.
 */
export async function tokenWithoutLogin(userId: string): Promise<string> {
  const { user } = await env.USER_STREAM.getByName(userId).getUser();
  if (!user) throw new Error(`no user ${userId}`);
  return issueToken(user, env.JWT_SECRET, Date.now());
}
