import type { Context } from "hono";
import { config } from "../config";
import { metric } from "../observability";
import type { CommandInput, CommandRequest, CommandResult } from "../write/protocol";
import { selfCaller, tokenChecked, type Actor } from "./auth";
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
}

/**
 * Sends one command to the user's object and turns its answer into the contract's response body,
 * with `ETag` (and `Idempotent-Replayed` on a replay) set on the context.
 */
export async function runCommand(c: Context<AppEnv>, options: CommandOptions) {
  // A caller acting on itself left its token to the object it writes to (`authenticatedByTarget`).
  const caller = selfCaller(c, options.userId);
  const actor = c.var.actor as Actor | undefined;
  const key = c.req.header("Idempotency-Key");
  const request: CommandRequest = {
    userId: options.userId,
    input: options.input,
    metadata: {
      actor_id: actor?.id ?? null,
      actor_username: actor?.username ?? null,
      request_id: c.var.requestId,
      idempotency_key: key ?? null,
      reason: options.reason ?? null,
    },
  };
  const expectedRevision = parseIfMatch(c.req.header("If-Match"));
  if (expectedRevision !== undefined) request.expectedRevision = expectedRevision;
  if (key) request.idempotency = { key, fingerprint: await fingerprint(c, options.body) };
  if (options.role) request.role = options.role;
  if (caller) request.caller = caller;

  const started = Date.now();
  let outcome = "error";
  try {
    const result = await userStream(c.env, options.userId).execute(request);
    // The object answered for the token either way: a refusal is the 401 below.
    if (caller) tokenChecked(c);
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
    metric(c.env, point, { request_id: c.var.requestId, user_id: options.userId }, "command");
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
  return options.includeUserId ? { ...body, user_id: result.userId } : body;
}

export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = header.trim().match(/^(?:W\/)?"?(\d+)"?$/);
  if (!match) throw badRequest();
  return Number(match[1]);
}

/**
 * HMAC of the request under the server's secret: bodies may hold passwords, and a plain hash of a
 * password stored next to the events would be one more thing to crack.
 */
async function fingerprint(c: Context<AppEnv>, body: unknown): Promise<string> {
  const material = `${c.req.method} ${c.req.path.replace(/\/$/, "")} ${canonicalJson(body)}`;
  const key = await signingKey(config(c.env).JWT_SECRET);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(material));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * A create's user id: random, or derived from the caller and its Idempotency-Key so that a retry
 * reaches the same user's object and is answered from its idempotency record.
 */
export async function newUserId(actorId: string, idempotencyKey: string | undefined): Promise<string> {
  if (!idempotencyKey) return crypto.randomUUID();
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`create-user\n${actorId}\n${idempotencyKey}`)),
  );
  const bytes = digest.slice(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80; // version 8: custom, name-based
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
