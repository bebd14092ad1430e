import type { CommandInput, Rejection, RevertTarget } from "../domain/commands";
import type { EventMetadata, EventType, PublicEvent, Role, UserEvent } from "../domain/events";
import type { StoredEvent } from "../domain/import";
import type { PublicUser } from "../domain/user";
import type { WatchTarget } from "../live/protocol";
import type { HeldInStream } from "./personal-data";

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
  | {
      ok: true;
      userId: string;
      revision: number;
      replayed: boolean;
      /** A revert's: the types of the events it appended, in order (none: nothing to change). */
      events?: EventType[];
    }
  | { ok: false; rejection: WriteRejection };

/**
 * What a revert would append, without appending it: the events decided on the state now (with the
 * revision they would follow, for `If-Match`), or why it would be refused. `conflicts`: then's
 * username or email that another user holds now (the revert itself would answer 409).
 */
export type RevertPreview =
  | {
      ok: true;
      revision: number;
      events: UserEvent[];
      conflicts: { field: "username" | "email"; value: string }[];
    }
  | { ok: false; rejection: WriteRejection };

export type LoginResult =
  | { ok: true; revision: number; user: PublicUser }
  | { ok: false; reason: "invalid" }
  | { ok: false; reason: "throttled"; retryAfterSeconds: number };

/** One user's imported lines: all appended or skipped, or none (with the event that failed, if one did). */
export type ImportResult =
  | {
      ok: true;
      imported: number;
      skipped: number;
      /** The user, when this import created it as an admin (absent otherwise): the answer names them. */
      admin?: { user_id: string; username: string };
      /**
       * The user's whole stream after the import, redacted, for the request to project (null when
       * longer than `IMPORT_RETURNS_STREAM_UP_TO` events: the request reads it page by page).
       */
      stream: PublicEvent[] | null;
    }
  | { ok: false; error: string; eventId: string | null };

/** How an import may treat a stream: `ontoExisting` is the operator's `?onto_existing=allow`. */
export interface ImportOptions {
  ontoExisting: boolean;
  /**
   * Keys the import request already claimed for this user (in one call per registry shard for all
   * its users) and when: if they are exactly what the user ends up holding and the claim is still
   * well within its reservation, the object claims nothing itself.
   */
  claimed?: { keys: readonly string[]; at: number };
}

/** The token of a caller acting on itself (a command, a read of its own history or events). */
export interface SelfCaller {
  issuedAt: number;
  role: Role;
}

/** A read by a caller acting on itself whose token the object no longer accepts. */
export const TOKEN_REFUSED = "TokenRefused";
export type TokenRefused = typeof TOKEN_REFUSED;

export interface AuditTrailQuery {
  fromRevision: number;
  limit: number;
  /** Only events within `[fromTimestamp, toTimestamp]` (ISO times, inclusive). */
  fromTimestamp?: string;
  toTimestamp?: string;
}

/** What operations need to see of one stream: how far it is, and what still waits to be published. */
export interface StreamStatus {
  revision: number;
  outboxSize: number;
  oldestOutboxAt: number | null;
}

/**
 * The RPC surface of a user's object (`UserStream`), reached through `userStream(env, id)` from
 * `src/objects.ts`. The object is the only writer of the user's stream: every method is answered
 * from its storage, in the order the object receives it. A method that takes a `caller` is a user
 * acting on itself: the object checks the token in the same call and answers `TOKEN_REFUSED`.
 */
export interface UserStreamRpc {
  /** A command: planned, its I/O performed, then decided and appended in one transaction. */
  execute(request: CommandRequest): Promise<CommandResult>;
  /**
   * One user's imported events, keeping their ids, revisions and times: all appended (those the
   * stream holds skipped) or none. Each must pass the import gate (`commandCouldProduce`); a stream a
   * command created takes them only with `options.ontoExisting`.
   */
  importEvents(events: StoredEvent[], options?: ImportOptions): Promise<ImportResult>;
  /**
   * The import request projected and confirmed the stream through `revision` in D1 itself: the
   * outbox forgets those rows and, empty, its alarm, which would otherwise wake the object minutes
   * later only to read that confirmation (decision 0029).
   */
  importConfirmed(revision: number): Promise<void>;
  /** What a revert to `to` would append now, nothing appended: the console's preview. */
  previewRevert(to: RevertTarget, reason: string): Promise<RevertPreview>;
  /** A login: the password checked, failures throttled, a success recorded as USER_LOGGED_IN. */
  authenticate(password: string, requestId?: string | null): Promise<LoginResult>;

  /** The user now (null if it never existed, or only as a tombstone's public fields). */
  getUser(): { revision: number; user: PublicUser | null };
  /** The user as it was at a revision or an instant: null if it did not exist yet. */
  history(until: { revision?: number; timestamp?: string }, caller?: SelfCaller): PublicUser | null | TokenRefused;
  /** The stream as it may leave the object: secrets redacted. */
  readStream(fromRevision: number, limit: number): PublicEvent[];
  /** The stream for `GET /admin/export`: password hashes only with `secrets`, no import marks. */
  exportEvents(fromRevision: number, limit: number, secrets: boolean): PublicEvent[];
  /** A page of the audit trail; null for a user that never existed (a 404, not an empty page). */
  auditTrail(query: AuditTrailQuery, caller?: SelfCaller): PublicEvent[] | null | TokenRefused;
  status(): StreamStatus;
  /** Whether this user, live, holds a username or email key: the truth behind the registry. */
  holdsIdentity(key: string): boolean;
  /** The username and email keys this user holds (none once deleted): what the registry's copy adopts. */
  heldIdentities(): string[];
  /**
   * For the access report: the redacted stream, the vault's personal fields (no secret) and the
   * identity claims; null for a user that never existed. Read only.
   */
  heldInStream(caller?: SelfCaller): HeldInStream | null | TokenRefused;

  /** The user a token issued at that revision acts for, or null (unknown, inactive, revoked since). */
  tokenHolder(issuedAtRevision: number): PublicUser | null;
  /** A single-use WebSocket ticket, asked with the user's own token. */
  ticket(now: number, caller: SelfCaller): Promise<{ secret: string; expiresIn: number } | TokenRefused>;
  /** Uses up a ticket: the user, if the ticket was valid and the user is active. */
  redeemTicket(secret: string, now: number): Promise<{ revision: number; user: PublicUser } | null>;
  /** Asked by a watched stream's object: does this user's credential still hold? Records the place. */
  watching(target: WatchTarget, authRevision: number): boolean;
  /** This user's last socket on `target` closed. */
  unwatched(target: WatchTarget): void;
  /** The watcher's credentials were revoked at `revokedAt`: close its older sockets on this stream. */
  revokeWatcher(watcher: string, revokedAt: number): void;
  /** Open sockets on this stream. */
  watcherCount(): number;
}
