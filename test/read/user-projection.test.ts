import { describe, expect, it } from "vitest";
import type { PublicEvent } from "../../src/domain/events";
import { projectUser, userView } from "../../src/read/user-projection";
import type { UserRow } from "../../src/read/schema";
import { userCreated, userEvent } from "../support/builders";

const id = "7c3e1f0a-0000-4000-8000-000000000001";

function fold(events: PublicEvent[]): UserRow | null {
  return events.reduce<UserRow | null>((row, event) => projectUser(row, event), null);
}

describe("projectUser", () => {
  const created = userCreated(id, "ada", "2030-02-01T10:00:00.000Z");

  it("creates an active row from USER_CREATED with the event's time and revision", () => {
    expect(projectUser(null, created)).toEqual({
      id,
      username: "ada",
      email: "ada@example.com",
      firstName: "Ada",
      lastName: "Lovelace",
      role: "user",
      status: "active",
      createdAt: "2030-02-01T10:00:00.000Z",
      updatedAt: "2030-02-01T10:00:00.000Z",
      deletedAt: null,
      lastLoginAt: null,
      revision: 1,
      tokensValidFrom: 0,
    });
  });

  it("keeps the role the event names (the queue's contract admits no other)", () => {
    const admin = { ...created, data: { ...created.data, role: "admin" as const } };
    expect(projectUser(null, admin)?.role).toBe("admin");
    expect(projectUser(null, created)?.role).toBe("user");
  });

  it("applies only the fields an update carries, and advances updatedAt and revision", () => {
    const row = fold([
      created,
      userEvent(id, 2, "USER_UPDATED", { first_name: "Augusta" }, "2030-02-02T00:00:00.000Z"),
      userEvent(id, 3, "USER_UPDATED", { email: "augusta@example.org", last_name: "King" }, "2030-02-03T00:00:00.000Z"),
    ]);
    expect(row).toMatchObject({
      username: "ada",
      firstName: "Augusta",
      lastName: "King",
      email: "augusta@example.org",
      createdAt: "2030-02-01T10:00:00.000Z",
      updatedAt: "2030-02-03T00:00:00.000Z",
      revision: 3,
    });
  });

  it("a password change touches only updatedAt, revision and tokensValidFrom, and no secret reaches the row", () => {
    const before = projectUser(null, created)!;
    const after = projectUser(
      before,
      userEvent(id, 2, "PASSWORD_CHANGED", { hashing_method: "pbkdf2-sha256" }, "2030-02-05T00:00:00.000Z"),
    );
    expect(after).toEqual({ ...before, updatedAt: "2030-02-05T00:00:00.000Z", revision: 2, tokensValidFrom: 2 });
    expect(JSON.stringify(userView(after!))).not.toMatch(/password|hash/i);
  });

  it("delete marks the row deleted at the event's time", () => {
    const row = fold([created, userEvent(id, 2, "USER_DELETED", { reason: null }, "2030-02-06T00:00:00.000Z")]);
    expect(row).toMatchObject({
      status: "deleted",
      deletedAt: "2030-02-06T00:00:00.000Z",
      updatedAt: "2030-02-06T00:00:00.000Z",
      revision: 2,
    });
  });

  it("suspend and reactivate switch the status and keep the data", () => {
    const suspended = fold([created, userEvent(id, 2, "USER_SUSPENDED")]);
    expect(suspended).toMatchObject({ status: "suspended", revision: 2, firstName: "Ada", deletedAt: null });
    const reactivated = projectUser(suspended, userEvent(id, 3, "USER_REACTIVATED"));
    expect(reactivated).toMatchObject({ status: "active", revision: 3, firstName: "Ada" });
  });

  it("ignores events that arrive before USER_CREATED", () => {
    for (const type of [
      "USER_UPDATED",
      "PASSWORD_CHANGED",
      "USER_DELETED",
      "USER_SUSPENDED",
      "USER_REACTIVATED",
    ] as const) {
      expect(projectUser(null, userEvent(id, 2, type, { first_name: "X" }))).toBeNull();
    }
  });

  it("an event type it does not know leaves the row as it was, with its revision advanced", () => {
    // The documented contract of projectUser: "a projection never rejects an event". Gap healing
    // reads events straight from the user's object, where newer event types may appear.
    const row = projectUser(null, created)!;
    const unknown = {
      ...userEvent(id, 2, "USER_UPDATED"),
      event_type: "USER_FROM_THE_FUTURE",
    } as unknown as PublicEvent;
    const after = projectUser(row, unknown);
    expect(after).toMatchObject({ ...row, revision: 2 });
  });

  it("userView shows the contract's field names and the revision", () => {
    expect(userView(projectUser(null, created)!)).toEqual({
      id,
      username: "ada",
      email: "ada@example.com",
      first_name: "Ada",
      last_name: "Lovelace",
      role: "user",
      status: "active",
      created_at: "2030-02-01T10:00:00.000Z",
      updated_at: "2030-02-01T10:00:00.000Z",
      deleted_at: null,
      last_login_at: null,
      revision: 1,
    });
  });

  it("a restore brings the row back with the status the event carries, without deletedAt", () => {
    const deleted = fold([
      created,
      userEvent(id, 2, "USER_SUSPENDED"),
      userEvent(id, 3, "USER_DELETED", { reason: null }),
    ]);
    const restored = projectUser(
      deleted,
      userEvent(id, 4, "USER_RESTORED", { reason: "oops", status: "suspended" }, "2030-02-07T00:00:00.000Z"),
    );
    expect(restored).toMatchObject({
      status: "suspended",
      deletedAt: null,
      updatedAt: "2030-02-07T00:00:00.000Z",
      revision: 4,
    });
    const active = projectUser(deleted, userEvent(id, 4, "USER_RESTORED", { reason: "oops", status: "active" }));
    expect(active?.status).toBe("active");
  });

  it("a login sets lastLoginAt and the revision, not updatedAt; an erasure clears it", () => {
    const row = fold([created, userEvent(id, 2, "USER_LOGGED_IN", { method: "password" }, "2030-02-08T00:00:00.000Z")]);
    expect(row).toMatchObject({
      lastLoginAt: "2030-02-08T00:00:00.000Z",
      updatedAt: "2030-02-01T10:00:00.000Z",
      revision: 2,
    });
    expect(projectUser(row, userEvent(id, 3, "USER_ERASED"))?.lastLoginAt).toBeNull();
  });

  it("tokensValidFrom is the revision of the latest revoking event, as the object's token rule has it", () => {
    const events = [
      created,
      userEvent(id, 2, "USER_LOGGED_IN", { method: "password" }),
      userEvent(id, 3, "PASSWORD_CHANGED", { hashing_method: "pbkdf2-sha256" }),
      userEvent(id, 4, "USER_UPDATED", { first_name: "X" }),
      userEvent(id, 5, "USER_SUSPENDED"),
      userEvent(id, 6, "USER_REACTIVATED"),
    ];
    const seen = events.map((_, n) => fold(events.slice(0, n + 1))?.tokensValidFrom);
    // A reactivation does not bring old tokens back.
    expect(seen).toEqual([0, 0, 3, 3, 5, 5]);
    expect(projectUser(fold(events), userEvent(id, 7, "USER_DELETED", { reason: null }))?.tokensValidFrom).toBe(7);
  });

  it("a row projected before the column existed learns it from its next revoking event only", () => {
    const old = { ...fold([created])!, tokensValidFrom: null };
    expect(projectUser(old, userEvent(id, 2, "USER_UPDATED", { first_name: "X" }))?.tokensValidFrom).toBeNull();
    expect(projectUser(old, userEvent(id, 2, "USER_SUSPENDED"))?.tokensValidFrom).toBe(2);
  });
});
