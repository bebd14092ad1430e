import { ERASED, type EventType, type RecordedEvent, type Role } from "./events";

export type UserStatus = "active" | "suspended" | "deleted" | "erased";

/** Bump when `User` or `evolve` change: snapshots of another shape are ignored and rebuilt. */
export const STATE_SHAPE_VERSION = 2;

/** A user as its own stream knows it: everything, including the password hash. */
export interface User {
  id: string;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  role: Role;
  status: UserStatus;
  password_hash: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  last_login_at: string | null;
  /** What a restore brings back: the status the user had when it was deleted. */
  status_before_delete: "active" | "suspended" | null;
  /**
   * Tokens issued at a revision below this one are refused: it is the revision of the latest
   * password change, suspension, deletion or erasure. A reactivation or restore does not lower it.
   */
  tokens_valid_from: number;
}

/** The fold of a stream: the user (null before USER_CREATED) and the revision it reflects. */
export interface UserState {
  revision: number;
  user: User | null;
}

export const initialState: UserState = { revision: 0, user: null };

export function evolve(state: UserState, event: RecordedEvent): UserState {
  const revision = event.revision;
  if (event.event_type === "USER_CREATED") {
    const { password_hash, username, email, first_name, last_name, role } = event.data;
    const user: User = {
      id: event.aggregate_id,
      username,
      email,
      first_name,
      last_name,
      role,
      status: "active",
      password_hash,
      created_at: event.timestamp,
      updated_at: event.timestamp,
      deleted_at: null,
      last_login_at: null,
      status_before_delete: null,
      tokens_valid_from: 0,
    };
    return { revision, user };
  }
  const user = state.user;
  if (!user) return { ...state, revision };
  // Not a change of the user: the same password, stored under another hash.
  if (event.event_type === "PASSWORD_REHASHED")
    return { revision, user: { ...user, password_hash: event.data.password_hash } };
  const touched = {
    ...user,
    updated_at: event.timestamp,
    // Tokens issued before a revoking event stop working.
    tokens_valid_from: revokesTokens(event.event_type) ? revision : user.tokens_valid_from,
  };
  switch (event.event_type) {
    case "USER_UPDATED":
      return { revision, user: { ...touched, ...definedOnly(event.data) } };
    case "USER_CORRECTED": {
      const { reason: _reason, ...changes } = event.data;
      return { revision, user: { ...touched, ...definedOnly(changes) } };
    }
    case "USER_ERASED":
      return {
        revision,
        user: {
          ...touched,
          ...erasedFields,
          status: "erased",
          deleted_at: user.deleted_at ?? event.timestamp,
          last_login_at: null,
        },
      };
    case "PASSWORD_CHANGED":
      return { revision, user: { ...touched, password_hash: event.data.password_hash } };
    case "USER_DELETED":
      return {
        revision,
        user: {
          ...touched,
          status: "deleted",
          deleted_at: event.timestamp,
          status_before_delete: user.status === "suspended" ? "suspended" : "active",
        },
      };
    case "USER_SUSPENDED":
      return { revision, user: { ...touched, status: "suspended" } };
    case "USER_REACTIVATED":
      return { revision, user: { ...touched, status: "active" } };
    case "USER_RESTORED":
      return {
        revision,
        user: { ...touched, status: event.data.status, deleted_at: null, status_before_delete: null },
      };
    case "USER_LOGGED_IN":
      // Not a change of the user's data: updated_at stays.
      return { revision, user: { ...user, last_login_at: event.timestamp } };
  }
}

export function fold(events: Iterable<RecordedEvent>, from: UserState = initialState): UserState {
  let state = from;
  for (const event of events) state = evolve(state, event);
  return state;
}

const erasedFields = { username: ERASED, email: ERASED, first_name: ERASED, last_name: ERASED, password_hash: "" };

/** Deleted or erased: no command but an erasure applies any more. */
export function isGone(user: User): boolean {
  return user.status === "deleted" || user.status === "erased";
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The user without secrets and bookkeeping, as the contract's `User` shows it. */
export function publicUser(user: User, revision: number) {
  const { password_hash: _secret, status_before_delete: _restore, tokens_valid_from: _tokens, ...rest } = user;
  return { ...rest, revision };
}

/**
 * Events after which the user's existing credentials (tokens, tickets, live sockets) no longer
 * hold. The one list: the object's state (`tokens_valid_from`), its live sockets and the read
 * model's token check (`users.tokens_valid_from`) all derive from it.
 */
export const REVOKING_EVENTS: ReadonlySet<EventType> = new Set<EventType>([
  "PASSWORD_CHANGED",
  "USER_SUSPENDED",
  "USER_DELETED",
  "USER_ERASED",
]);

export function revokesTokens(type: EventType): boolean {
  return REVOKING_EVENTS.has(type);
}

/**
 * Whether a token issued at `issuedAtRevision` may act for this user: live, and not revoked since.
 * The holder is the object's own `User` or the read model's view of it.
 */
export function acceptsToken(holder: Pick<User, "status" | "tokens_valid_from">, issuedAtRevision: number): boolean {
  return holder.status === "active" && issuedAtRevision >= holder.tokens_valid_from;
}
export type PublicUser = ReturnType<typeof publicUser>;
