import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { type CommandBody, type UserBody, UUID, eventTypes, expectError, streamOf } from "./helpers";
import { PASSWORD, newUserBody } from "../support/builders";

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

async function strongRead(id: string) {
  return call<{ user: UserBody }>("GET", `/v1/users/${id}/?consistency=strong`, { token: admin.token });
}

/** Asserts a command's 200: the contract's message, a revision, and the matching ETag. */
function expectCommand(
  res: { status: number; headers: Headers; body: CommandBody },
  message: string,
  revision: number,
) {
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body).toMatchObject({ message, revision });
  expect(res.headers.get("ETag")).toBe(`"${revision}"`);
}

describe.each([
  ["with", "/"],
  ["without", ""],
])("every command, paths %s trailing slash", (_label, slash) => {
  it("create → update → password → suspend → reactivate → delete, each with ETag and revision", async () => {
    const body = newUserBody();
    const created = await call<CommandBody>("POST", `/v1/users${slash}`, { token: admin.token, body });
    expectCommand(created, "User created successfully", 1);
    expect(created.body.user_id).toMatch(UUID);
    expect(Object.keys(created.body).sort()).toEqual(["message", "revision", "user_id"]);
    const id = created.body.user_id ?? "";
    const userToken = await login(body.username);

    const updated = await call<CommandBody>("PUT", `/v1/users/${id}${slash}`, {
      token: userToken,
      body: { first_name: "Ada", email: `ada.${body.username}@Example.ORG` },
    });
    // Revision 2 is the login.
    expectCommand(updated, "User updated successfully", 3);
    expect(updated.body).not.toHaveProperty("user_id");
    const afterUpdate = await strongRead(id);
    expect(afterUpdate.body.user).toMatchObject({
      first_name: "Ada",
      last_name: "Last",
      email: `ada.${body.username}@example.org`,
      revision: 3,
    });

    const newPassword = "brand-new-pass-2";
    const changed = await call<CommandBody>("PUT", `/v1/users/${id}/password${slash}`, {
      token: userToken,
      body: { current_password: PASSWORD, new_password: newPassword },
    });
    expectCommand(changed, "Password changed successfully", 4);
    expectError(await call("POST", "/v1/auth/login/", { body: { username: body.username, password: PASSWORD } }), 401, {
      message: "Incorrect username or password",
    });
    await login(body.username, newPassword);

    const suspended = await call<CommandBody>("POST", `/v1/users/${id}/suspend${slash}`, {
      token: admin.token,
      body: { reason: "chargeback" },
    });
    expectCommand(suspended, "User suspended successfully", 6);
    expect((await strongRead(id)).body.user.status).toBe("suspended");

    const reactivated = await call<CommandBody>("POST", `/v1/users/${id}/reactivate${slash}`, {
      token: admin.token,
      body: { reason: "resolved" },
    });
    expectCommand(reactivated, "User reactivated successfully", 7);
    expect((await strongRead(id)).body.user.status).toBe("active");

    const deleted = await call<CommandBody>("DELETE", `/v1/users/${id}${slash}`, {
      token: admin.token,
      body: { reason: "asked to leave" },
    });
    expectCommand(deleted, "User deleted successfully", 8);
    expectError(await strongRead(id), 404, { error: "HTTP Error", message: "User not found", type: "HTTPException" });

    const events = await streamOf(id);
    expect(events.map((e) => [e.revision, e.event_type])).toEqual([
      [1, "USER_CREATED"],
      [2, "USER_LOGGED_IN"],
      [3, "USER_UPDATED"],
      [4, "PASSWORD_CHANGED"],
      [5, "USER_LOGGED_IN"],
      [6, "USER_SUSPENDED"],
      [7, "USER_REACTIVATED"],
      [8, "USER_DELETED"],
    ]);
    expect(events.map((e) => e.metadata.reason)).toEqual([
      null,
      null,
      null,
      null,
      null,
      "chargeback",
      "resolved",
      "asked to leave",
    ]);
    expect(events.map((e) => e.metadata.actor_id)).toEqual([admin.id, id, id, id, id, admin.id, admin.id, admin.id]);
  });
});

describe("create", () => {
  it("stores the user as given, email domain normalised", async () => {
    const body = { ...newUserBody(), email: "  Grace.Hopper@NAVY.Example.COM " };
    const res = await call<CommandBody>("POST", "/v1/users/", { token: admin.token, body });
    expectCommand(res, "User created successfully", 1);
    const read = await strongRead(res.body.user_id ?? "");
    expect(read.body.user).toMatchObject({
      id: res.body.user_id,
      username: body.username,
      email: "Grace.Hopper@navy.example.com",
      first_name: "First",
      last_name: "Last",
      role: "user",
      status: "active",
      revision: 1,
    });
  });

  it("rejects a password shorter than the minimum with 422 Validation Error", async () => {
    const res = await call("POST", "/v1/users/", { token: admin.token, body: { ...newUserBody(), password: "short" } });
    expectError(res, 422, {
      error: "Validation Error",
      type: "PasswordTooShortError",
      details: { field: "password", min_length: 8 },
    });
  });

  it("rejects a too-short username with the reference's details", async () => {
    const res = await call("POST", "/v1/users/", { token: admin.token, body: { ...newUserBody(), username: "ab" } });
    expectError(res, 422, { error: "Validation Error", details: { field: "username", username: "ab", min_length: 3 } });
  });
});

describe("update", () => {
  it("with no non-empty field: 422 and nothing appended", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const res = await call("PUT", `/v1/users/${user.id}/`, { token, body: { first_name: "" } });
    expectError(res, 422, {
      error: "Validation Error",
      message: "No fields provided for update",
      type: "NoFieldsToUpdateError",
    });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("of a missing user: 404 Resource Not Found", async () => {
    const missing = crypto.randomUUID();
    const res = await call("PUT", `/v1/users/${missing}/`, { token: admin.token, body: { first_name: "X" } });
    expectError(res, 404, {
      error: "Resource Not Found",
      message: `User ${missing} not found`,
      type: "UserNotFoundError",
    });
    expect(await streamOf(missing)).toEqual([]);
  });

  it("of a deleted user: 422 Business Rule Violation and nothing appended", async () => {
    const user = await createUser(admin.token);
    expect((await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);
    const res = await call("PUT", `/v1/users/${user.id}/`, { token: admin.token, body: { first_name: "Zombie" } });
    expectError(res, 422, {
      error: "Business Rule Violation",
      message: `Cannot update deleted user: ${user.id}`,
      type: "CannotUpdateDeletedUserError",
      details: { rule: "user_update_deleted", user_id: user.id },
    });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_DELETED"]);
  });
});

describe("password change", () => {
  it("an admin must give the user's current password too: wrong → 401 Authentication Error, nothing appended", async () => {
    const user = await createUser(admin.token);
    const res = await call("PUT", `/v1/users/${user.id}/password/`, {
      token: admin.token,
      body: { current_password: "not-the-password", new_password: "admin-chosen-1" },
    });
    expectError(res, 401, {
      error: "Authentication Error",
      message: "Password is incorrect for password change",
      type: "IncorrectPasswordError",
    });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
    await login(user.username, PASSWORD);
  });

  it("an admin with the right current password succeeds", async () => {
    const user = await createUser(admin.token);
    const res = await call<CommandBody>("PUT", `/v1/users/${user.id}/password/`, {
      token: admin.token,
      body: { current_password: PASSWORD, new_password: "admin-chosen-1" },
    });
    expectCommand(res, "Password changed successfully", 2);
    await login(user.username, "admin-chosen-1");
  });

  it("the user with a wrong current password: 401, nothing appended", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const res = await call("PUT", `/v1/users/${user.id}/password`, {
      token,
      body: { current_password: "guessing-123", new_password: "whatever-123" },
    });
    expectError(res, 401, { error: "Authentication Error", type: "IncorrectPasswordError" });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("new password equal to the current one: 422, nothing appended", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const res = await call("PUT", `/v1/users/${user.id}/password/`, {
      token,
      body: { current_password: PASSWORD, new_password: PASSWORD },
    });
    expectError(res, 422, {
      error: "Validation Error",
      message: "New password must be different from current password",
      type: "PasswordMustBeDifferentError",
      details: { field: "new_password" },
    });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("on a deleted user the current password is checked first (401), then the deleted rule (422)", async () => {
    const user = await createUser(admin.token);
    expect((await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);
    const wrong = await call("PUT", `/v1/users/${user.id}/password/`, {
      token: admin.token,
      body: { current_password: "not-the-password", new_password: "whatever-123" },
    });
    expectError(wrong, 401, { error: "Authentication Error", type: "IncorrectPasswordError" });
    const right = await call("PUT", `/v1/users/${user.id}/password/`, {
      token: admin.token,
      body: { current_password: PASSWORD, new_password: "whatever-123" },
    });
    expectError(right, 422, {
      error: "Business Rule Violation",
      details: { rule: "password_change_deleted", user_id: user.id },
    });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_DELETED"]);
  });

  it("an empty new password: 422, nothing appended", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const res = await call("PUT", `/v1/users/${user.id}/password/`, {
      token,
      body: { current_password: PASSWORD, new_password: "" },
    });
    expectError(res, 422, { error: "Validation Error", details: { field: "new_password" } });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });
});

describe("delete", () => {
  it("without a body works, and a second delete is a 422 with nothing appended", async () => {
    const user = await createUser(admin.token);
    const first = await call<CommandBody>("DELETE", `/v1/users/${user.id}/`, { token: admin.token });
    expectCommand(first, "User deleted successfully", 2);
    const again = await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token });
    expectError(again, 422, {
      error: "Business Rule Violation",
      details: { rule: "user_already_deleted", user_id: user.id },
    });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_DELETED"]);
  });

  it("records who deleted the user, when and why", async () => {
    const user = await createUser(admin.token);
    const res = await call<CommandBody>("DELETE", `/v1/users/${user.id}`, {
      token: admin.token,
      body: { reason: "GDPR request #42" },
    });
    expectCommand(res, "User deleted successfully", 2);
    const last = (await streamOf(user.id)).at(-1);
    expect(last).toMatchObject({
      event_type: "USER_DELETED",
      revision: 2,
      metadata: { actor_id: admin.id, actor_username: admin.username, reason: "GDPR request #42" },
    });
  });
});

describe("suspend and reactivate", () => {
  it("suspending twice is a 422 and reactivating an active user is a 422; nothing appended", async () => {
    const user = await createUser(admin.token);
    expectError(await call("POST", `/v1/users/${user.id}/reactivate/`, { token: admin.token }), 422, {
      error: "Business Rule Violation",
      details: { rule: "user_not_suspended", user_id: user.id },
    });
    expectCommand(
      await call<CommandBody>("POST", `/v1/users/${user.id}/suspend/`, { token: admin.token }),
      "User suspended successfully",
      2,
    );
    expectError(await call("POST", `/v1/users/${user.id}/suspend/`, { token: admin.token }), 422, {
      error: "Business Rule Violation",
      details: { rule: "user_already_suspended", user_id: user.id },
    });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_SUSPENDED"]);
  });

  it("are admin only: a user gets 403 and nothing is appended", async () => {
    const victim = await createUser(admin.token);
    const actor = await createUser(admin.token);
    const token = await login(actor.username);
    for (const action of ["suspend", "reactivate"]) {
      const res = await call("POST", `/v1/users/${victim.id}/${action}/`, { token, body: { reason: "mine" } });
      expectError(res, 403, {
        error: "HTTP Error",
        message: "Insufficient permissions. Required scope: user:delete",
        type: "HTTPException",
      });
    }
    const self = await call("POST", `/v1/users/${actor.id}/suspend/`, { token });
    expectError(self, 403, { error: "HTTP Error" });
    expect(await eventTypes(victim.id)).toEqual(["USER_CREATED"]);
    expect(await eventTypes(actor.id)).toEqual(["USER_CREATED"]);
  });
});

describe("X-Request-Id", () => {
  it("is echoed when sent, and recorded in the event's metadata", async () => {
    const requestId = "client-req.0001:abc";
    const res = await call<CommandBody>("POST", "/v1/users/", {
      token: admin.token,
      body: newUserBody(),
      headers: { "X-Request-Id": requestId },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Request-Id")).toBe(requestId);
    const [created] = await streamOf(res.body.user_id ?? "");
    expect(created?.metadata.request_id).toBe(requestId);
  });

  it("is generated when not sent, different per request", async () => {
    const a = await call("GET", "/ht/");
    const b = await call("GET", "/ht/");
    const first = a.headers.get("X-Request-Id");
    const second = b.headers.get("X-Request-Id");
    expect(first).toMatch(UUID);
    expect(second).toMatch(UUID);
    expect(first).not.toBe(second);
  });

  it("is on error responses too", async () => {
    const res = await call("GET", "/v1/users/", { headers: { "X-Request-Id": "trace-401" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("X-Request-Id")).toBe("trace-401");
    const missing = await call("GET", "/no/such/route");
    expectError(missing, 404, { error: "HTTP Error", message: "Not Found" });
    expect(missing.headers.get("X-Request-Id")).toMatch(UUID);
  });

  it("is on a response the route passes on rather than builds: a live socket's upgrade", async () => {
    const user = await createUser(admin.token);
    const res = await exports.default.fetch(`http://localhost/v1/users/${user.id}/events/live`, {
      headers: { Upgrade: "websocket", Authorization: `Bearer ${admin.token}`, "X-Request-Id": "trace-socket" },
    });
    expect(res.status).toBe(101);
    expect(res.headers.get("X-Request-Id")).toBe("trace-socket");
    res.webSocket!.accept();
    res.webSocket!.close(1000);
  });

  it("an unusable one (spaces, too long) is replaced by a generated id", async () => {
    const spaced = await call("GET", "/ht/", { headers: { "X-Request-Id": "has spaces <script>" } });
    expect(spaced.headers.get("X-Request-Id")).toMatch(UUID);
    const long = await call("GET", "/ht/", { headers: { "X-Request-Id": "a".repeat(200) } });
    expect(long.headers.get("X-Request-Id")).toMatch(UUID);
  });
});

describe("concurrent commands over HTTP", () => {
  it("50 concurrent updates to one user are all answered 200, with revisions 2..51 and none lost", async () => {
    const user = await createUser(admin.token);

    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call<CommandBody>("PUT", `/v1/users/${user.id}/`, { token: admin.token, body: { first_name: `name-${i}` } }),
      ),
    );

    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    const revisions = responses.map((r) => r.body.revision).sort((a, b) => a - b);
    expect(revisions).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    const stream = await env.USER_STREAM.getByName(user.id).readStream(1, 100);
    expect(stream.map((e) => e.revision)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    const names = stream
      .slice(1)
      .map((e) => (e.event_type === "USER_UPDATED" ? e.data.first_name : undefined))
      .sort();
    expect(names).toEqual(Array.from({ length: 50 }, (_, i) => `name-${i}`).sort());
  });
});
