import { beforeAll, describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { PASSWORD, newUserBody, uniqueName } from "../support/builders";
import type { EventsPageBody } from "../support/types";
import { type CommandBody, type ListBody, type UserBody, UUID, eventTypes, expectError } from "../http/helpers";

/**
 * tests/system/api/routers/v1/test_users.py of the reference, endpoint by endpoint. Its tests run
 * on a fresh database with projections applied inside the request; here the store is shared by
 * every test and the read model follows within milliseconds, so counts are taken over names this
 * file made, and reads after a write wait for the read model (`expect.poll`), as a client uses
 * `?min_revision=` (see docs/migrating-from-reference.md).
 */

const NOT_AUTHENTICATED = { error: "HTTP Error", message: "Not authenticated", type: "HTTPException" };
const FORBIDDEN = { error: "HTTP Error", type: "HTTPException" };
const SOMEONE = "11111111-1111-1111-1111-111111111111";

let admin: { id: string; token: string; username: string };
let regular: { id: string; username: string; token: string };

beforeAll(async () => {
  admin = await adminSession();
  const user = await createUser(admin.token);
  regular = { ...user, token: await login(user.username) };
});

/** A user as the read model shows it, once it shows `revision` or later. */
async function readUser(id: string, revision: number, token = admin.token) {
  const res = await call<{ user: UserBody }>("GET", `/v1/users/${id}/?min_revision=${revision}`, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.user;
}

async function listed(query: string, expectedCount: number): Promise<ListBody> {
  let last: ListBody | undefined;
  await expect
    .poll(async () => {
      last = (await call<ListBody>("GET", `/v1/users/?${query}`, { token: admin.token })).body;
      return last.count;
    })
    .toBe(expectedCount);
  return last as ListBody;
}

describe("POST /v1/users/", () => {
  it("without a token: 401 Not authenticated (test_create_user_unauthorized_no_jwt)", async () => {
    expectError(await call("POST", "/v1/users/", { body: newUserBody() }), 401, NOT_AUTHENTICATED);
  });

  it("as a regular user: 403 Insufficient permissions (test_create_user_forbidden_regular_user)", async () => {
    const res = await call("POST", "/v1/users/", { token: regular.token, body: newUserBody() });
    const body = expectError(res, 403, FORBIDDEN);
    expect(body.message.toLowerCase()).toContain("insufficient permissions");
  });

  it("as an admin: 200 'User created successfully' with a UUID user_id (test_create_user_success)", async () => {
    const res = await call<CommandBody>("POST", "/v1/users/", { token: admin.token, body: newUserBody() });
    expect(res.status).toBe(200);
    expect(res.body.message).toBe("User created successfully");
    expect(res.body.user_id).toMatch(UUID);
  });

  it("a taken username: 409 Resource Conflict, details.username (test_create_user_duplicate_username)", async () => {
    const first = await createUser(admin.token);
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: { ...newUserBody(), username: first.username },
    });
    expectError(res, 409, {
      error: "Resource Conflict",
      message: `Username '${first.username}' already exists`,
      type: "UsernameAlreadyExistsError",
      details: { username: first.username },
    });
  });

  it("a taken email: 409 Resource Conflict, details.email (test_create_user_duplicate_email)", async () => {
    const first = await createUser(admin.token);
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: { ...newUserBody(), email: first.email },
    });
    expectError(res, 409, {
      error: "Resource Conflict",
      message: `Email '${first.email}' already exists`,
      type: "EmailAlreadyExistsError",
      details: { email: first.email },
    });
  });

  it("a username under 3 characters: 422 Validation Error with dict details (test_create_user_username_too_short)", async () => {
    const res = await call("POST", "/v1/users/", { token: admin.token, body: { ...newUserBody(), username: "ab" } });
    const body = expectError(res, 422, {
      error: "Validation Error",
      message: "Username must be at least 3 characters long",
      type: "UsernameTooShortError",
    });
    expect(body.details).toMatchObject({ username: "ab", min_length: 3 });
  });

  // test_create_user_invalid_data (missing email) and test_create_user_empty_password are in
  // request-validation.test.ts.
});

describe("GET /v1/users/", () => {
  it("without a token: 401 (test_list_users_unauthorized_no_jwt)", async () => {
    expectError(await call("GET", "/v1/users/"), 401, NOT_AUTHENTICATED);
  });

  it("a regular user may list: the page's shape (test_list_users_success_regular_user)", async () => {
    const res = await call<ListBody>("GET", "/v1/users/", { token: regular.token });
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body.results)).toBe(true);
    for (const key of ["count", "page", "page_size"] as const) expect(Number.isInteger(res.body[key])).toBe(true);
    expect(res.body).toHaveProperty("next");
    expect(res.body).toHaveProperty("previous");
  });

  it("three new users are listed, each with the user fields (test_list_users_success_admin)", async () => {
    const prefix = uniqueName("list");
    for (const n of [1, 2, 3]) await createUser(admin.token, newUserBody(`${prefix}u${n}`));
    const page = await listed(`username=${prefix}`, 3);
    expect(page.results.map((user) => user.username).sort()).toEqual([1, 2, 3].map((n) => `${prefix}u${n}`));
    for (const user of page.results) {
      for (const key of ["id", "username", "email", "first_name", "last_name", "created_at", "updated_at"]) {
        expect(user).toHaveProperty(key);
      }
    }
  });

  it("16 users in pages of 5: 5, 5, 5, 1, next and previous null only at the ends (test_list_users_pagination)", async () => {
    const prefix = uniqueName("page");
    for (let i = 0; i < 16; i += 1) {
      await createUser(admin.token, newUserBody(`${prefix}u${String(i).padStart(2, "0")}`));
    }
    await listed(`username=${prefix}`, 16);
    const pages: ListBody[] = [];
    for (const page of [1, 2, 3, 4]) {
      const res = await call<ListBody>("GET", `/v1/users/?page=${page}&page_size=5&username=${prefix}`, {
        token: admin.token,
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ page, page_size: 5, count: 16 });
      pages.push(res.body);
    }
    expect(pages.map((page) => page.results.length)).toEqual([5, 5, 5, 1]);
    expect(pages.map((page) => page.next === null)).toEqual([false, false, false, true]);
    expect(pages.map((page) => page.previous === null)).toEqual([true, false, false, false]);
    expect(pages[0]?.next).toBe(`/users/?page=2&page_size=5&username=${prefix}`);
    const names = pages.flatMap((page) => page.results.map((user) => user.username));
    expect(new Set(names).size).toBe(16);
  });

  it("a username filter matches substrings only (test_list_users_filtering)", async () => {
    const prefix = uniqueName("flt");
    await createUser(admin.token, newUserBody(`${prefix}filteruser1`));
    await createUser(admin.token, newUserBody(`${prefix}filteruser2`));
    await createUser(admin.token, newUserBody(`${prefix}otheruser`));
    const page = await listed(`username=${prefix}filteruser`, 2);
    expect(page.results.map((user) => user.username).sort()).toEqual([`${prefix}filteruser1`, `${prefix}filteruser2`]);
  });
});

describe("GET /v1/users/{id}/", () => {
  it("without a token: 401 (test_get_user_unauthorized_no_jwt)", async () => {
    expectError(await call("GET", `/v1/users/${SOMEONE}/`), 401, NOT_AUTHENTICATED);
  });

  it("a regular user reads another user (test_get_user_success_regular_user)", async () => {
    const other = await createUser(admin.token);
    const user = await readUser(other.id, 1, regular.token);
    expect(user).toMatchObject({ username: other.username, email: other.email, first_name: "First" });
  });

  it("an admin reads a user: strings for every field, its own id (test_get_user_success)", async () => {
    const created = await createUser(admin.token);
    const user = await readUser(created.id, 1);
    expect(user.id).toBe(created.id);
    for (const key of ["id", "username", "email", "first_name", "last_name", "created_at", "updated_at"] as const) {
      expect(typeof user[key]).toBe("string");
    }
  });

  // test_get_user_not_found is in ids.test.ts.
});

describe("PUT /v1/users/{id}/", () => {
  it("without a token: 401 (test_update_user_unauthorized_no_jwt)", async () => {
    const res = await call("PUT", `/v1/users/${SOMEONE}/`, { body: { first_name: "Updated", last_name: "Name" } });
    expectError(res, 401, NOT_AUTHENTICATED);
  });

  it("a regular user on someone else: 403 'only update your own user data', nothing appended (test_update_user_forbidden_regular_user, test_regular_user_cannot_update_other_user_data)", async () => {
    const other = await createUser(admin.token);
    const res = await call("PUT", `/v1/users/${other.id}/`, {
      token: regular.token,
      body: { first_name: "Updated", last_name: "Name" },
    });
    expectError(res, 403, {
      ...FORBIDDEN,
      message: "Insufficient permissions. You can only update your own user data.",
    });
    expect(await eventTypes(other.id)).toEqual(["USER_CREATED"]);
  });

  it("a regular user on their own data: 200 (test_update_user_regular_user_own_data_success, test_regular_user_update_own_data_success)", async () => {
    const own = await createUser(admin.token);
    const token = await login(own.username);
    const res = await call("PUT", `/v1/users/${own.id}/`, { token, body: { first_name: "MyOwn", last_name: "Data" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ message: "User updated successfully" });
  });

  it("an admin on any user, seen by the next read (test_update_user_admin_can_update_any_user, test_admin_update_any_user_success, test_admin_update_own_data_success)", async () => {
    const other = await createUser(admin.token);
    const res = await call<CommandBody>("PUT", `/v1/users/${other.id}/`, {
      token: admin.token,
      body: { first_name: "Admin", last_name: "Updated" },
    });
    expect(res.status).toBe(200);
    expect(res.body.message).toBe("User updated successfully");
    expect(await readUser(other.id, res.body.revision)).toMatchObject({ first_name: "Admin", last_name: "Updated" });
  });

  it("names and email change, the username stays (test_update_user_success)", async () => {
    const user = await createUser(admin.token);
    const email = `${uniqueName("updated")}@example.com`;
    const res = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Updated", last_name: "Name", email },
    });
    expect(res.status).toBe(200);
    const read = await readUser(user.id, res.body.revision);
    expect(read).toMatchObject({ first_name: "Updated", last_name: "Name", email, username: user.username });
  });

  // test_update_user_not_found is in ids.test.ts, test_update_user_invalid_data in
  // request-validation.test.ts.
});

describe("PUT /v1/users/{id}/password/", () => {
  const change = { current_password: PASSWORD, new_password: "newpassword456" };

  it("without a token: 401 (test_change_password_unauthorized_no_jwt)", async () => {
    expectError(await call("PUT", `/v1/users/${SOMEONE}/password/`, { body: change }), 401, NOT_AUTHENTICATED);
  });

  it("a regular user on someone else: 403, nothing appended (test_change_password_forbidden_regular_user)", async () => {
    const other = await createUser(admin.token);
    const res = await call("PUT", `/v1/users/${other.id}/password/`, { token: regular.token, body: change });
    const body = expectError(res, 403, FORBIDDEN);
    expect(body.message.toLowerCase()).toContain("insufficient permissions");
    expect(await eventTypes(other.id)).toEqual(["USER_CREATED"]);
  });

  it("an admin with the current password: 200, the user otherwise unchanged (test_change_password_success)", async () => {
    const user = await createUser(admin.token);
    const res = await call<CommandBody>("PUT", `/v1/users/${user.id}/password/`, { token: admin.token, body: change });
    expect(res.status).toBe(200);
    expect(res.body.message).toBe("Password changed successfully");
    const read = await readUser(user.id, res.body.revision);
    expect(read).toMatchObject({ username: user.username, email: user.email, first_name: "First", last_name: "Last" });
    expect(read).toHaveProperty("created_at");
    expect(read).toHaveProperty("updated_at");
  });

  // test_change_password_not_found is in ids.test.ts.
});

describe("DELETE /v1/users/{id}/", () => {
  it("without a token: 401 (test_delete_user_unauthorized_no_jwt)", async () => {
    expectError(await call("DELETE", `/v1/users/${SOMEONE}/`), 401, NOT_AUTHENTICATED);
  });

  it("as a regular user: 403 (test_delete_user_forbidden_regular_user)", async () => {
    const res = await call("DELETE", `/v1/users/${SOMEONE}/`, { token: regular.token });
    const body = expectError(res, 403, FORBIDDEN);
    expect(body.message.toLowerCase()).toContain("insufficient permissions");
  });

  it("as an admin: 200, then GET answers 404 HTTP Error (test_delete_user_success)", async () => {
    const user = await createUser(admin.token);
    const res = await call<CommandBody>("DELETE", `/v1/users/${user.id}/`, { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.body.message).toBe("User deleted successfully");
    await expect
      .poll(async () => (await call("GET", `/v1/users/${user.id}/`, { token: admin.token })).status)
      .toBe(404);
    expectError(await call("GET", `/v1/users/${user.id}/`, { token: admin.token }), 404, {
      error: "HTTP Error",
      type: "HTTPException",
    });
  });

  it("twice: 422 Business Rule Violation in the reference's words", async () => {
    const user = await createUser(admin.token);
    expect((await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);
    const again = await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token });
    expectError(again, 422, {
      error: "Business Rule Violation",
      message: `User ${user.id} is already deleted`,
      type: "UserAlreadyDeletedError",
      details: { rule: "user_already_deleted", user_id: user.id },
    });
  });

  // test_delete_user_not_found is in ids.test.ts.
});

describe("GET /v1/users/{id}/history/", () => {
  /** The stored times of a user's events, oldest first. */
  async function eventTimes(id: string): Promise<string[]> {
    const res = await call<EventsPageBody>("GET", `/v1/users/${id}/events/`, { token: admin.token });
    return res.body.results.map((event) => event.timestamp);
  }

  it("a regular user reads any user as it was; created_at is the creation's time (test_user_history_success_regular_user, …_other_user, test_get_user_history_success)", async () => {
    const user = await createUser(admin.token);
    const [createdAt = ""] = await eventTimes(user.id);
    const res = await call<UserBody>("GET", `/v1/users/${user.id}/history/?timestamp=${createdAt}`, {
      token: regular.token,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: user.id,
      username: user.username,
      email: user.email,
      first_name: "First",
      last_name: "Last",
      created_at: createdAt,
    });
  });

  it("before and after an update, and before creation: 404 HTTP Error (test_user_history_at_different_timestamps)", async () => {
    const user = await createUser(admin.token);
    const [createdAt = ""] = await eventTimes(user.id);
    // The update must carry a later millisecond than the creation for the instants to differ.
    await vi.waitUntil(() => Date.now() > Date.parse(createdAt) + 1);
    const email = `${uniqueName("historical")}@example.com`;
    const update = await call("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Updated", email },
    });
    expect(update.status).toBe(200);
    const [, updatedAt = ""] = await eventTimes(user.id);
    expect(Date.parse(updatedAt)).toBeGreaterThan(Date.parse(createdAt));

    const at = (instant: string) =>
      call<UserBody>("GET", `/v1/users/${user.id}/history/?timestamp=${encodeURIComponent(instant)}`, {
        token: admin.token,
      });
    const before = await at(createdAt);
    expect(before.body).toMatchObject({ first_name: "First", email: user.email });
    const after = await at(updatedAt);
    expect(after.body).toMatchObject({ first_name: "Updated", email });
    // A naive timestamp is UTC, as in the reference's queries.
    const naive = await at(updatedAt.replace("Z", ""));
    expect(naive.body).toMatchObject({ first_name: "Updated" });
    const earlier = new Date(Date.parse(createdAt) - 60_000).toISOString();
    expectError(await at(earlier), 404, {
      error: "HTTP Error",
      message: "User not found at specified time",
      type: "HTTPException",
    });
  });
});
