import { describe, expect, it } from "vitest";
import {
  changePassword,
  createUser,
  given,
  policy,
  userCreated,
  userDeleted,
  userReactivated,
  userSuspended,
  userUpdated,
} from "./decider-spec";

describe("creating a user", () => {
  it("records the user with the hash and the policy's hashing method, never the password", () => {
    given()
      .when(createUser())
      .then({
        event_type: "USER_CREATED",
        data: {
          username: "alice",
          email: "alice@example.com",
          first_name: "Alice",
          last_name: "Liddell",
          password_hash: "hash-of-correct-horse",
          hashing_method: policy.hashingMethod,
          role: "user",
        },
      });
  });

  it("passes the requested role through", () => {
    given()
      .when(createUser({ role: "admin" }))
      .then(userCreated({ role: "admin", password_hash: "hash-of-correct-horse" }));
  });

  it("stores the username trimmed", () => {
    given()
      .when(createUser({ username: "  alice  " }))
      .then(userCreated({ password_hash: "hash-of-correct-horse" }));
  });

  it("accepts a username of exactly three characters", () => {
    given()
      .when(createUser({ username: "bob" }))
      .then(userCreated({ username: "bob", password_hash: "hash-of-correct-horse" }));
  });

  it("rejects a username shorter than three characters", () => {
    given()
      .when(createUser({ username: "al" }))
      .rejects({ code: "ValidationFailed", field: "username", details: { username: "al", min_length: 3 } });
  });

  it("rejects a username that is shorter than three characters once trimmed", () => {
    given()
      .when(createUser({ username: "  al  " }))
      .rejects({ code: "ValidationFailed", field: "username", details: { username: "al", min_length: 3 } });
  });

  it.each([
    ["no @", "alice.example.com"],
    ["nothing before the @", "@example.com"],
    ["a host without a dot", "alice@localhost"],
    ["a space inside", "ali ce@example.com"],
    ["two @", "alice@bob@example.com"],
    ["an empty domain label", "alice@example..com"],
    ["an empty address", ""],
  ])("rejects an email with %s", (_case, email) => {
    given().when(createUser({ email })).rejects({ code: "ValidationFailed", field: "email" });
  });

  it("rejects an email longer than 254 characters", () => {
    const email = `${"a".repeat(64)}@${"b".repeat(186)}.com`;
    expect(email).toHaveLength(255);
    given().when(createUser({ email })).rejects({ code: "ValidationFailed", field: "email" });
  });

  it("accepts an email of exactly 254 characters", () => {
    const email = `${"a".repeat(64)}@${"b".repeat(185)}.com`;
    expect(email).toHaveLength(254);
    given()
      .when(createUser({ email }))
      .then(userCreated({ email, password_hash: "hash-of-correct-horse" }));
  });

  it("normalises the email: trimmed, domain lower-cased, local part keeps its case", () => {
    given()
      .when(createUser({ email: "  Alice.Smith@Example.COM  " }))
      .then(userCreated({ email: "Alice.Smith@example.com", password_hash: "hash-of-correct-horse" }));
  });

  it("reports the normalised email when it is invalid", () => {
    given()
      .when(createUser({ email: " Alice@LOCALHOST " }))
      .rejects({ code: "ValidationFailed", field: "email", details: { email: "Alice@localhost" } });
  });

  it("rejects an empty password", () => {
    given()
      .when(createUser({ password: "" }))
      .rejects({ code: "ValidationFailed", field: "password", message: "Password is required" });
  });

  it("rejects a password below the policy's minimum length", () => {
    given()
      .when(createUser({ password: "short" }), { ...policy, passwordMinLength: 6 })
      .rejects({ code: "ValidationFailed", field: "password", details: { min_length: 6 } });
  });

  it("accepts a password of exactly the policy's minimum length", () => {
    given()
      .when(createUser({ password: "sixsix" }), { ...policy, passwordMinLength: 6 })
      .then(userCreated({ password_hash: "hash-of-correct-horse" }));
  });

  it("refuses to create a user on a stream that already has one", () => {
    given(userCreated()).when(createUser()).rejects({ code: "UserAlreadyExists" });
  });

  it("refuses to create a user on the stream of a deleted user", () => {
    given(userCreated(), userDeleted()).when(createUser()).rejects({ code: "UserAlreadyExists" });
  });
});

describe("updating a user", () => {
  it("records only the fields that were provided", () => {
    given(userCreated())
      .when({ type: "UpdateUser", first_name: "Alicia" })
      .then(userUpdated({ first_name: "Alicia" }));
  });

  it("records all three fields when all are provided", () => {
    given(userCreated())
      .when({ type: "UpdateUser", first_name: "Alicia", last_name: "Smith", email: "alicia@example.org" })
      .then(userUpdated({ first_name: "Alicia", last_name: "Smith", email: "alicia@example.org" }));
  });

  it("leaves out empty and null fields", () => {
    given(userCreated())
      .when({ type: "UpdateUser", first_name: "", last_name: "Smith", email: null })
      .then(userUpdated({ last_name: "Smith" }));
  });

  it.each([
    ["no field at all", {}],
    ["only an empty first name", { first_name: "" }],
    ["only empty and null fields", { first_name: "", last_name: null, email: "" }],
  ])("rejects an update with %s", (_case, fields) => {
    given(userCreated())
      .when({ type: "UpdateUser", ...fields })
      .rejects({ code: "ValidationFailed", field: "update_fields", rule: "no_fields_to_update", details: {} });
  });

  it("rejects an invalid email", () => {
    given(userCreated())
      .when({ type: "UpdateUser", email: "alice@localhost" })
      .rejects({ code: "ValidationFailed", field: "email", details: { email: "alice@localhost" } });
  });

  it("rejects an invalid email even when other fields are valid", () => {
    given(userCreated())
      .when({ type: "UpdateUser", first_name: "Alicia", email: "not-an-email" })
      .rejects({ code: "ValidationFailed", field: "email" });
  });

  it("normalises the new email: trimmed, domain lower-cased, local part keeps its case", () => {
    given(userCreated())
      .when({ type: "UpdateUser", email: " Alicia@Example.ORG " })
      .then(userUpdated({ email: "Alicia@example.org" }));
  });

  it("may update a suspended user", () => {
    given(userCreated(), userSuspended())
      .when({ type: "UpdateUser", last_name: "Smith" })
      .then(userUpdated({ last_name: "Smith" }));
  });

  it("refuses to update a deleted user", () => {
    given(userCreated(), userDeleted())
      .when({ type: "UpdateUser", first_name: "Alicia" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_update_deleted" });
  });

  it("reports a deleted user before an empty update", () => {
    given(userCreated(), userDeleted())
      .when({ type: "UpdateUser" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_update_deleted" });
  });

  it("reports a missing user", () => {
    given().when({ type: "UpdateUser", first_name: "Alicia" }).rejects({ code: "UserNotFound" });
  });
});

describe("changing the password", () => {
  it("records the new hash with the policy's hashing method", () => {
    given(userCreated())
      .when(changePassword({ new_password_hash: "hash-of-new" }), { ...policy, hashingMethod: "argon-ish" })
      .then({ event_type: "PASSWORD_CHANGED", data: { password_hash: "hash-of-new", hashing_method: "argon-ish" } });
  });

  it("rejects a wrong current password", () => {
    given(userCreated())
      .when(changePassword({ current_password_valid: false }))
      .rejects({ code: "IncorrectPassword" });
  });

  it("rejects a wrong current password even on a deleted user, so deletion is not revealed", () => {
    given(userCreated(), userDeleted())
      .when(changePassword({ current_password_valid: false }))
      .rejects({ code: "IncorrectPassword" });
  });

  it("refuses to change the password of a deleted user", () => {
    given(userCreated(), userDeleted())
      .when(changePassword())
      .rejects({ code: "BusinessRuleViolated", rule: "password_change_deleted" });
  });

  it("rejects an empty new password", () => {
    given(userCreated())
      .when(changePassword({ new_password: "" }))
      .rejects({ code: "ValidationFailed", field: "new_password", message: "New password is required" });
  });

  it("rejects a new password below the policy's minimum length", () => {
    given(userCreated())
      .when(changePassword({ new_password: "1234567" }), { ...policy, passwordMinLength: 8 })
      .rejects({ code: "ValidationFailed", field: "new_password", details: { min_length: 8 } });
  });

  it("rejects a new password that is the same as the current one", () => {
    given(userCreated())
      .when(changePassword({ new_password_same_as_current: true }))
      .rejects({ code: "ValidationFailed", field: "new_password" });
  });

  it("reports a missing user", () => {
    given().when(changePassword()).rejects({ code: "UserNotFound" });
  });
});

describe("deleting a user", () => {
  it("records the deletion", () => {
    given(userCreated())
      .when({ type: "DeleteUser" })
      .then({ event_type: "USER_DELETED", data: { reason: null } });
  });

  it("records the reason of the deletion as part of the fact", () => {
    given(userCreated())
      .when({ type: "DeleteUser", reason: "GDPR request #42" })
      .then({ event_type: "USER_DELETED", data: { reason: "GDPR request #42" } });
  });

  it("may delete a suspended user", () => {
    given(userCreated(), userSuspended())
      .when({ type: "DeleteUser" })
      .then({ event_type: "USER_DELETED", data: { reason: null } });
  });

  it("refuses to delete a user twice", () => {
    given(userCreated(), userDeleted())
      .when({ type: "DeleteUser" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_already_deleted" });
  });

  it("reports a missing user", () => {
    given().when({ type: "DeleteUser" }).rejects({ code: "UserNotFound" });
  });
});

describe("suspending a user", () => {
  it("records the suspension of an active user", () => {
    given(userCreated()).when({ type: "SuspendUser" }).then({ event_type: "USER_SUSPENDED", data: {} });
  });

  it("may suspend a user again after reactivation", () => {
    given(userCreated(), userSuspended(), userReactivated())
      .when({ type: "SuspendUser" })
      .then({ event_type: "USER_SUSPENDED", data: {} });
  });

  it("refuses to suspend a user who is already suspended", () => {
    given(userCreated(), userSuspended())
      .when({ type: "SuspendUser" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_already_suspended" });
  });

  it("refuses to suspend a deleted user", () => {
    given(userCreated(), userDeleted())
      .when({ type: "SuspendUser" })
      .rejects({ code: "BusinessRuleViolated", rule: "suspend_deleted" });
  });

  it("reports a missing user", () => {
    given().when({ type: "SuspendUser" }).rejects({ code: "UserNotFound" });
  });
});

describe("reactivating a user", () => {
  it("records the reactivation of a suspended user", () => {
    given(userCreated(), userSuspended())
      .when({ type: "ReactivateUser" })
      .then({ event_type: "USER_REACTIVATED", data: {} });
  });

  it("refuses to reactivate a user who is not suspended", () => {
    given(userCreated())
      .when({ type: "ReactivateUser" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_not_suspended" });
  });

  it("refuses to reactivate a user who was already reactivated", () => {
    given(userCreated(), userSuspended(), userReactivated())
      .when({ type: "ReactivateUser" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_not_suspended" });
  });

  it("refuses to reactivate a deleted user, even one deleted while suspended", () => {
    given(userCreated(), userSuspended(), userDeleted())
      .when({ type: "ReactivateUser" })
      .rejects({ code: "BusinessRuleViolated", rule: "reactivate_deleted" });
  });

  it("reports a missing user", () => {
    given().when({ type: "ReactivateUser" }).rejects({ code: "UserNotFound" });
  });
});
