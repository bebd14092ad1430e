import type { Context } from "hono";
import { config } from "../config";
import { metric } from "../observability";
import type { CommandInput, CommandRequest, CommandResult } from "../write/protocol";
import { requestFingerprint } from "../write/request-ids";
import { selfCaller, tokenConfirmed, type Actor } from "./auth";
import type { AppEnv } from "./context";
import { badRequest, rejectionError } from "./errors";
import { signingKey } from "./auth";
import { userStream } from "../objects";

export interface CommandOptions {
  userId: string;
  input: CommandInput;
  /** The validated body, fingerprinted to tell a retry from a different request under one key. */
  body: unknown;
  message: string;
  reason?: string | undefined;
  role?: "admin" | "user";
  includeUserId?: boolean;
  /** Answer the types of the events appended too (a revert's `events`). */
  includeEvents?: boolean;
}

/**
 * Sends one command to the user's object and turns its answer into the contract's response body,
 * with `ETag` (and `Idempotent-Replayed` on a replay) set on the context.
 */
export async function runCommand(c: Context<AppEnv>, options: CommandOptions) {
  // A caller acting on itself left its token to the object it writes to (`authenticatedByTarget`).
  const caller = selfCaller(c, options.userId);
  const actor = c.get("actor") as Actor | undefined;
  const key = c.req.header("Idempotency-Key");
  const request: CommandRequest = {
    userId: options.userId,
    input: options.input,
    metadata: {
      actor_id: actor?.id ?? null,
      actor_username: actor?.username ?? null,
      request_id: c.get("requestId"),
      idempotency_key: key ?? null,
      reason: options.reason ?? null,
    },
  };
  const expectedRevision = parseIfMatch(c.req.header("If-Match"));
  if (expectedRevision !== undefined) request.expectedRevision = expectedRevision;
  if (key) {
    const secret = await signingKey(config(c.env).JWT_SECRET);
    const fingerprint = await requestFingerprint(secret, {
      method: c.req.method,
      path: c.req.path,
      body: options.body,
    });
    request.idempotency = { key, fingerprint };
  }
  if (options.role) request.role = options.role;
  if (caller) request.caller = caller;

  const started = Date.now();
  let outcome = "error";
  try {
    const result = await userStream(c.env, options.userId).execute(request);
    // The object answered for the token either way: a refusal is the 401 below.
    if (caller) tokenConfirmed(c);
    outcome = result.ok ? (result.replayed ? "replayed" : "ok") : result.rejection.code;
    return answer(c, options, result);
  } finally {
    // Every command, whatever its end: one data point, and one log line with its request id.
    const point = {
      kind: "command",
      subject: options.input.type,
      outcome,
      count: 1,
      ms: Date.now() - started,
    } as const;
    metric(c.env, point, { request_id: c.get("requestId"), user_id: options.userId }, "command");
  }
}

/**
 * A command whose body carries the reason the event's metadata records (delete, suspend,
 * reactivate, restore, correct, erase), answered 200 with the contract's body.
 */
export async function runWithReason(
  c: Context<AppEnv>,
  userId: string,
  body: { reason?: string | undefined },
  input: CommandInput,
  message: string,
) {
  return c.json(await runCommand(c, { userId, input, body, reason: body.reason, message }), 200);
}

function answer(c: Context<AppEnv>, options: CommandOptions, result: CommandResult) {
  if (!result.ok) throw rejectionError(result.rejection, options.userId);
  c.header("ETag", `"${result.revision}"`);
  if (result.replayed) c.header("Idempotent-Replayed", "true");
  const body = { message: options.message, revision: result.revision };
  const withEvents = options.includeEvents ? { ...body, events: result.events ?? [] } : body;
  return options.includeUserId ? { ...withEvents, user_id: result.userId } : withEvents;
}

export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = header.trim().match(/^(?:W\/)?"?(\d+)"?$/);
  if (!match) throw badRequest();
  return Number(match[1]);
}
