import type { CommandInput, Rejection } from "../domain/commands";
import type { EventMetadata, Role } from "../domain/events";

export type { CommandInput } from "../domain/commands";

export interface CommandRequest {
  userId: string;
  input: CommandInput;
  metadata: EventMetadata;
  /** From `If-Match`: the command applies only if the stream is still at this revision. */
  expectedRevision?: number;
  /** From `Idempotency-Key`, with a fingerprint of the request it first came with. */
  idempotency?: { key: string; fingerprint: string };
  /**
   * The token of a caller acting on itself, verified by the Worker but not yet confirmed: the
   * object checks that it still accepts it before anything else, and records the user's current
   * username as the actor's. Saves the call to the caller's object a command would otherwise need.
   */
  caller?: SelfCaller;
  /** Role of the created user; only the admin bootstrap asks for "admin". */
  role?: "admin" | "user";
}

export type WriteRejection =
  | Rejection
  | { code: "RevisionMismatch"; current_revision: number }
  | { code: "IdentityTaken"; field: "username" | "email"; value: string }
  | { code: "IdempotencyKeyReused" }
  | { code: "TokenRefused" }
  | { code: "Busy" };

export type CommandResult =
  { ok: true; userId: string; revision: number; replayed: boolean } | { ok: false; rejection: WriteRejection };

export type LoginResult =
  | { ok: true; revision: number; user: import("../domain/user").PublicUser }
  | { ok: false; reason: "invalid" }
  | { ok: false; reason: "throttled"; retryAfterSeconds: number };

/** One user's imported lines: all appended or skipped, or none (with the event that failed, if one did). */
export type ImportResult =
  { ok: true; imported: number; skipped: number } | { ok: false; error: string; eventId: string | null };

/** The token of a caller acting on itself (a command, a read of its own history or events). */
export interface SelfCaller {
  issuedAt: number;
  role: Role;
}

/** A read by a caller acting on itself whose token the object no longer accepts. */
export const TOKEN_REFUSED = "TokenRefused";
export type TokenRefused = typeof TOKEN_REFUSED;
