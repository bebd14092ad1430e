import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { type CommandBody, type UserBody, eventTypes, expectError } from "./helpers";
import { PASSWORD } from "../support/builders";

const BAD_REQUEST = {
  error: "Bad Request",
  message: "Invalid content type or malformed request body",
  type: "ContentTypeError",
};

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

describe("If-Match", () => {
  it("a matching revision applies the change: 200 with the next ETag", async () => {
    const user = await createUser(admin.token);
    expect(user.revision).toBe(1);
    const res = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Matched" },
      headers: { "If-Match": '"1"' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: "User updated successfully", revision: 2 });
    expect(res.headers.get("ETag")).toBe('"2"');
  });

  it("the ETag of one response is the If-Match of the next (weak and unquoted forms too)", async () => {
    const user = await createUser(admin.token);
    const first = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "One" },
      headers: { "If-Match": '"1"' },
    });
    const etag = first.headers.get("ETag") ?? "";
    const second = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Two" },
      headers: { "If-Match": etag },
    });
    expect(second.status).toBe(200);
    const third = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Three" },
      headers: { "If-Match": 'W/"3"' },
    });
    expect(third.status).toBe(200);
    const fourth = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Four" },
      headers: { "If-Match": "4" },
    });
    expect(fourth.status).toBe(200);
    expect(fourth.body.revision).toBe(5);
  });

  it("a stale revision on update: 412 with details.current_revision, nothing appended", async () => {
    const user = await createUser(admin.token);
    expect(
      (await call("PUT", `/v1/users/${user.id}/`, { token: admin.token, body: { first_name: "Newer" } })).status,
    ).toBe(200);
    const res = await call("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Lost update" },
      headers: { "If-Match": '"1"' },
    });
    expectError(res, 412, {
      error: "Precondition Failed",
      type: "RevisionMismatch",
      details: { current_revision: 2 },
    });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_UPDATED"]);
    const read = await call<{ user: UserBody }>("GET", `/v1/users/${user.id}/?consistency=strong`, {
      token: admin.token,
    });
    expect(read.body.user.first_name).toBe("Newer");
  });

  it("a revision ahead of the stream is stale too", async () => {
    const user = await createUser(admin.token);
    const res = await call("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Future" },
      headers: { "If-Match": '"7"' },
    });
    expectError(res, 412, { error: "Precondition Failed", details: { current_revision: 1 } });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("a stale revision on delete: 412, the user is not deleted", async () => {
    const user = await createUser(admin.token);
    expect(
      (await call("PUT", `/v1/users/${user.id}/`, { token: admin.token, body: { last_name: "Moved" } })).status,
    ).toBe(200);
    const res = await call("DELETE", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { reason: "stale view" },
      headers: { "If-Match": '"1"' },
    });
    expectError(res, 412, { error: "Precondition Failed", details: { current_revision: 2 } });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_UPDATED"]);
    await login(user.username);
  });

  it("a stale revision on password change: 412, the old password still works", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    expect((await call("PUT", `/v1/users/${user.id}/`, { token, body: { first_name: "Bump" } })).status).toBe(200);
    const res = await call("PUT", `/v1/users/${user.id}/password/`, {
      token,
      body: { current_password: PASSWORD, new_password: "another-pass-1" },
      headers: { "If-Match": '"1"' },
    });
    // created, login, update
    expectError(res, 412, { error: "Precondition Failed", details: { current_revision: 3 } });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_UPDATED"]);
    await login(user.username, PASSWORD);
  });

  it.each(["abc", "1.5", '"-1"', '"one"', 'W/""'])(
    "a malformed If-Match %j: 400, nothing appended",
    async (ifMatch) => {
      const user = await createUser(admin.token);
      const res = await call("PUT", `/v1/users/${user.id}/`, {
        token: admin.token,
        body: { first_name: "Malformed" },
        headers: { "If-Match": ifMatch },
      });
      expectError(res, 400, BAD_REQUEST);
      expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
    },
  );

  it("without If-Match the last writer wins", async () => {
    const user = await createUser(admin.token);
    const a = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "A" },
    });
    const b = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "B" },
    });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.body.revision, b.body.revision]).toEqual([2, 3]);
  });

  it("two concurrent writers with the same If-Match: exactly one wins, the other gets 412", async () => {
    const user = await createUser(admin.token);
    const results = await Promise.all(
      ["Left", "Right"].map((first_name) =>
        call("PUT", `/v1/users/${user.id}/`, {
          token: admin.token,
          body: { first_name },
          headers: { "If-Match": '"1"' },
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
    const loser = results.find((r) => r.status === 412);
    if (loser) expectError(loser, 412, { error: "Precondition Failed", details: { current_revision: 2 } });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_UPDATED"]);
  });
});
