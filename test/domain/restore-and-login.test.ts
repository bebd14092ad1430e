import { describe, expect, it } from "vitest";
import { fold, acceptsToken, publicUser } from "../../src/domain/user";
import {
  given,
  passwordChanged,
  record,
  timestampOf,
  userCreated,
  userDeleted,
  userErased,
  userLoggedIn,
  userReactivated,
  userRestored,
  userSuspended,
} from "./decider-spec";

const restore = (reason = "deleted by accident") => ({ type: "RestoreUser" as const, reason });
const login = { type: "RecordLogin" as const, method: "password" };

describe("restoring a deleted user", () => {
  it("makes it live again, with its reason", () => {
    given(userCreated(), userDeleted()).when(restore()).then(userRestored("active"));
  });

  it("brings back the status it had when it was deleted", () => {
    given(userCreated(), userSuspended(), userDeleted()).when(restore()).then(userRestored("suspended"));
  });

  it("refuses a live user", () => {
    given(userCreated()).when(restore()).rejects({ code: "BusinessRuleViolated", rule: "user_not_deleted" });
    given(userCreated(), userSuspended())
      .when(restore())
      .rejects({ code: "BusinessRuleViolated", rule: "user_not_deleted" });
  });

  it("refuses an erased user, deleted before or not", () => {
    given(userCreated(), userDeleted(), userErased())
      .when(restore())
      .rejects({ code: "BusinessRuleViolated", rule: "restore_erased" });
    given(userCreated(), userErased())
      .when(restore())
      .rejects({ code: "BusinessRuleViolated", rule: "restore_erased" });
  });

  it("needs a reason that can be stored", () => {
    given(userCreated(), userDeleted()).when(restore("  ")).rejects({ code: "ValidationFailed", field: "reason" });
    given(userCreated(), userDeleted())
      .when(restore("oops\uD800"))
      .rejects({ code: "ValidationFailed", field: "reason" });
  });

  it("refuses an unknown user", () => {
    given().when(restore()).rejects({ code: "UserNotFound" });
  });

  it("folds to the live user without deleted_at", () => {
    const state = fold(record(userCreated(), userDeleted(), userRestored("active")));
    expect(state.user).toMatchObject({ status: "active", deleted_at: null, updated_at: timestampOf(3) });
  });
});

describe("logins in the trail", () => {
  it("records a login of an active user", () => {
    given(userCreated()).when(login).then(userLoggedIn());
  });

  it("records no login of a suspended, deleted or erased user", () => {
    for (const history of [[userSuspended()], [userDeleted()], [userErased()]]) {
      given(userCreated(), ...history)
        .when(login)
        .rejects({ code: "BusinessRuleViolated", rule: "login_inactive" });
    }
  });

  it("sets last_login_at without touching updated_at", () => {
    const state = fold(record(userCreated(), userLoggedIn()));
    if (!state.user) throw new Error("no user");
    expect(publicUser(state.user, state.revision)).toMatchObject({
      last_login_at: timestampOf(2),
      updated_at: timestampOf(1),
    });
  });
});

describe("which tokens a user accepts", () => {
  const userAfter = (...events: Parameters<typeof record>) => {
    const user = fold(record(...events)).user;
    if (!user) throw new Error("no user");
    return user;
  };

  it("accepts a token issued at or after its latest login", () => {
    const user = userAfter(userCreated(), userLoggedIn());
    expect(acceptsToken(user, 2)).toBe(true);
    expect(acceptsToken(user, 1)).toBe(true);
  });

  it("refuses tokens issued before a password change", () => {
    const user = userAfter(userCreated(), userLoggedIn(), passwordChanged("hash-2"));
    expect(acceptsToken(user, 2)).toBe(false);
    expect(acceptsToken(user, 3)).toBe(true);
  });

  it("keeps tokens issued before a suspension dead after the reactivation", () => {
    const user = userAfter(userCreated(), userLoggedIn(), userSuspended(), userReactivated());
    expect(user.status).toBe("active");
    expect(acceptsToken(user, 2)).toBe(false);
    expect(acceptsToken(user, 4)).toBe(true);
  });

  it("keeps tokens issued before a deletion dead after the restore", () => {
    const user = userAfter(userCreated(), userLoggedIn(), userDeleted(), userRestored());
    expect(user.status).toBe("active");
    expect(acceptsToken(user, 2)).toBe(false);
  });

  it("refuses every token of a suspended, deleted or erased user", () => {
    expect(acceptsToken(userAfter(userCreated(), userSuspended()), 99)).toBe(false);
    expect(acceptsToken(userAfter(userCreated(), userDeleted()), 99)).toBe(false);
    expect(acceptsToken(userAfter(userCreated(), userErased()), 99)).toBe(false);
  });

  it("does not count an update or a login as a reason to refuse older tokens", () => {
    const user = userAfter(userCreated(), userLoggedIn(), userLoggedIn());
    expect(acceptsToken(user, 2)).toBe(true);
  });
});
