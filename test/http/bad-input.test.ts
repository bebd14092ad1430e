import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import {
  type CommandBody,
  type ErrorBody,
  type UserBody,
  type ValidationIssue,
  craftToken,
  eventTypes,
  expectError,
  nowSeconds,
  streamOf,
} from "./helpers";
import { newUserBody, uniqueName } from "../support/builders";

const BAD_REQUEST = {
  error: "Bad Request",
  message: "Invalid content type or malformed request body",
  type: "ContentTypeError",
};
const NOT_AUTHENTICATED = { error: "HTTP Error", message: "Not authenticated", type: "HTTPException" };
const BAD_CREDENTIALS = { error: "HTTP Error", message: "Could not validate credentials", type: "HTTPException" };

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

/** A fresh user with its own token: the target whose stream must stay untouched. */
async function target() {
  const user = await createUser(admin.token);
  return { ...user, token: await login(user.username) };
}

function validationIssues(body: ErrorBody): ValidationIssue[] {
  expect(Array.isArray(body.details)).toBe(true);
  const issues = body.details as ValidationIssue[];
  for (const issue of issues) {
    expect(Array.isArray(issue.loc)).toBe(true);
    expect(typeof issue.msg).toBe("string");
    expect(typeof issue.type).toBe("string");
  }
  return issues;
}

const REQUEST_VALIDATION = {
  error: "Request Validation Error",
  message: "Request validation failed",
  type: "RequestValidationError",
};

describe("malformed JSON: 422 json_invalid, as the reference", () => {
  it("on create, and creates nobody", async () => {
    const name = uniqueName();
    const raw = `{"username": "${name}", "email": "${name}@example.com", `; // cut off
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      raw,
      headers: { "Content-Type": "application/json" },
    });
    const issues = validationIssues(expectError(res, 422, REQUEST_VALIDATION));
    expect(issues).toEqual([expect.objectContaining({ type: "json_invalid", msg: "JSON decode error" })]);
    // The username is still free: nothing was created under it.
    const created = await call<CommandBody>("POST", "/v1/users/", { token: admin.token, body: newUserBody(name) });
    expect(created.status).toBe(200);
  });

  it("on update, and appends nothing", async () => {
    const user = await target();
    const res = await call("PUT", `/v1/users/${user.id}/`, {
      token: user.token,
      raw: "{first_name: unquoted}",
      headers: { "Content-Type": "application/json" },
    });
    const issues = validationIssues(expectError(res, 422, REQUEST_VALIDATION));
    expect(issues).toEqual([{ loc: ["body", 1], msg: "JSON decode error", type: "json_invalid" }]);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("on login", async () => {
    const res = await call("POST", "/v1/auth/login/", { raw: "{", headers: { "Content-Type": "application/json" } });
    validationIssues(expectError(res, 422, REQUEST_VALIDATION));
  });
});

describe("bodies of another content type: 422 model_attributes_type, as the reference", () => {
  // fetch labels a string body text/plain when no Content-Type is given.
  it.each([
    ["a string without Content-Type (text/plain)", {}],
    ["text/plain", { "Content-Type": "text/plain" }],
    ["form-encoded", { "Content-Type": "application/x-www-form-urlencoded" }],
    ["another +json type", { "Content-Type": "application/json-patch+json" }],
    ["another charset", { "Content-Type": "application/json; charset=utf-16" }],
  ])("create with %s: 422, nothing created", async (_label, headers: Record<string, string>) => {
    const body = newUserBody();
    const res = await call("POST", "/v1/users/", { token: admin.token, raw: JSON.stringify(body), headers });
    const issues = validationIssues(expectError(res, 422, REQUEST_VALIDATION));
    expect(issues).toEqual([expect.objectContaining({ loc: ["body"], type: "model_attributes_type" })]);
    expect((await call("POST", "/v1/users/", { token: admin.token, body })).status).toBe(200);
  });

  it("update as text/plain: 422, nothing appended", async () => {
    const user = await target();
    const res = await call("PUT", `/v1/users/${user.id}/`, {
      token: user.token,
      raw: JSON.stringify({ first_name: "NoType" }),
    });
    validationIssues(expectError(res, 422, REQUEST_VALIDATION));
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("login as text/plain: 422, not 500", async () => {
    const user = await target();
    const res = await call("POST", "/v1/auth/login/", {
      raw: JSON.stringify({ username: user.username, password: "x" }),
    });
    validationIssues(expectError(res, 422, REQUEST_VALIDATION));
  });

  it("DELETE whose body is optional accepts a JSON Content-Type with an empty body", async () => {
    // Clients often send `Content-Type: application/json` on every request; with no body there is no
    // malformed JSON, and the reference's DELETE takes no body at all.
    const user = await target();
    const res = await call<CommandBody>("DELETE", `/v1/users/${user.id}/`, {
      token: admin.token,
      headers: { "Content-Type": "application/json" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // created, login, deleted
    expect(res.body).toMatchObject({ message: "User deleted successfully", revision: 3 });
  });
});

describe("schema violations: 422 Request Validation Error with {loc, msg, type} items", () => {
  it("reports wrong types and missing fields on create, one item per field", async () => {
    const name = uniqueName();
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: { username: 12345, first_name: "A", last_name: ["B"], password: "password-123" },
    });
    const issues = validationIssues(expectError(res, 422, REQUEST_VALIDATION));
    expect(issues.map((issue) => [issue.loc.join("."), issue.type]).sort()).toEqual([
      ["body.email", "missing"],
      ["body.last_name", "string_type"],
      ["body.username", "string_type"],
    ]);
    // Nothing about the body's other fields was taken: the valid name is still free.
    const created = await call("POST", "/v1/users/", { token: admin.token, body: newUserBody(name) });
    expect(created.status).toBe(200);
  });

  it("reports a wrong type on update and appends nothing", async () => {
    const user = await target();
    const res = await call("PUT", `/v1/users/${user.id}`, { token: user.token, body: { first_name: 42 } });
    const issues = validationIssues(expectError(res, 422, REQUEST_VALIDATION));
    expect(issues).toEqual([
      { loc: ["body", "first_name"], msg: "Input should be a valid string", type: "string_type" },
    ]);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("reports missing fields on password change and appends nothing", async () => {
    const user = await target();
    const res = await call("PUT", `/v1/users/${user.id}/password/`, {
      token: user.token,
      body: { new_password: "another-pass-9" },
    });
    const issues = validationIssues(expectError(res, 422, REQUEST_VALIDATION));
    expect(issues).toEqual([{ loc: ["body", "current_password"], msg: "Field required", type: "missing" }]);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("a JSON body that is not an object: 422 at loc [body]", async () => {
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      raw: "[]",
      headers: { "Content-Type": "application/json" },
    });
    const issues = validationIssues(expectError(res, 422, REQUEST_VALIDATION));
    expect(issues).toEqual([expect.objectContaining({ loc: ["body"], type: "model_attributes_type" })]);
  });

  it("ignores unknown fields on create, as the reference: no role or flag gets in", async () => {
    const body = { ...newUserBody(), is_superuser: true, role: "admin" };
    const res = await call<CommandBody>("POST", "/v1/users/", { token: admin.token, body });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const [created] = await streamOf(res.body.user_id ?? "");
    expect(created?.data).not.toHaveProperty("is_superuser");
    expect(created).toMatchObject({ event_type: "USER_CREATED", data: { role: "user" } });
  });

  it("ignores a username on update (it is immutable): with nothing else, there is nothing to update", async () => {
    const user = await target();
    const res = await call("PUT", `/v1/users/${user.id}/`, { token: user.token, body: { username: "renamed" } });
    expectError(res, 422, { error: "Validation Error" });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("reports an out-of-range query parameter", async () => {
    const res = await call("GET", "/v1/users/?page_size=1000", { token: admin.token });
    const issues = validationIssues(expectError(res, 422, REQUEST_VALIDATION));
    expect(issues).toEqual([expect.objectContaining({ loc: ["query", "page_size"], type: "less_than_equal" })]);
  });

  it("refuses a list cursor no page handed out", async () => {
    for (const cursor of ["not-a-cursor", btoa(JSON.stringify([1, 2])), btoa("[")]) {
      const res = await call("GET", `/v1/users/?page=2&cursor=${cursor}`, { token: admin.token });
      const issues = validationIssues(expectError(res, 422, REQUEST_VALIDATION));
      expect(issues).toEqual([expect.objectContaining({ loc: ["query", "cursor"], type: "value_error" })]);
    }
  });
});

describe("invalid UUID in the path", () => {
  it.each([
    ["GET", "/v1/users/not-a-uuid/"],
    ["PUT", "/v1/users/not-a-uuid/"],
    ["PUT", "/v1/users/12345/password"],
    ["DELETE", "/v1/users/not-a-uuid"],
    ["POST", "/v1/users/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/suspend/"],
  ])("%s %s answers 400 Bad Request", async (method, path) => {
    const body =
      method === "PUT" && path.endsWith("password")
        ? { current_password: "x", new_password: "y" }
        : { first_name: "X" };
    const res = await call(method, path, { token: admin.token, body: method === "GET" ? undefined : body });
    expectError(res, 400, BAD_REQUEST);
  });
});

describe("oversized body", () => {
  const huge = "x".repeat(17 * 1024);

  it("answers 413 Payload Too Large on update and appends nothing", async () => {
    const user = await target();
    const res = await call("PUT", `/v1/users/${user.id}/`, { token: user.token, body: { first_name: huge } });
    expectError(res, 413, { error: "Payload Too Large", type: "PayloadTooLarge" });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("answers 413 on create before anything is decided", async () => {
    const name = uniqueName();
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: { ...newUserBody(name), first_name: huge },
    });
    expectError(res, 413, { error: "Payload Too Large", type: "PayloadTooLarge" });
    const created = await call("POST", "/v1/users/", { token: admin.token, body: newUserBody(name) });
    expect(created.status).toBe(200);
  });

  it("answers 413 for a streamed body without Content-Length", async () => {
    const user = await target();
    const bytes = new TextEncoder().encode(JSON.stringify({ first_name: huge }));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 1024) controller.enqueue(bytes.slice(i, i + 1024));
        controller.close();
      },
    });
    const res = await exports.default.fetch(`http://localhost/v1/users/${user.id}/`, {
      method: "PUT",
      headers: {
        Authorization: `Bearer ${user.token}`,
        "Content-Type": "application/json",
        "X-Request-Id": "too-large-streamed",
      },
      body: stream,
    });
    expect(res.status).toBe(413);
    // The limit's own answer still carries the request's id.
    expect(res.headers.get("X-Request-Id")).toBe("too-large-streamed");
    expect(await res.json()).toMatchObject({ error: "Payload Too Large", type: "PayloadTooLarge" });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("accepts a body just under the limit", async () => {
    const user = await target();
    const res = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: user.token,
      body: { first_name: "y".repeat(100) },
    });
    expect(res.status).toBe(200);
  });
});

describe("bad tokens", () => {
  it("no token: 401 Not authenticated, nothing created or appended", async () => {
    const user = await target();
    const name = uniqueName();
    const create = await call("POST", "/v1/users/", { body: newUserBody(name) });
    expectError(create, 401, NOT_AUTHENTICATED);
    const update = await call("PUT", `/v1/users/${user.id}/`, { body: { first_name: "Mallory" } });
    expectError(update, 401, NOT_AUTHENTICATED);
    const read = await call("GET", `/v1/users/${user.id}/`);
    expectError(read, 401, NOT_AUTHENTICATED);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
    expect((await call("POST", "/v1/users/", { token: admin.token, body: newUserBody(name) })).status).toBe(200);
  });

  it("a non-Bearer Authorization header is not authenticated", async () => {
    const res = await call("GET", "/v1/users/", { headers: { Authorization: `Basic ${btoa("admin:pw")}` } });
    expectError(res, 401, NOT_AUTHENTICATED);
  });

  it("expired token: 401, nothing appended", async () => {
    const user = await target();
    const expired = await craftToken({
      user_id: user.id,
      username: user.username,
      role: "user",
      exp: nowSeconds() - 60,
    });
    const res = await call("PUT", `/v1/users/${user.id}/`, { token: expired, body: { first_name: "Late" } });
    expectError(res, 401, BAD_CREDENTIALS);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
    // The same claims, not expired, are accepted: it is the expiry that was refused.
    const fresh = await craftToken({
      user_id: user.id,
      username: user.username,
      role: "user",
      exp: nowSeconds() + 600,
    });
    expect((await call("PUT", `/v1/users/${user.id}/`, { token: fresh, body: { first_name: "OnTime" } })).status).toBe(
      200,
    );
  });

  it("forged token (wrong secret, claiming admin): 401, nothing created or appended", async () => {
    const user = await target();
    const forged = await craftToken(
      { user_id: admin.id, username: admin.username, role: "admin", exp: nowSeconds() + 600 },
      "not-the-secret-0123456789abcdef0123456789",
    );
    const del = await call("DELETE", `/v1/users/${user.id}/`, { token: forged });
    expectError(del, 401, BAD_CREDENTIALS);
    const update = await call("PUT", `/v1/users/${user.id}/`, { token: forged, body: { first_name: "Forged" } });
    expectError(update, 401, BAD_CREDENTIALS);
    const name = uniqueName();
    expectError(await call("POST", "/v1/users/", { token: forged, body: newUserBody(name) }), 401, BAD_CREDENTIALS);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
    expect((await call("POST", "/v1/users/", { token: admin.token, body: newUserBody(name) })).status).toBe(200);
  });

  it("a garbage token and a token for a user that does not exist are refused", async () => {
    expectError(await call("GET", "/v1/users/", { token: "not.a.jwt" }), 401, BAD_CREDENTIALS);
    const ghost = await craftToken({
      user_id: crypto.randomUUID(),
      username: "ghost",
      role: "admin",
      exp: nowSeconds() + 600,
    });
    expectError(await call("GET", "/v1/users/", { token: ghost }), 401, { error: "HTTP Error", type: "HTTPException" });
  });

  it("the role claimed in a validly signed token is not trusted: the stream's role is", async () => {
    const user = await target();
    const other = await target();
    const claimsAdmin = await craftToken({
      user_id: user.id,
      username: user.username,
      role: "admin",
      exp: nowSeconds() + 600,
    });
    const res = await call("DELETE", `/v1/users/${other.id}/`, { token: claimsAdmin });
    expectError(res, 403, { error: "HTTP Error", message: "Insufficient permissions. Required scope: user:delete" });
    expect(await eventTypes(other.id)).toEqual(["USER_CREATED"]);
  });
});

describe("role in the create body", () => {
  it("is ignored: the user gets role user and user scopes", async () => {
    const body = { ...newUserBody(), role: "admin" };
    const res = await call<CommandBody>("POST", "/v1/users/", { token: admin.token, body });
    expect(res.status).toBe(200);
    const id = res.body.user_id ?? "";
    const read = await call<{ user: UserBody }>("GET", `/v1/users/${id}/?consistency=strong`, { token: admin.token });
    expect(read.body.user.role).toBe("user");
    const [created] = await streamOf(id);
    expect(created).toMatchObject({ event_type: "USER_CREATED", data: { role: "user" } });
    // And the user cannot use admin powers.
    const token = await login(body.username);
    const attempt = await call("POST", "/v1/users/", { token, body: newUserBody() });
    expectError(attempt, 403, { message: "Insufficient permissions. Required scope: user:create" });
  });
});
