import { describe, expect, it } from "vitest";
import { redact, type RecordedEvent } from "../../src/domain/events";
import { evolve, fold, initialState, publicUser } from "../../src/domain/user";
import {
  passwordChanged,
  record,
  timestampOf,
  USER_ID,
  userCreated,
  userDeleted,
  userReactivated,
  userSuspended,
  userUpdated,
} from "./decider-spec";

const created = userCreated({ role: "admin", password_hash: "hash-1" });

describe("folding a user's stream", () => {
  it("starts with no user at revision 0", () => {
    expect(fold([])).toEqual({ revision: 0, user: null });
    expect(initialState).toEqual({ revision: 0, user: null });
  });

  it("creates an active user whose times are the creation event's", () => {
    expect(fold(record(created))).toEqual({
      revision: 1,
      user: {
        id: USER_ID,
        username: "alice",
        email: "alice@example.com",
        first_name: "Alice",
        last_name: "Liddell",
        role: "admin",
        status: "active",
        password_hash: "hash-1",
        created_at: timestampOf(1),
        updated_at: timestampOf(1),
        deleted_at: null,
        last_login_at: null,
        status_before_delete: null,
        tokens_valid_from: 0,
      },
    });
  });

  it("applies a whole life: create, update, password change, suspend, reactivate, delete", () => {
    const stream = record(
      created,
      userUpdated({ first_name: "Alicia", email: "alicia@example.org" }),
      passwordChanged("hash-2"),
      userSuspended(),
      userReactivated(),
      userDeleted(),
    );
    expect(fold(stream)).toEqual({
      revision: 6,
      user: {
        id: USER_ID,
        username: "alice",
        email: "alicia@example.org",
        first_name: "Alicia",
        last_name: "Liddell",
        role: "admin",
        status: "deleted",
        password_hash: "hash-2",
        created_at: timestampOf(1),
        updated_at: timestampOf(6),
        deleted_at: timestampOf(6),
        last_login_at: null,
        status_before_delete: "active",
        tokens_valid_from: 6,
      },
    });
  });

  it("follows the status step by step", () => {
    const stream = record(created, userSuspended(), userReactivated(), userSuspended(), userDeleted());
    const statuses: string[] = [];
    let state = initialState;
    for (const event of stream) {
      state = evolve(state, event);
      statuses.push(state.user?.status ?? "none");
    }
    expect(statuses).toEqual(["active", "suspended", "active", "suspended", "deleted"]);
  });

  it("keeps deleted_at empty until deletion and sets updated_at to the last event's time", () => {
    const state = fold(record(created, userUpdated({ last_name: "Smith" }), userSuspended()));
    expect(state.revision).toBe(3);
    expect(state.user).toMatchObject({
      last_name: "Smith",
      status: "suspended",
      created_at: timestampOf(1),
      updated_at: timestampOf(3),
      deleted_at: null,
    });
  });

  it("changes only the fields an update carries", () => {
    const before = fold(record(created));
    const after = fold(record(created, userUpdated({ last_name: "Smith" })));
    expect(after.user).toEqual({ ...before.user, last_name: "Smith", updated_at: timestampOf(2) });
  });

  it("continues from a given state", () => {
    const stream = record(created, userUpdated({ first_name: "Alicia" }), userDeleted());
    const [first, ...rest] = stream;
    const fromSnapshot = fold(rest, fold(first ? [first] : []));
    expect(fromSnapshot).toEqual(fold(stream));
  });
});

describe("the public user", () => {
  it("never contains the password hash and carries the revision", () => {
    const state = fold(record(created, passwordChanged("hash-2")));
    if (!state.user) throw new Error("the stream should hold a user");
    const shown = publicUser(state.user, state.revision);
    expect(shown).not.toHaveProperty("password_hash");
    expect(JSON.stringify(shown)).not.toContain("hash-");
    expect(shown).toEqual({
      id: USER_ID,
      username: "alice",
      email: "alice@example.com",
      first_name: "Alice",
      last_name: "Liddell",
      role: "admin",
      status: "active",
      created_at: timestampOf(1),
      updated_at: timestampOf(2),
      deleted_at: null,
      last_login_at: null,
      revision: 2,
    });
  });

  it("does not alter the user it was made from", () => {
    const state = fold(record(created));
    if (!state.user) throw new Error("the stream should hold a user");
    publicUser(state.user, state.revision);
    expect(state.user.password_hash).toBe("hash-1");
  });
});

describe("redacting an event", () => {
  const [createdEvent, changedEvent, deletedEvent] = record(created, passwordChanged("hash-2"), userDeleted()) as [
    RecordedEvent,
    RecordedEvent,
    RecordedEvent,
  ];

  it("removes the password hash from a creation and keeps everything else", () => {
    expect(redact(createdEvent)).toEqual({
      id: "event-1",
      aggregate_id: USER_ID,
      event_type: "USER_CREATED",
      version: 1,
      timestamp: timestampOf(1),
      revision: 1,
      metadata: createdEvent.metadata,
      data: {
        username: "alice",
        email: "alice@example.com",
        first_name: "Alice",
        last_name: "Liddell",
        hashing_method: "pbkdf2-sha256",
        role: "admin",
      },
    });
  });

  it("removes the password hash from a password change and keeps the hashing method", () => {
    expect(redact(changedEvent)).toEqual({ ...changedEvent, data: { hashing_method: "pbkdf2-sha256" } });
  });

  it("leaves an event without secrets as it was", () => {
    expect(redact(deletedEvent)).toEqual(deletedEvent);
  });

  it("does not alter the stored event", () => {
    redact(createdEvent);
    expect(createdEvent.data).toHaveProperty("password_hash", "hash-1");
  });
});
