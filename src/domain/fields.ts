import { ERASED, type EventType, type PublicEvent, type PublicEventOf, type Role } from "./events";

/**
 * What events do to a user's fields, once for both sides that hold them: the user's own state
 * (`evolve`, src/domain/user.ts) and the read model's row (`projectUser`, src/read/user-projection.ts).
 */

export type UserStatus = "active" | "suspended" | "deleted" | "erased";

/**
 * The user's fields that its own stream and the read model both hold, and that events change
 * (`newUser`, `changesOf`): the user without its secret and its restore bookkeeping.
 */
export interface UserFields {
  id: string;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  role: Role;
  status: UserStatus;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  last_login_at: string | null;
  /**
   * Tokens issued at a revision below this one are refused: it is the revision of the latest
   * password change, suspension, deletion or erasure. A reactivation or restore does not lower it.
   */
  tokens_valid_from: number;
}

/** A user's fields as its USER_CREATED sets them. */
export function newUser(event: PublicEventOf<"USER_CREATED">): UserFields {
  const { username, email, first_name, last_name, role } = event.data;
  return {
    id: event.aggregate_id,
    username,
    email,
    first_name,
    last_name,
    role,
    status: "active",
    created_at: event.timestamp,
    updated_at: event.timestamp,
    deleted_at: null,
    last_login_at: null,
    tokens_valid_from: 0,
  };
}

/** What an event after USER_CREATED may change of a user's fields. */
export type UserChanges = Partial<Omit<UserFields, "id" | "role" | "created_at">>;

/**
 * The fields `event` changes, stated once for the user's own state (`evolve`) and the read model's
 * row (`projectUser`), so the two cannot drift. It reads only what the redacted event carries; the
 * secret a stored event adds is `evolve`'s alone. `deletedAt` is the user's before the event: an
 * erasure keeps the time of an earlier deletion. An event type this code does not know (one from a
 * newer writer, read to fill a gap) changes nothing.
 */
export function changesOf(event: ChangeEvent, deletedAt: string | null): UserChanges {
  const touched: UserChanges = { updated_at: event.timestamp };
  // Tokens issued before a revoking event stop working.
  if (revokesTokens(event.event_type)) touched.tokens_valid_from = event.revision;
  switch (event.event_type) {
    case "USER_UPDATED":
      return { ...touched, ...given(event.data, ["first_name", "last_name", "email"]) };
    case "USER_CORRECTED":
      return { ...touched, ...given(event.data, ["username", "first_name", "last_name", "email"]) };
    case "USER_ERASED":
      return {
        ...touched,
        ...erasedFields,
        status: "erased",
        deleted_at: deletedAt ?? event.timestamp,
        last_login_at: null,
      };
    case "PASSWORD_CHANGED":
      return touched;
    case "USER_DELETED":
      return { ...touched, status: "deleted", deleted_at: event.timestamp };
    case "USER_SUSPENDED":
      return { ...touched, status: "suspended" };
    case "USER_REACTIVATED":
      return { ...touched, status: "active" };
    case "USER_RESTORED":
      return { ...touched, status: event.data.status, deleted_at: null };
    case "USER_LOGGED_IN":
      // Not a change of the user's data: updated_at stays.
      return { last_login_at: event.timestamp };
    case "PASSWORD_REHASHED":
      // Not a change of the user: the same password, stored under another hash.
      return {};
  }
  return {};
}

/** Any event but a creation, redacted or not: what `changesOf` reads. */
type ChangeEvent = Exclude<PublicEvent, { event_type: "USER_CREATED" }>;

const erasedFields = { username: ERASED, email: ERASED, first_name: ERASED, last_name: ERASED } as const;

/**
 * Of `fields`, those the event carries a value for: an absent (or null) one leaves the user's as it
 * was. Named, not spread: a stored event's data may hold keys its schema does not (an imported line,
 * read back raw by a rebuild or a gap-fill), and those must change nothing on any path.
 */
function given<T extends object, K extends keyof T & string>(data: T, fields: readonly K[]) {
  const changes: { [F in K]?: NonNullable<T[F]> } = {};
  for (const field of fields) {
    const value = data[field];
    if (value !== undefined && value !== null) changes[field] = value;
  }
  return changes;
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

/** The revision of the last revoking event among `events`, or null. */
export function revocationIn(events: readonly { event_type: EventType; revision: number }[]): number | null {
  return events.findLast((event) => revokesTokens(event.event_type))?.revision ?? null;
}
