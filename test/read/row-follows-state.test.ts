import { describe, expect, it } from "vitest";
import { redact, type UserEvent } from "../../src/domain/events";
import { fold, publicUser } from "../../src/domain/user";
import { foldAudit } from "../../src/read/projections/audit";
import type { UserRow } from "../../src/read/schema";
import { projectUser, userView } from "../../src/read/user-projection";
import {
  passwordChanged,
  record,
  userCreated,
  userDeleted,
  userErased,
  userLoggedIn,
  userReactivated,
  userRestored,
  userSuspended,
  userUpdated,
} from "../domain/decider-spec";

/** Each user's life, as its object records it. */
const lives: Record<string, UserEvent[]> = {
  "a whole life": [
    userCreated({ password_hash: "hash-1" }),
    userLoggedIn(),
    userUpdated({ first_name: "Alicia", email: "alicia@example.org" }),
    passwordChanged("hash-2"),
    { event_type: "PASSWORD_REHASHED", data: { password_hash: "hash-3", hashing_method: "pbkdf2-sha256" } },
    userSuspended(),
    userReactivated(),
    { event_type: "USER_CORRECTED", data: { username: "alicia", last_name: "Smith", reason: "typo" } },
    userSuspended(),
    userDeleted(),
    userRestored("suspended"),
    userLoggedIn(),
    userDeleted(),
    userErased(),
  ],
  "an erasure without a deletion": [userCreated(), userLoggedIn(), userErased()],
  // A stored event's data may carry keys its schema does not (an imported line, read back raw by a
  // rebuild or a gap-fill): they change nothing, in the state, the row or the audit log.
  "an update carrying keys of no update": [
    userCreated(),
    userSuspended(),
    {
      event_type: "USER_UPDATED",
      data: { first_name: "Al", username: "mallory", status: "active", role: "admin", nickname: "x" } as never,
    },
  ],
};

describe("the read row follows the user's own state", () => {
  it.each(Object.entries(lives))("after every event of %s, the row shows what the object shows", (_life, events) => {
    const stream = record(...events);
    let row: UserRow | null = null;
    stream.forEach((event, n) => {
      row = projectUser(row, redact(event));
      const state = fold(stream.slice(0, n + 1));
      expect(row && userView(row)).toEqual(publicUser(state.user!, state.revision));
      expect(Object.keys(row!).sort()).toEqual(Object.keys(projectUser(null, redact(stream[0]!))!).sort());
      expect(row?.tokensValidFrom).toBe(state.user!.tokens_valid_from);
    });
  });

  it.each(Object.entries(lives))(
    "the audit log names the user as the object does, after every event of %s",
    (_life, events) => {
      const stream = record(...events);
      stream.forEach((_event, n) => {
        const { user } = fold(stream.slice(0, n + 1));
        const { state } = foldAudit(null, stream.slice(0, n + 1).map(redact));
        expect(state).toEqual({ username: user!.username, email: user!.email });
      });
    },
  );

  it("the audit log takes no identity from a stream that does not start with USER_CREATED, but an erasure's", () => {
    const [correction, erasure] = record(
      { event_type: "USER_CORRECTED", data: { username: "x", email: "x@example.com", reason: "r" } },
      userErased(),
    ).map(redact);
    expect(() => foldAudit(null, [correction!])).toThrow(/precedes USER_CREATED/);
    expect(foldAudit(null, [erasure!]).state).toEqual({ username: "[erased]", email: "[erased]" });
  });
});

describe("keys an event's schema does not have", () => {
  it("change nothing: the suspended user stays who she was, as she was", () => {
    const stream = record(...lives["an update carrying keys of no update"]!);
    const { user } = fold(stream);
    expect(user).toMatchObject({ username: "alice", status: "suspended", role: "user", first_name: "Al" });
    expect(user).not.toHaveProperty("nickname");
  });
});
