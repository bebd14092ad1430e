import { ERASED, type RecordedEvent, type Role } from "./events";

export type UserStatus = "active" | "suspended" | "deleted" | "erased";

/** Bump when `User` or `evolve` change: snapshots of another shape are ignored and rebuilt. */
export const STATE_SHAPE_VERSION = 1;

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
    };
    return { revision, user };
  }
  const user = state.user;
  if (!user) return { ...state, revision };
  // Not a change of the user: the same password, stored under another hash.
  if (event.event_type === "PASSWORD_REHASHED")
    return { revision, user: { ...user, password_hash: event.data.password_hash } };
  const touched = { ...user, updated_at: event.timestamp };
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
        user: { ...touched, ...erasedFields, status: "erased", deleted_at: user.deleted_at ?? event.timestamp },
      };
    case "PASSWORD_CHANGED":
      return { revision, user: { ...touched, password_hash: event.data.password_hash } };
    case "USER_DELETED":
      return { revision, user: { ...touched, status: "deleted", deleted_at: event.timestamp } };
    case "USER_SUSPENDED":
      return { revision, user: { ...touched, status: "suspended" } };
    case "USER_REACTIVATED":
      return { revision, user: { ...touched, status: "active" } };
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

/** The user without secrets, as the contract's `User` shows it. */
export function publicUser(user: User, revision: number) {
  const { password_hash: _secret, ...rest } = user;
  return { ...rest, revision };
}
export type PublicUser = ReturnType<typeof publicUser>;
