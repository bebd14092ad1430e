import type { Context } from "hono";
import { refusalConfig } from "../config";
import { log } from "../observability";
import { journalRefusal, type Refusal } from "../read/refusals";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";
import { parseUserId } from "./ids";

/** The statuses that are a refusal of a command (others are not found, malformed, or failures). */
const REFUSED = new Set([401, 403, 409, 412, 422, 429]);

/**
 * The command routes, by method and path (trailing slash dropped), with the command's name; the
 * path's first captured segment is the target. Kept beside the routes by a test that reads the
 * OpenAPI document: every `/v1` route that is not a GET is listed here.
 */
export const COMMAND_ROUTES: readonly { method: string; path: RegExp; command: string }[] = [
  { method: "POST", path: /^\/v1\/auth\/login$/, command: "Login" },
  { method: "POST", path: /^\/v1\/auth\/ticket$/, command: "IssueTicket" },
  { method: "POST", path: /^\/v1\/users$/, command: "CreateUser" },
  { method: "PUT", path: /^\/v1\/users\/([^/]+)$/, command: "UpdateUser" },
  { method: "PUT", path: /^\/v1\/users\/([^/]+)\/password$/, command: "ChangePassword" },
  { method: "DELETE", path: /^\/v1\/users\/([^/]+)$/, command: "DeleteUser" },
  { method: "POST", path: /^\/v1\/users\/([^/]+)\/suspend$/, command: "SuspendUser" },
  { method: "POST", path: /^\/v1\/users\/([^/]+)\/reactivate$/, command: "ReactivateUser" },
  { method: "POST", path: /^\/v1\/users\/([^/]+)\/restore$/, command: "RestoreUser" },
  { method: "POST", path: /^\/v1\/users\/([^/]+)\/revert$/, command: "RevertUser" },
  { method: "POST", path: /^\/admin\/users\/([^/]+)\/corrections$/, command: "CorrectUser" },
  { method: "POST", path: /^\/admin\/users\/([^/]+)\/erase$/, command: "EraseUser" },
];

/** The actor of a refusal without a valid token: nobody's id, and never the token. */
export const ANONYMOUS = "anonymous";

/**
 * Journals a refused command once its answer is final (after the route and the app's error
 * handler), off the response path: `waitUntil`, and a failed write is a log line. The response is
 * never changed nor delayed. Called by the app's one middleware (createApp: one async step per
 * request around the route instead of three).
 */
export function journalIfRefused(c: Context<AppEnv>): void {
  if (!REFUSED.has(c.res.status)) return;
  const route = commandOf(c.req.method, c.req.path);
  if (!route) return;
  const refusal: Refusal = {
    at: new Date().toISOString(),
    actorId: (c.get("actor") as AppEnv["Variables"]["actor"] | undefined)?.id ?? ANONYMOUS,
    targetId: route.target ?? c.get("refusalTarget") ?? null,
    command: route.command,
    status: c.res.status,
    reason: reasonOf(c.error, c.res.status),
    requestId: c.get("requestId"),
  };
  const written = write(c, refusal);
  try {
    c.executionCtx.waitUntil(written);
  } catch {
    // No execution context (a test calling the app directly): the write goes on by itself.
  }
}

async function write(c: Context<AppEnv>, refusal: Refusal): Promise<void> {
  try {
    const caps = refusalConfig(c.env);
    await journalRefusal(c.env.DB, refusal, {
      perActor: caps.REFUSALS_PER_ACTOR_PER_HOUR,
      perTarget: caps.REFUSALS_PER_TARGET_PER_HOUR,
    });
  } catch (error) {
    log("warn", "refusal not journaled", {
      request_id: refusal.requestId,
      status: refusal.status,
      error: String(error),
    });
  }
}

/** The command of a method and path, and its target when the path names one (as a user id). */
export function commandOf(method: string, path: string): { command: string; target: string | null } | null {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  for (const route of COMMAND_ROUTES) {
    if (route.method !== method) continue;
    const match = route.path.exec(trimmed);
    if (!match) continue;
    // An id that is no user id is nobody's: no attacker text is kept as a target.
    const segment = match[1];
    return { command: route.command, target: segment === undefined ? null : parseUserId(decode(segment)) };
  }
  return null;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The 401 and 403 messages the service words, as codes. */
const HTTP_REASONS: [RegExp, string][] = [
  [/^Not authenticated$/, "no_token"],
  [/^Could not validate credentials$/, "invalid_token"],
  [/^User not found$/, "token_refused"],
  [/^Incorrect username or password$/, "incorrect_credentials"],
  [/^Insufficient permissions\. Required scope: ([\w:]+)$/, "missing_scope:$1"],
  [/^Insufficient permissions\. You can only \w+ your own user data\.$/, "not_own_user"],
  [/^Insufficient permissions\. Admin role required\.$/, "admin_required"],
];

const MAX_REASON = 200;

/**
 * The refusal's reason as a code the service wrote, never what the caller sent: the error's type;
 * a business rule's name; the fields and pydantic types a request validation named (a key the
 * caller made up, `extra_forbidden`, is `*`); the 401 and 403 messages mapped to codes.
 */
export function reasonOf(error: Error | undefined, status: number): string {
  if (!(error instanceof ApiError))
    return status === 422 ? "RequestValidationError:body:model_attributes_type" : `http_${status}`;
  const { body } = error;
  if (body.type === "RequestValidationError" && Array.isArray(body.details)) {
    const items = (body.details as { loc?: unknown[]; type?: unknown }[]).slice(0, 5).map((item) => {
      const extra = item.type === "extra_forbidden";
      const loc = (item.loc ?? []).map((part, i, all) =>
        (extra && i === all.length - 1) || !/^\w{1,40}$/.test(String(part)) ? "*" : String(part),
      );
      return `${loc.join(".")}:${code(item.type)}`;
    });
    return clip(`RequestValidationError:${items.join(",")}`);
  }
  if (body.error === "Business Rule Violation") {
    const rule = (body.details as { rule?: unknown } | undefined)?.rule;
    return clip(`${body.type}:${code(rule)}`);
  }
  if (body.type === "HTTPException") {
    for (const [pattern, reason] of HTTP_REASONS) {
      if (pattern.test(body.message)) return clip(body.message.replace(pattern, reason));
    }
    return `http_${status}`;
  }
  return clip(code(body.type));
}

function code(value: unknown): string {
  return typeof value === "string" && /^\w{1,60}$/.test(value) ? value : "*";
}

function clip(reason: string): string {
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason;
}
