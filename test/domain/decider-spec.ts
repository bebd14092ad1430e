/**
 * A tiny given/when/then for the decider:
 *
 *   given(userCreated()).when({ type: "DeleteUser" }).then({ event_type: "USER_DELETED", data: { reason: null } });
 *   given().when({ type: "DeleteUser" }).rejects({ code: "UserNotFound" });
 *
 * `given` takes plain `UserEvent`s and records them itself (ids, timestamps, revisions 1..n).
 * Note: the object returned by `when` has a `then` method, so never `await` it.
 */
import { expect } from "vitest";
import type { Policy, Rejection, UserCommand } from "../../src/domain/commands";
import { decide } from "../../src/domain/decide";
import type { EventMetadata, RecordedEvent, UserEvent } from "../../src/domain/events";
import { fold } from "../../src/domain/user";

export const USER_ID = "00000000-0000-4000-8000-000000000001";
export const policy: Policy = { passwordMinLength: 8, hashingMethod: "pbkdf2-sha256" };

const noMetadata: EventMetadata = {
  actor_id: null,
  actor_username: null,
  request_id: null,
  idempotency_key: null,
  reason: null,
};

/** The time of the event at `revision`: one minute apart, starting 2024-01-01T00:01:00Z. */
export function timestampOf(revision: number): string {
  return new Date(Date.UTC(2024, 0, 1, 0, revision)).toISOString();
}

/** Wraps events into a stream as the store would record them: revisions 1..n, one minute apart. */
export function record(...events: UserEvent[]): RecordedEvent[] {
  return events.map((event, index) => ({
    ...event,
    id: `event-${index + 1}`,
    aggregate_id: USER_ID,
    version: 1,
    timestamp: timestampOf(index + 1),
    revision: index + 1,
    metadata: noMetadata,
  }));
}

export function given(...history: UserEvent[]) {
  const state = fold(record(...history));
  return {
    when(command: UserCommand, withPolicy: Policy = policy) {
      const decision = decide(state, command, withPolicy);
      return {
        then(...expected: UserEvent[]): void {
          expect(decision).toEqual({ ok: true, events: expected });
        },
        rejects(expected: Partial<Rejection>): void {
          expect(decision).toMatchObject({ ok: false, rejection: expected });
        },
      };
    },
  };
}

// ---- event and command builders with sensible defaults -------------------------------------------

type Created = Extract<UserEvent, { event_type: "USER_CREATED" }>;
type Updated = Extract<UserEvent, { event_type: "USER_UPDATED" }>;
type CreateUser = Extract<UserCommand, { type: "CreateUser" }>;
type ChangePassword = Extract<UserCommand, { type: "ChangePassword" }>;

export const userCreated = (data: Partial<Created["data"]> = {}): Created => ({
  event_type: "USER_CREATED",
  data: {
    username: "alice",
    email: "alice@example.com",
    first_name: "Alice",
    last_name: "Liddell",
    password_hash: "hash-of-old-password",
    hashing_method: policy.hashingMethod,
    role: "user",
    ...data,
  },
});
export const userUpdated = (data: Updated["data"]): Updated => ({ event_type: "USER_UPDATED", data });
export const passwordChanged = (password_hash: string): UserEvent => ({
  event_type: "PASSWORD_CHANGED",
  data: { password_hash, hashing_method: policy.hashingMethod },
});
export const userDeleted = (): UserEvent => ({ event_type: "USER_DELETED", data: { reason: null } });
export const userSuspended = (): UserEvent => ({ event_type: "USER_SUSPENDED", data: {} });
export const userReactivated = (): UserEvent => ({ event_type: "USER_REACTIVATED", data: {} });

export const createUser = (fields: Partial<Omit<CreateUser, "type">> = {}): CreateUser => ({
  type: "CreateUser",
  username: "alice",
  email: "alice@example.com",
  first_name: "Alice",
  last_name: "Liddell",
  password: "correct horse",
  password_hash: "hash-of-correct-horse",
  role: "user",
  ...fields,
});

export const changePassword = (fields: Partial<Omit<ChangePassword, "type">> = {}): ChangePassword => ({
  type: "ChangePassword",
  current_password_valid: true,
  new_password: "a brand new secret",
  new_password_same_as_current: false,
  new_password_hash: "hash-of-new-password",
  ...fields,
});

export const userRestored = (status: "active" | "suspended" = "active", reason = "deleted by accident"): UserEvent => ({
  event_type: "USER_RESTORED",
  data: { reason, status },
});
export const userLoggedIn = (): UserEvent => ({ event_type: "USER_LOGGED_IN", data: { method: "password" } });
export const userErased = (): UserEvent => ({ event_type: "USER_ERASED", data: {} });
