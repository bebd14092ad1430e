import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { type CommandBody, eventTypes, expectError } from "./helpers";
import { newUserBody, uniqueName } from "../support/builders";

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

describe("uniqueness over HTTP", () => {
  it("a taken username, in another case: 409 Resource Conflict with details.username", async () => {
    const name = uniqueName("dup");
    await createUser(admin.token, newUserBody(name));
    const upper = name.toUpperCase();
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: { ...newUserBody(upper), email: `${uniqueName()}@example.com` },
    });
    expectError(res, 409, {
      error: "Resource Conflict",
      message: `Username '${upper}' already exists`,
      type: "UsernameAlreadyExistsError",
      details: { username: upper },
    });
  });

  it("a taken email, in another case: 409 with details.email", async () => {
    const taken = await createUser(admin.token);
    const shouted = taken.email.toUpperCase();
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: { ...newUserBody(), email: shouted },
    });
    const body = expectError(res, 409, { error: "Resource Conflict", type: "EmailAlreadyExistsError" });
    // The email is reported as stored: domain lower-cased, local part as given.
    const [local] = shouted.split("@");
    expect(body.details).toEqual({ email: `${local}@example.com` });
  });

  it("an email change to another user's email (any case): 409, nothing appended", async () => {
    const taken = await createUser(admin.token);
    const me = await createUser(admin.token);
    const token = await login(me.username);
    const res = await call("PUT", `/v1/users/${me.id}/`, { token, body: { email: ` ${taken.email.toUpperCase()} ` } });
    expectError(res, 409, { error: "Resource Conflict", type: "EmailAlreadyExistsError" });
    expect(Object.keys((res.body as { details: object }).details)).toEqual(["email"]);
    expect(await eventTypes(me.id)).toEqual(["USER_CREATED"]);
  });

  it("changing one's own email to a different case of itself is not a conflict", async () => {
    const me = await createUser(admin.token);
    const token = await login(me.username);
    const [local] = me.email.split("@");
    const res = await call<CommandBody>("PUT", `/v1/users/${me.id}/`, {
      token,
      body: { email: `${local?.toUpperCase()}@example.com` },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it("a freed email can be taken by someone else after an email change", async () => {
    const me = await createUser(admin.token);
    const token = await login(me.username);
    expect(
      (await call("PUT", `/v1/users/${me.id}/`, { token, body: { email: `${uniqueName()}@example.com` } })).status,
    ).toBe(200);
    const res = await call("POST", "/v1/users/", { token: admin.token, body: { ...newUserBody(), email: me.email } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it("a deleted user's username and email are free again", async () => {
    const gone = await createUser(admin.token);
    expect((await call("DELETE", `/v1/users/${gone.id}/`, { token: admin.token })).status).toBe(200);
    const res = await call<CommandBody>("POST", "/v1/users/", {
      token: admin.token,
      body: { ...newUserBody(gone.username), email: gone.email },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.user_id).not.toBe(gone.id);
  });

  it("two concurrent creates of one username: exactly one wins", async () => {
    const name = uniqueName("race");
    const results = await Promise.all(
      [name, name.toUpperCase(), `${name[0]?.toUpperCase()}${name.slice(1)}`].map((username) =>
        call<CommandBody>("POST", "/v1/users/", {
          token: admin.token,
          body: { ...newUserBody(username), email: `${uniqueName()}@example.com` },
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    for (const loser of results.filter((r) => r.status === 409)) {
      expectError(loser, 409, { error: "Resource Conflict", type: "UsernameAlreadyExistsError" });
    }
  });
});
