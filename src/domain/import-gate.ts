import type { Policy, UserCommand } from "./commands";
import { decide } from "./decide";
import { ERASED, PERSONAL_FIELDS, type EventMetadata, type RecordedEvent } from "./events";
import { FIELD_MAX, isStorableText } from "./rules";
import type { UserState } from "./user";

/**
 * The gate of every event that enters a stream by import: it is let in only if a command could
 * have produced it from the state before it. The event is turned back into the command that makes
 * it (`commandFor`), `decide` is asked, and what it decides must be the event's data exactly: the
 * decider's rules (identities as stored, look-alikes and invisible characters refused, valid emails,
 * nothing after an erasure, no restore of a live or erased user, no change of a deleted one …) are
 * the import's, never restated here. Around them, the caps of the request schemas (`FIELD_MAX`) and
 * a size bound on the whole event, so every imported event fits a queue message.
 *
 * What an import may do that a command may not, and nothing else (docs/import-export.md):
 * - keep the event's id, time, revision and metadata (the original actor, request and reason);
 * - bring an admin (`USER_CREATED` with role `admin`: the reference's own table holds them);
 * - bring a password hash made elsewhere, with its hashing method (bcrypt from the reference);
 * - catch up a stream that an earlier import created. A stream a command created is changed by an
 *   import only when the operator asks for it (`onto_existing`, see `planImport`).
 */

/** An imported event's JSON, metadata included, is at most this many bytes of UTF-8: far below a queue message's 128 KB. */
export const IMPORT_EVENT_MAX_BYTES = 16 * 1024;

/** Caps of event data fields that no request schema names (the command's own constants). */
const HASHING_METHOD_MAX = 64;
const LOGIN_METHOD_MAX = 64;
/** Metadata a command writes: ids it made (UUIDs, request ids of at most 128 characters), the caller's words. */
const METADATA_MAX: Record<keyof EventMetadata, number> = {
  actor_id: 64,
  actor_username: FIELD_MAX.username,
  request_id: 128,
  idempotency_key: FIELD_MAX.idempotencyKey,
  reason: FIELD_MAX.reason,
  import_request_id: 128,
};

const encoder = new TextEncoder();

/**
 * What is wrong with an event whatever the stream holds: a field longer than any request may send,
 * text that cannot be stored as sent, or an event too big for the queue. Null if nothing.
 */
export function eventShapeProblem(event: RecordedEvent): string | null {
  const bytes = encoder.encode(JSON.stringify(event)).length;
  if (bytes > IMPORT_EVENT_MAX_BYTES) return `the event is ${bytes} bytes, more than ${IMPORT_EVENT_MAX_BYTES}`;
  for (const [field, value] of Object.entries(event.data)) {
    if (typeof value !== "string") continue;
    const max = dataFieldMax(event.event_type, field);
    if (max !== null && value.length > max) return `data.${field} is longer than ${max} characters`;
  }
  for (const [field, max] of Object.entries(METADATA_MAX)) {
    const value = event.metadata[field as keyof EventMetadata];
    if (typeof value !== "string") continue;
    if (value.length > max) return `metadata.${field} is longer than ${max} characters`;
    if (!isStorableText(value)) return `metadata.${field} holds control characters or unpaired surrogates`;
  }
  return null;
}

function dataFieldMax(type: RecordedEvent["event_type"], field: string): number | null {
  switch (field) {
    case "username":
      return FIELD_MAX.username;
    case "email":
      return FIELD_MAX.email;
    case "first_name":
    case "last_name":
      return type === "USER_CORRECTED" ? FIELD_MAX.correctedName : FIELD_MAX.name;
    case "reason":
      return FIELD_MAX.reason;
    case "hashing_method":
      return HASHING_METHOD_MAX;
    case "method":
      return LOGIN_METHOD_MAX;
    default:
      // password_hash: its bounds are the password module's (a hash is checked where it is verified).
      return null;
  }
}

/**
 * Whether a command could have produced `event` (lifted to the current schema) from `state`: null if
 * so, else why not. Pure: the decider's answer, compared with the event. `erasedLater`: the stream
 * the event comes with is erased further on, so its personal data arrives destroyed (`[erased]`, as
 * exported): such a field stands for a value a command took, and only the rest is checked.
 */
export function commandCouldProduce(
  state: UserState,
  lifted: RecordedEvent,
  { erasedLater = false }: { erasedLater?: boolean } = {},
): string | null {
  const shape = eventShapeProblem(lifted);
  if (shape) return shape;
  const event = erasedLater ? withStandIns(lifted) : lifted;
  const { command, policy } = commandFor(state, event);
  const decision = decide(state, command, policy);
  if (!decision.ok) {
    const { rejection } = decision;
    const rule = "rule" in rejection ? ` (${rejection.rule})` : "";
    return `${event.event_type} refused as a command would be: ${rejection.message}${rule}`;
  }
  const [made] = decision.events;
  if (decision.events.length !== 1 || made?.event_type !== event.event_type) {
    return `${event.event_type} is not what a command makes here`;
  }
  const differs = firstDifference(made.data, event.data);
  if (differs) {
    return `${event.event_type} data.${differs.field} is ${JSON.stringify(differs.stored)}, a command would store ${JSON.stringify(differs.expected)}`;
  }
  return null;
}

/** Valid values in place of personal data an erasure destroyed. */
const STAND_INS: Record<string, string> = {
  username: "erased-user",
  email: "erased@erased.invalid",
  first_name: "erased",
  last_name: "erased",
};

function withStandIns(event: RecordedEvent): RecordedEvent {
  const data: Record<string, unknown> = { ...event.data };
  for (const field of PERSONAL_FIELDS) if (data[field] === ERASED && STAND_INS[field]) data[field] = STAND_INS[field];
  return { ...event, data } as RecordedEvent;
}

/** Facts the decider takes from the write side (hashes, checks) are the event's own: an import brings them. */
function commandFor(state: UserState, event: RecordedEvent): { command: UserCommand; policy: Policy } {
  // A password's length was checked where the hash was made; the hash and its method are the event's.
  const policy = (hashingMethod = ""): Policy => ({ passwordMinLength: 1, hashingMethod });
  switch (event.event_type) {
    case "USER_CREATED": {
      const { username, email, first_name, last_name, password_hash, role, hashing_method } = event.data;
      const command = {
        type: "CreateUser",
        username,
        email,
        first_name,
        last_name,
        password: "-",
        password_hash,
        role,
      };
      return { command: command as UserCommand, policy: policy(hashing_method) };
    }
    case "USER_UPDATED":
      return { command: { type: "UpdateUser", ...event.data }, policy: policy() };
    case "PASSWORD_CHANGED":
      return {
        command: {
          type: "ChangePassword",
          current_password_valid: true,
          new_password: "-",
          new_password_same_as_current: false,
          new_password_hash: event.data.password_hash,
        },
        policy: policy(event.data.hashing_method),
      };
    case "PASSWORD_REHASHED":
      return {
        command: {
          type: "RehashPassword",
          verified_hash: state.user?.password_hash ?? "",
          new_password_hash: event.data.password_hash,
        },
        policy: policy(event.data.hashing_method),
      };
    case "USER_DELETED":
      return { command: { type: "DeleteUser", reason: event.data.reason ?? undefined }, policy: policy() };
    case "USER_CORRECTED": {
      const { reason, ...changes } = event.data;
      return { command: { type: "CorrectUser", changes, reason }, policy: policy() };
    }
    case "USER_RESTORED":
      return { command: { type: "RestoreUser", reason: event.data.reason }, policy: policy() };
    case "USER_LOGGED_IN":
      return { command: { type: "RecordLogin", method: event.data.method }, policy: policy() };
    case "USER_ERASED":
      return { command: { type: "EraseUser" }, policy: policy() };
    case "USER_SUSPENDED":
      return { command: { type: "SuspendUser" }, policy: policy() };
    case "USER_REACTIVATED":
      return { command: { type: "ReactivateUser" }, policy: policy() };
  }
}

function firstDifference(
  expected: Record<string, unknown>,
  stored: Record<string, unknown>,
): { field: string; expected: unknown; stored: unknown } | null {
  const fields = new Set([...Object.keys(expected), ...Object.keys(stored)]);
  for (const field of fields) {
    if (expected[field] !== stored[field]) return { field, expected: expected[field], stored: stored[field] };
  }
  return null;
}
