import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { type CommandBody, type LoginBody, type UserBody, eventTypes, expectError } from "./helpers";
import { PASSWORD, newUserBody, uniqueName } from "../support/builders";

const INCORRECT = { error: "HTTP Error", message: "Incorrect username or password", type: "HTTPException" };

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

async function userSession() {
  const user = await createUser(admin.token);
  return { ...user, token: await login(user.username) };
}

describe("login", () => {
  it("answers a bearer token and the user, without secrets", async () => {
    const user = await createUser(admin.token);
    const res = await call<LoginBody>("POST", "/v1/auth/login/", {
      body: { username: user.username, password: PASSWORD },
    });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe("bearer");
    expect(res.body.access_token.split(".")).toHaveLength(3);
    expect(res.body.user).toMatchObject({ id: user.id, username: user.username, role: "user", status: "active" });
    expect(res.body.user).not.toHaveProperty("password_hash");
  });

  it("works without the trailing slash", async () => {
    const user = await createUser(admin.token);
    const res = await call<LoginBody>("POST", "/v1/auth/login", {
      body: { username: user.username, password: PASSWORD },
    });
    expect(res.status).toBe(200);
  });

  it("gives the same 401 for an unknown user, a wrong password and empty fields", async () => {
    const user = await createUser(admin.token);
    const attempts = [
      { username: `${user.username}-nope`, password: PASSWORD },
      { username: user.username, password: "wrong-password" },
      { username: "", password: "" },
    ];
    for (const body of attempts) expectError(await call("POST", "/v1/auth/login/", { body }), 401, INCORRECT);
  });
});

describe("who may update whom", () => {
  it("a user may update itself", async () => {
    const me = await userSession();
    const res = await call<CommandBody>("PUT", `/v1/users/${me.id}/`, { token: me.token, body: { last_name: "Self" } });
    expect(res.status).toBe(200);
    // Revision 2 is the user's login.
    expect(res.body).toMatchObject({ message: "User updated successfully", revision: 3 });
  });

  it("a user may not update another user: 403, nothing appended", async () => {
    const me = await userSession();
    const other = await createUser(admin.token);
    const res = await call("PUT", `/v1/users/${other.id}/`, { token: me.token, body: { first_name: "Hijacked" } });
    expectError(res, 403, {
      error: "HTTP Error",
      message: "Insufficient permissions. You can only update your own user data.",
      type: "HTTPException",
    });
    expect(await eventTypes(other.id)).toEqual(["USER_CREATED"]);
  });

  it("a user may not change another user's password, even knowing it: 403, nothing appended", async () => {
    const me = await userSession();
    const other = await createUser(admin.token);
    const res = await call("PUT", `/v1/users/${other.id}/password/`, {
      token: me.token,
      body: { current_password: PASSWORD, new_password: "taken-over-1" },
    });
    expectError(res, 403, { message: "Insufficient permissions. You can only update your own user data." });
    expect(await eventTypes(other.id)).toEqual(["USER_CREATED"]);
  });

  it("an admin may update another user", async () => {
    const other = await createUser(admin.token);
    const res = await call<CommandBody>("PUT", `/v1/users/${other.id}/`, {
      token: admin.token,
      body: { first_name: "ByAdmin" },
    });
    expect(res.status).toBe(200);
  });

  it("a user may not create users: 403 with the missing scope", async () => {
    const me = await userSession();
    const body = newUserBody();
    const res = await call("POST", "/v1/users/", { token: me.token, body });
    expectError(res, 403, {
      error: "HTTP Error",
      message: "Insufficient permissions. Required scope: user:create",
      type: "HTTPException",
    });
    // The username was not taken by the refused request.
    expect((await call("POST", "/v1/users/", { token: admin.token, body })).status).toBe(200);
  });

  it("a user may not delete another user nor itself: 403, nothing appended", async () => {
    const me = await userSession();
    const other = await createUser(admin.token);
    for (const id of [other.id, me.id]) {
      const res = await call("DELETE", `/v1/users/${id}/`, { token: me.token, body: { reason: "because" } });
      expectError(res, 403, {
        error: "HTTP Error",
        message: "Insufficient permissions. Required scope: user:delete",
        type: "HTTPException",
      });
    }
    expect(await eventTypes(other.id)).toEqual(["USER_CREATED"]);
    expect(await eventTypes(me.id)).toEqual(["USER_CREATED"]);
  });

  it("a user may read (user:read)", async () => {
    const me = await userSession();
    const res = await call<{ user: UserBody }>("GET", `/v1/users/${admin.id}/?consistency=strong`, { token: me.token });
    expect(res.status).toBe(200);
    expect(res.body.user.username).toBe(admin.username);
  });
});

describe("tokens die with their user's status", () => {
  it("a deleted user's token stops working at once: 401", async () => {
    const me = await userSession();
    expect((await call("GET", `/v1/users/${me.id}/?consistency=strong`, { token: me.token })).status).toBe(200);
    expect((await call("DELETE", `/v1/users/${me.id}/`, { token: admin.token })).status).toBe(200);
    const read = await call("GET", `/v1/users/${admin.id}/?consistency=strong`, { token: me.token });
    expectError(read, 401, { error: "HTTP Error", message: "User not found", type: "HTTPException" });
    const update = await call("PUT", `/v1/users/${me.id}/`, { token: me.token, body: { first_name: "Ghost" } });
    expectError(update, 401, { error: "HTTP Error" });
    expect(await eventTypes(me.id)).toEqual(["USER_CREATED", "USER_DELETED"]);
  });

  it("a suspended user's token stops working and stays dead after reactivation; a new login works", async () => {
    const me = await userSession();
    expect(
      (await call("POST", `/v1/users/${me.id}/suspend/`, { token: admin.token, body: { reason: "abuse" } })).status,
    ).toBe(200);
    const blocked = await call("PUT", `/v1/users/${me.id}/`, { token: me.token, body: { first_name: "Sneaky" } });
    expectError(blocked, 401, { error: "HTTP Error", type: "HTTPException" });
    expectError(await call("GET", "/v1/users/", { token: me.token }), 401, { error: "HTTP Error" });
    expect(await eventTypes(me.id)).toEqual(["USER_CREATED", "USER_SUSPENDED"]);

    expect((await call("POST", `/v1/users/${me.id}/reactivate/`, { token: admin.token })).status).toBe(200);
    const stale = await call("PUT", `/v1/users/${me.id}/`, { token: me.token, body: { first_name: "Back" } });
    expectError(stale, 401, { error: "HTTP Error", type: "HTTPException" });
    expect(await eventTypes(me.id)).toEqual(["USER_CREATED", "USER_SUSPENDED", "USER_REACTIVATED"]);

    const fresh = await login(me.username);
    const again = await call<CommandBody>("PUT", `/v1/users/${me.id}/`, { token: fresh, body: { first_name: "Back" } });
    expect(again.status).toBe(200);
    // created, login, suspended, reactivated, login, updated
    expect(again.body.revision).toBe(6);
  });

  it("a suspended admin loses admin powers too", async () => {
    const other = await adminSession();
    const victim = await createUser(admin.token);
    expect((await call("POST", `/v1/users/${other.id}/suspend/`, { token: admin.token })).status).toBe(200);
    expectError(await call("DELETE", `/v1/users/${victim.id}/`, { token: other.token }), 401, { error: "HTTP Error" });
    expect(await eventTypes(victim.id)).toEqual(["USER_CREATED"]);
  });
});

describe("login of users who may not log in", () => {
  it("a suspended user: 401 Incorrect username or password; after reactivation: 200", async () => {
    const user = await createUser(admin.token);
    expect((await call("POST", `/v1/users/${user.id}/suspend/`, { token: admin.token })).status).toBe(200);
    const res = await call("POST", "/v1/auth/login/", { body: { username: user.username, password: PASSWORD } });
    expectError(res, 401, INCORRECT);
    expect((await call("POST", `/v1/users/${user.id}/reactivate/`, { token: admin.token })).status).toBe(200);
    await login(user.username);
  });

  it("a deleted user: 401 Incorrect username or password", async () => {
    const user = await createUser(admin.token);
    expect((await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);
    const res = await call("POST", "/v1/auth/login/", { body: { username: user.username, password: PASSWORD } });
    expectError(res, 401, INCORRECT);
  });
});

describe("failed-login throttle", () => {
  it("5 failures answer 401, the 6th attempt 429 with Retry-After, even with the right password", async () => {
    const user = await createUser(admin.token);
    for (let i = 0; i < 5; i++) {
      const res = await call("POST", "/v1/auth/login/", {
        body: { username: user.username, password: `wrong-${i}-pass` },
      });
      expectError(res, 401, INCORRECT);
    }
    const sixth = await call("POST", "/v1/auth/login/", {
      body: { username: user.username, password: "wrong-6-pass" },
    });
    expectError(sixth, 429, { error: "Too Many Requests", type: "RateLimitExceeded" });
    const retryAfter = Number(sixth.headers.get("Retry-After"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);

    const correct = await call("POST", "/v1/auth/login/", { body: { username: user.username, password: PASSWORD } });
    expectError(correct, 429, { error: "Too Many Requests" });
    expect(correct.headers.get("Retry-After")).not.toBeNull();
  });

  it("is per user: another user still logs in", async () => {
    const locked = await createUser(admin.token);
    const free = await createUser(admin.token);
    for (let i = 0; i < 6; i++) {
      await call("POST", "/v1/auth/login/", { body: { username: locked.username, password: "nope-nope" } });
    }
    await login(free.username);
  });

  it("a success before the limit resets the count", async () => {
    const user = await createUser(admin.token);
    for (let i = 0; i < 4; i++) {
      expectError(
        await call("POST", "/v1/auth/login/", { body: { username: user.username, password: "nope-nope" } }),
        401,
        INCORRECT,
      );
    }
    await login(user.username);
    for (let i = 0; i < 4; i++) {
      expectError(
        await call("POST", "/v1/auth/login/", { body: { username: user.username, password: "nope-nope" } }),
        401,
        INCORRECT,
      );
    }
    await login(user.username);
  });
});

/**
 * API.md: wrong username or password → 401 "Incorrect username or password", no hint which part was
 * wrong. If only existing users' failures were throttled, the 6th wrong login would tell whether a
 * username exists (429) or not (401).
 */
async function sixWrongLogins(username: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    statuses.push((await call("POST", "/v1/auth/login/", { body: { username, password: `wrong-${i}` } })).status);
  }
  return statuses;
}

describe("login answers do not reveal which usernames exist", () => {
  it("an existing and an unknown username both answer 429 on the 6th wrong try", async () => {
    const user = await createUser(admin.token);
    const existing = await sixWrongLogins(user.username);
    const unknown = await sixWrongLogins(uniqueName("nobody"));

    expect(existing).toEqual([401, 401, 401, 401, 401, 429]);
    expect(unknown).toEqual(existing);
  });
});
