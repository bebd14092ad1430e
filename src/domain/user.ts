import type { RecordedEvent } from "./events";
import { changesOf, newUser, type UserFields } from "./fields";

export { REVOKING_EVENTS, revokesTokens, type UserFields, type UserStatus } from "./fields";

/**
 * Bump when `User`, `evolve` or the deltas it applies (src/domain/fields.ts) change: snapshots of
 * another shape are ignored and rebuilt.
 */
export const STATE_SHAPE_VERSION = 2;

/**
 * A user as its own stream knows it: everything, including the password hash. The one shape that
 * holds secrets, so it never leaves the user's object (`publicUser` is what does).
 */
export interface User extends UserFields {
  password_hash: string;
  /** What a restore brings back: the status the user had when it was deleted. */
  status_before_delete: "active" | "suspended" | null;
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
    const { password_hash } = event.data;
    return { revision, user: { ...newUser(event), password_hash, status_before_delete: null } };
  }
  const user = state.user;
  if (!user) return { ...state, revision };
  return { revision, user: { ...user, ...changesOf(event, user.deleted_at), ...bookkeeping(user, event) } };
}

/** What only the user's own state keeps: the password hash, and the status a restore brings back. */
function bookkeeping(user: User, event: RecordedEvent): Partial<Pick<User, "password_hash" | "status_before_delete">> {
  switch (event.event_type) {
    case "PASSWORD_CHANGED":
    case "PASSWORD_REHASHED":
      return { password_hash: event.data.password_hash };
    case "USER_ERASED":
      return { password_hash: "" };
    case "USER_DELETED":
      return { status_before_delete: user.status === "suspended" ? "suspended" : "active" };
    case "USER_RESTORED":
      return { status_before_delete: null };
    case "USER_CREATED":
    case "USER_UPDATED":
    case "USER_CORRECTED":
    case "USER_SUSPENDED":
    case "USER_REACTIVATED":
    case "USER_LOGGED_IN":
      return {};
  }
}

export function fold(events: Iterable<RecordedEvent>, from: UserState = initialState): UserState {
  let state = from;
  for (const event of events) state = evolve(state, event);
  return state;
}

/** Deleted or erased: no command but an erasure applies any more. */
export function isGone(user: User): boolean {
  return user.status === "deleted" || user.status === "erased";
}

/**
 * The user as the contract's `User` shows it (src/http/schemas.ts proves the two agree), from the
 * user's object or from its read row (`userView`): no secret, no bookkeeping, and the revision it
 * reflects.
 */
export type PublicUser = Omit<UserFields, "tokens_valid_from"> & { revision: number };

export function publicUser(user: User, revision: number): PublicUser {
  const { password_hash: _secret, status_before_delete: _restore, tokens_valid_from: _tokens, ...rest } = user;
  return { ...rest, revision };
}

/**
 * Whether a token issued at `issuedAtRevision` may act for this user: live, and not revoked since.
 * The holder is the object's own `User` or the read model's view of it.
 */
export function acceptsToken(holder: Pick<User, "status" | "tokens_valid_from">, issuedAtRevision: number): boolean {
  return holder.status === "active" && issuedAtRevision >= holder.tokens_valid_from;
}
