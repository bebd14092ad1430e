import { describe, expect, it } from "vitest";
import type { Rejection } from "../../src/domain/commands";
import { decide } from "../../src/domain/decide";
import type { UserEvent } from "../../src/domain/events";
import { planCommand, type Plan } from "../../src/domain/plan";
import { identityKey } from "../../src/domain/rules";
import { fold, type UserState } from "../../src/domain/user";
import {
  passwordChanged,
  policy,
  record,
  userCreated,
  userDeleted,
  userErased,
  userReactivated,
  userRestored,
  userSuspended,
  userUpdated,
} from "./decider-spec";

const REASON = "put back as it was (ticket #29)";

/**
 * given(history).revertedTo(revision): the revert to the state the stream had at that revision,
 * decided on the state at its end.
 */
function given(...history: UserEvent[]) {
  const stream = record(...history);
  const now = fold(stream);
  return {
    revertedTo(revision: number, reason = REASON) {
      const then = fold(stream.slice(0, revision));
      const command = { type: "RevertUser" as const, then, reason };
      const decision = decide(now, command, policy);
      return {
        appends(...expected: UserEvent[]): void {
          expect(decision).toEqual({ ok: true, events: expected });
          // Folded after the stream, the events make the user what it was then.
          const after = fold(record(...history, ...expected));
          expect(visible(after)).toEqual(visible(then));
        },
        rejects(expected: Partial<Rejection>): void {
          expect(decision).toMatchObject({ ok: false, rejection: expected });
        },
        plans(expected: Partial<Plan>): void {
          expect(planCommand(now, command, policy)).toMatchObject({ ok: true, value: expected });
        },
      };
    },
  };
}

/** What a revert puts back: what a strong read shows, but for the times. */
function visible(state: UserState) {
  const user = state.user;
  if (!user) return null;
  const { username, email, first_name, last_name, role, status } = user;
  return { username, email, first_name, last_name, role, status };
}

const corrected = (changes: Record<string, string>): UserEvent => ({
  event_type: "USER_CORRECTED",
  data: { ...changes, reason: REASON },
});

describe("reverting a user", () => {
  it("corrects the fields that changed since then, with the reason", () => {
    given(userCreated(), userUpdated({ email: "new@example.com", first_name: "Ally" }))
      .revertedTo(1)
      .appends(corrected({ first_name: "Alice", email: "alice@example.com" }));
  });

  it("puts back a username that a correction changed", () => {
    given(userCreated(), corrected({ username: "alicia" }))
      .revertedTo(1)
      .appends(corrected({ username: "alice" }));
  });

  it("suspends a user that was suspended then", () => {
    given(userCreated(), userSuspended(), userReactivated())
      .revertedTo(2)
      .appends({ event_type: "USER_SUSPENDED", data: {} });
  });

  it("reactivates a user that was active then", () => {
    given(userCreated(), userSuspended()).revertedTo(1).appends({ event_type: "USER_REACTIVATED", data: {} });
  });

  it("restores a deleted user, then corrects it", () => {
    given(userCreated(), userUpdated({ last_name: "Hargreaves" }), userDeleted())
      .revertedTo(1)
      .appends(
        { event_type: "USER_RESTORED", data: { reason: REASON, status: "active" } },
        corrected({ last_name: "Liddell" }),
      );
  });

  it("restores a user deleted while suspended, then reactivates it", () => {
    given(userCreated(), userSuspended(), userDeleted())
      .revertedTo(1)
      .appends(
        { event_type: "USER_RESTORED", data: { reason: REASON, status: "suspended" } },
        { event_type: "USER_REACTIVATED", data: {} },
      );
  });

  it("deletes a user that was deleted then, with the reason as the deletion's", () => {
    given(userCreated(), userDeleted(), userRestored())
      .revertedTo(2)
      .appends({ event_type: "USER_DELETED", data: { reason: REASON } });
  });

  it("corrects a user before deleting it again, when it was deleted then with other names", () => {
    given(userCreated(), userDeleted(), userRestored(), userUpdated({ first_name: "Ally" }), userDeleted())
      .revertedTo(2)
      .appends(
        { event_type: "USER_RESTORED", data: { reason: REASON, status: "active" } },
        corrected({ first_name: "Alice" }),
        { event_type: "USER_DELETED", data: { reason: REASON } },
      );
  });

  it("appends nothing when the user is as it was then (a password change is not put back)", () => {
    given(userCreated(), passwordChanged("hash-of-new")).revertedTo(1).appends();
    given(userCreated(), userSuspended(), userReactivated()).revertedTo(1).appends();
    given(userCreated(), userDeleted()).revertedTo(2).appends();
  });

  it("appends nothing for a revision beyond the stream: the user as it is", () => {
    given(userCreated(), userSuspended()).revertedTo(9).appends();
  });

  it("refuses an erased user", () => {
    given(userCreated(), userErased()).revertedTo(1).rejects({ code: "BusinessRuleViolated", rule: "revert_erased" });
  });

  it("refuses a point before the user existed", () => {
    given(userCreated(), userSuspended())
      .revertedTo(0)
      .rejects({ code: "BusinessRuleViolated", rule: "revert_before_creation" });
  });

  it("refuses a revert without a reason, or with one that cannot be stored", () => {
    given(userCreated(), userSuspended())
      .revertedTo(1, "  ")
      .rejects({ code: "ValidationFailed", field: "reason", rule: "reason_required" });
    given(userCreated(), userSuspended())
      .revertedTo(1, "bad\u0000")
      .rejects({ code: "ValidationFailed", field: "reason", rule: "unstorable_text" });
  });

  it("refuses a user that does not exist", () => {
    given().revertedTo(1).rejects({ code: "UserNotFound" });
  });
});

describe("planning a revert", () => {
  it("claims then's username and email where the user holds others now, and holds only at this revision", () => {
    given(userCreated(), corrected({ username: "alicia" }), userUpdated({ first_name: "Ally" }))
      .revertedTo(1)
      .plans({
        claims: [{ field: "username", value: "alice", key: identityKey("username", "alice") }],
        validAtRevision: 3,
      });
  });

  it("claims both when the user is deleted now and was live then", () => {
    given(userCreated(), userDeleted())
      .revertedTo(1)
      .plans({
        claims: [
          { field: "username", value: "alice", key: identityKey("username", "alice") },
          { field: "email", value: "alice@example.com", key: identityKey("email", "alice@example.com") },
        ],
      });
  });

  it("claims nothing when the user is deleted after the revert", () => {
    given(userCreated(), userDeleted(), userRestored(), corrected({ username: "alicia" }))
      .revertedTo(2)
      .plans({ claims: [] });
  });

  it("refuses before any claim when the revert is bound to be refused", () => {
    const now = fold(record(userCreated(), userErased()));
    const then = fold(record(userCreated()));
    expect(planCommand(now, { type: "RevertUser", then, reason: REASON }, policy)).toMatchObject({
      ok: false,
      rejection: { rule: "revert_erased" },
    });
  });
});
