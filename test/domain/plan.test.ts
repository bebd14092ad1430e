import { describe, expect, it } from "vitest";
import type { PlanInput, Rejection } from "../../src/domain/commands";
import { decide } from "../../src/domain/decide";
import type { UserEvent } from "../../src/domain/events";
import { identitiesToFree, planCommand, stillHolds, withFacts, type Plan } from "../../src/domain/plan";
import { identityKey } from "../../src/domain/rules";
import { fold } from "../../src/domain/user";
import { passwordChanged, policy, record, userCreated, userDeleted, userErased, userSuspended } from "./decider-spec";

/** given(history).when(input): the plan the write side would carry out, or the rejection. */
function given(...history: UserEvent[]) {
  const state = fold(record(...history));
  return {
    state,
    when(input: PlanInput) {
      const planned = planCommand(state, input, policy);
      return {
        plans(expected: Partial<Plan>): Plan {
          expect(planned).toMatchObject({ ok: true, value: expected });
          return (planned as { value: Plan }).value;
        },
        rejects(expected: Partial<Rejection>): void {
          expect(planned).toMatchObject({ ok: false, rejection: expected });
        },
      };
    },
  };
}

const NO_IO = { check: null, hash: null, claims: [], validWhilePasswordHash: null };
const create = (fields: Partial<Extract<PlanInput, { type: "CreateUser" }>> = {}): PlanInput => ({
  type: "CreateUser",
  username: "alice",
  email: "alice@example.com",
  first_name: "Alice",
  last_name: "Liddell",
  password: "correct horse",
  ...fields,
});
const usernameKey = (name: string) => identityKey("username", name);
const emailKey = (email: string) => identityKey("email", email);

describe("a new user", () => {
  it("claims its username and email as they will be stored, and hashes its password", () => {
    given()
      .when(create({ username: " ａｌｉｃｅ ", email: "Alice@EXAMPLE.com" }))
      .plans({
        claims: [
          { field: "username", value: "alice", key: usernameKey("alice") },
          { field: "email", value: "Alice@example.com", key: emailKey("alice@example.com") },
        ],
        hash: { password: "correct horse", unlessRefused: false },
        check: null,
      });
  });

  it("is refused before any I/O when a rule of the decider refuses it", () => {
    given()
      .when(create({ password: "short" }))
      .rejects({ code: "ValidationFailed", rule: "password_too_short" });
    given()
      .when(create({ email: "nope" }))
      .rejects({ code: "ValidationFailed", rule: "invalid_email_format" });
    given(userCreated()).when(create()).rejects({ code: "UserAlreadyExists" });
  });

  it("becomes the command the decider accepts once the hash is known", () => {
    const plan = given().when(create()).plans({});
    const command = withFacts(plan, { passwordHash: "hash-of-correct-horse" });
    expect(decide(fold([]), command, policy)).toMatchObject({
      ok: true,
      events: [{ event_type: "USER_CREATED", data: { password_hash: "hash-of-correct-horse", role: "user" } }],
    });
  });
});

describe("an update or correction claims only a username or email the user does not hold", () => {
  it("claims a new email", () => {
    given(userCreated())
      .when({ type: "UpdateUser", email: "alice@new.example" })
      .plans({
        ...NO_IO,
        claims: [{ field: "email", value: "alice@new.example", key: emailKey("alice@new.example") }],
      });
  });

  it("claims nothing for the same email in other case, or for names only", () => {
    given(userCreated()).when({ type: "UpdateUser", email: "ALICE@example.com" }).plans(NO_IO);
    given(userCreated()).when({ type: "UpdateUser", first_name: "Al" }).plans(NO_IO);
  });

  it("claims a corrected username", () => {
    given(userCreated())
      .when({ type: "CorrectUser", changes: { username: "alicia" }, reason: "typo" })
      .plans({ claims: [{ field: "username", value: "alicia", key: usernameKey("alicia") }] });
  });

  it("is refused before claiming when the decider's rules refuse it", () => {
    given(userCreated(), userDeleted())
      .when({ type: "UpdateUser", email: "alice@new.example" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_update_deleted" });
    given(userCreated())
      .when({ type: "CorrectUser", changes: { username: "alicia" }, reason: " " })
      .rejects({ code: "ValidationFailed", rule: "reason_required" });
  });

  it("leaves a missing user to the decision: no I/O", () => {
    given().when({ type: "UpdateUser", email: "alice@new.example" }).plans(NO_IO);
  });
});

describe("a restore takes the username and email back", () => {
  it("claims both", () => {
    given(userCreated(), userDeleted())
      .when({ type: "RestoreUser", reason: "by accident" })
      .plans({
        claims: [
          { field: "username", value: "alice", key: usernameKey("alice") },
          { field: "email", value: "alice@example.com", key: emailKey("alice@example.com") },
        ],
      });
  });

  it("is refused before claiming for a user that is not deleted, or erased", () => {
    given(userCreated()).when({ type: "RestoreUser", reason: "by accident" }).rejects({ rule: "user_not_deleted" });
    given(userCreated(), userErased())
      .when({ type: "RestoreUser", reason: "by accident" })
      .rejects({ rule: "restore_erased" });
  });
});

describe("a password change", () => {
  const input: PlanInput = {
    type: "ChangePassword",
    current_password: "old secret",
    new_password: "a brand new secret",
  };

  it("checks the current password against the hash it holds, hashes the new one, and holds while that hash does", () => {
    const { state } = given(userCreated());
    given(userCreated())
      .when(input)
      .plans({
        check: { password: "old secret", compare: "a brand new secret", against: "hash-of-old-password" },
        hash: { password: "a brand new secret", unlessRefused: true },
        claims: [],
        validWhilePasswordHash: "hash-of-old-password",
      });
    const plan = planCommand(state, input, policy);
    if (!plan.ok) throw new Error("planned");
    expect(stillHolds(plan.value, state)).toBe(true);
    expect(stillHolds(plan.value, fold(record(userCreated(), passwordChanged("hash-of-other"))))).toBe(false);
  });

  it("still checks the current password when the new one will be refused (401 comes first), but hashes nothing", () => {
    given(userCreated())
      .when({ ...input, new_password: "short" })
      .plans({ check: { password: "old secret", compare: "short", against: "hash-of-old-password" }, hash: null });
    given(userCreated(), userDeleted()).when(input).plans({ hash: null });
  });

  it("decides with what the check found", () => {
    const plan = given(userCreated()).when(input).plans({});
    const state = fold(record(userCreated()));
    expect(decide(state, withFacts(plan, { currentPasswordValid: false }), policy)).toMatchObject({
      ok: false,
      rejection: { code: "IncorrectPassword" },
    });
    const facts = { currentPasswordValid: true, newPasswordSameAsCurrent: false, passwordHash: "hash-of-new" };
    expect(decide(state, withFacts(plan, facts), policy)).toMatchObject({
      ok: true,
      events: [{ event_type: "PASSWORD_CHANGED", data: { password_hash: "hash-of-new" } }],
    });
  });
});

describe("commands that need no I/O are left to the decision", () => {
  it.each<PlanInput>([
    { type: "DeleteUser" },
    { type: "EraseUser" },
    { type: "SuspendUser" },
    { type: "ReactivateUser" },
    { type: "RehashPassword", verified_hash: "x", new_password_hash: "y" },
  ])("$type", (input) => {
    const plan = given(userCreated(), userSuspended()).when(input).plans(NO_IO);
    expect(withFacts(plan, {})).toEqual(input);
  });
});

describe("what the registries let go afterwards", () => {
  const alice = fold(record(userCreated()));
  const keys = [usernameKey("alice"), emailKey("alice@example.com")];

  it("after an email change: the old email", () => {
    const after = fold(record(userCreated(), { event_type: "USER_UPDATED", data: { email: "alice@new.example" } }));
    expect(identitiesToFree([emailKey("alice@new.example")], alice, after)).toEqual({
      release: [emailKey("alice@example.com")],
      forget: [],
    });
  });

  it("after a deletion: both; after an erasure: both forgotten", () => {
    expect(identitiesToFree([], alice, fold(record(userCreated(), userDeleted())))).toEqual({
      release: keys,
      forget: [],
    });
    expect(identitiesToFree([], alice, fold(record(userCreated(), userErased())))).toEqual({
      release: [],
      forget: keys,
    });
    const deleted = fold(record(userCreated(), userDeleted()));
    expect(identitiesToFree([], deleted, fold(record(userCreated(), userDeleted(), userErased())))).toEqual({
      release: [],
      forget: keys,
    });
  });

  it("after a commit that keeps the user's names (a create, a restore, a suspension): nothing", () => {
    expect(identitiesToFree(keys, fold([]), alice)).toEqual({ release: [], forget: [] });
    const deleted = fold(record(userCreated(), userDeleted()));
    expect(identitiesToFree(keys, deleted, alice)).toEqual({ release: [], forget: [] });
    expect(identitiesToFree([], alice, fold(record(userCreated(), userSuspended())))).toEqual({
      release: [],
      forget: [],
    });
  });

  it("when nothing committed: the claims, except a key the user holds now (a concurrent change took it)", () => {
    const now = fold(record(userCreated(), { event_type: "USER_UPDATED", data: { email: "alice@new.example" } }));
    const claimed = [emailKey("alice@new.example"), usernameKey("bob")];
    expect(identitiesToFree(claimed, now, now)).toEqual({ release: [usernameKey("bob")], forget: [] });
  });
});
