import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { newUserBody, uniqueName } from "../support/builders";
import { type ErrorBody, type ValidationIssue, eventTypes, expectError } from "../http/helpers";

/**
 * The reference's request validation (FastAPI + pydantic 2), as its clients see it: 422
 * "Request Validation Error" with a list of `{loc, msg, type}` in pydantic's words. Each test names
 * the reference test (tests/system/api/routers/v1/…) or the pydantic behaviour it pins.
 */

const REQUEST_VALIDATION = {
  error: "Request Validation Error",
  message: "Request validation failed",
  type: "RequestValidationError",
};

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

function issuesOf(res: Awaited<ReturnType<typeof call>>): ValidationIssue[] {
  const body: ErrorBody = expectError(res, 422, REQUEST_VALIDATION);
  expect(Array.isArray(body.details)).toBe(true);
  return body.details as ValidationIssue[];
}

function issueAt(issues: ValidationIssue[], ...loc: (string | number)[]) {
  return issues.find((issue) => JSON.stringify(issue.loc) === JSON.stringify(loc));
}

describe("missing field: 'Field required', type missing", () => {
  it("login without username (test_auth::test_login_missing_username)", async () => {
    const issues = issuesOf(await call("POST", "/v1/auth/login/", { body: { password: "password123" } }));
    expect(issues).toEqual([{ loc: ["body", "username"], msg: "Field required", type: "missing" }]);
  });

  it("login without password (test_auth::test_login_missing_password)", async () => {
    const issues = issuesOf(await call("POST", "/v1/auth/login/", { body: { username: admin.username } }));
    expect(issues).toEqual([{ loc: ["body", "password"], msg: "Field required", type: "missing" }]);
  });

  it("create without email (test_users::test_create_user_invalid_data), nothing created", async () => {
    const { email: _email, ...body } = newUserBody();
    const issues = issuesOf(await call("POST", "/v1/users/", { token: admin.token, body }));
    expect(issues).toEqual([{ loc: ["body", "email"], msg: "Field required", type: "missing" }]);
    expect((await call("POST", "/v1/users/", { token: admin.token, body: newUserBody(body.username) })).status).toBe(
      200,
    );
  });

  it("password change without current_password (pydantic: missing), nothing appended", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const res = await call("PUT", `/v1/users/${user.id}/password/`, { token, body: { new_password: "another-9" } });
    expect(issuesOf(res)).toEqual([{ loc: ["body", "current_password"], msg: "Field required", type: "missing" }]);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("an empty body where one is required: loc [body], 'Field required' (FastAPI)", async () => {
    const res = await call("POST", "/v1/auth/login/", { raw: "", headers: { "Content-Type": "application/json" } });
    expect(issuesOf(res)).toEqual([{ loc: ["body"], msg: "Field required", type: "missing" }]);
  });

  it("a JSON null body is a missing body (FastAPI)", async () => {
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      raw: "null",
      headers: { "Content-Type": "application/json" },
    });
    expect(issuesOf(res)).toEqual([{ loc: ["body"], msg: "Field required", type: "missing" }]);
  });
});

describe("too short and too long", () => {
  it("empty password on create: 'String should have at least 1 character' (test_users::test_create_user_empty_password)", async () => {
    const body = { ...newUserBody(), password: "" };
    const issues = issuesOf(await call("POST", "/v1/users/", { token: admin.token, body }));
    expect(issues).toEqual([
      { loc: ["body", "password"], msg: "String should have at least 1 character", type: "string_too_short" },
    ]);
    expect((await call("POST", "/v1/users/", { token: admin.token, body: newUserBody(body.username) })).status).toBe(
      200,
    );
  });

  it("a first name over its limit: 'String should have at most 100 characters' (pydantic max_length)", async () => {
    const body = { ...newUserBody(), first_name: "x".repeat(101) };
    const issues = issuesOf(await call("POST", "/v1/users/", { token: admin.token, body }));
    expect(issues).toEqual([
      { loc: ["body", "first_name"], msg: "String should have at most 100 characters", type: "string_too_long" },
    ]);
  });

  it("page_size=0 and page_size=101: pydantic's bounds wording on the list query", async () => {
    const low = issuesOf(await call("GET", "/v1/users/?page_size=0", { token: admin.token }));
    expect(low).toEqual([
      { loc: ["query", "page_size"], msg: "Input should be greater than or equal to 1", type: "greater_than_equal" },
    ]);
    const high = issuesOf(await call("GET", "/v1/users/?page_size=101", { token: admin.token }));
    expect(high).toEqual([
      { loc: ["query", "page_size"], msg: "Input should be less than or equal to 100", type: "less_than_equal" },
    ]);
  });
});

describe("not an email: 'value is not a valid email address: …', type value_error", () => {
  it("update with 'invalid-email' (test_users::test_update_user_invalid_data), nothing appended", async () => {
    const user = await createUser(admin.token);
    const res = await call("PUT", `/v1/users/${user.id}/`, { token: admin.token, body: { email: "invalid-email" } });
    expect(issuesOf(res)).toEqual([
      {
        loc: ["body", "email"],
        msg: "value is not a valid email address: An email address must have an @-sign.",
        type: "value_error",
      },
    ]);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it.each([
    ["a@b@example.com", "The email address is not valid. It must have exactly one @-sign."],
    ["@example.com", "There must be something before the @-sign."],
    ["someone@", "There must be something after the @-sign."],
    ["someone@localhost", "The part after the @-sign is not valid. It should have a period."],
  ])("create with %s says why (email-validator's reasons)", async (email, reason) => {
    const body = { ...newUserBody(), email };
    const issues = issuesOf(await call("POST", "/v1/users/", { token: admin.token, body }));
    expect(issues).toEqual([
      { loc: ["body", "email"], msg: `value is not a valid email address: ${reason}`, type: "value_error" },
    ]);
  });

  it("an email that is valid once trimmed passes, as EmailStr normalises", async () => {
    const name = uniqueName();
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: { ...newUserBody(name), email: `  ${name}@Example.COM ` },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });
});

describe("wrong types", () => {
  it("not a string: 'Input should be a valid string', type string_type", async () => {
    const body = { ...newUserBody(), username: 12345 };
    const issues = issuesOf(await call("POST", "/v1/users/", { token: admin.token, body }));
    expect(issues).toEqual([{ loc: ["body", "username"], msg: "Input should be a valid string", type: "string_type" }]);
  });

  it("not an integer in the query: 'unable to parse string as an integer', type int_parsing", async () => {
    for (const page of ["abc", "1.5"]) {
      const issues = issuesOf(await call("GET", `/v1/users/?page=${page}`, { token: admin.token }));
      expect(issues).toEqual([
        {
          loc: ["query", "page"],
          msg: "Input should be a valid integer, unable to parse string as an integer",
          type: "int_parsing",
        },
      ]);
    }
  });

  it("several problems are all reported, one item each", async () => {
    const body = { username: 5, first_name: "A", last_name: ["B"], password: "" };
    const issues = issuesOf(await call("POST", "/v1/users/", { token: admin.token, body }));
    expect(issues.map((issue) => [issue.loc.join("."), issue.type]).sort()).toEqual([
      ["body.email", "missing"],
      ["body.last_name", "string_type"],
      ["body.password", "string_too_short"],
      ["body.username", "string_type"],
    ]);
  });

  it("unknown fields are ignored, as pydantic models ignore them", async () => {
    const name = uniqueName();
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: { ...newUserBody(name), is_superuser: true },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });
});

describe("bodies that are not JSON", () => {
  it("malformed JSON on login: 422 Request Validation Error (test_auth::test_login_invalid_json)", async () => {
    const res = await call("POST", "/v1/auth/login/", {
      raw: "invalid json",
      headers: { "Content-Type": "application/json" },
    });
    expect(issuesOf(res)).toEqual([{ loc: ["body", 0], msg: "JSON decode error", type: "json_invalid" }]);
  });

  it("a body cut off: json_invalid, and nothing created", async () => {
    const name = uniqueName();
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      raw: `{"username": "${name}", "email": `,
      headers: { "Content-Type": "application/json" },
    });
    const [issue] = issuesOf(res);
    expect(issue).toMatchObject({ msg: "JSON decode error", type: "json_invalid" });
    expect(issue?.loc[0]).toBe("body");
    expect(typeof issue?.loc[1]).toBe("number");
    expect((await call("POST", "/v1/users/", { token: admin.token, body: newUserBody(name) })).status).toBe(200);
  });

  it("application/octet-stream on login: 422 'Request validation failed' (test_auth::test_login_wrong_content_type)", async () => {
    const res = await call("POST", "/v1/auth/login/", {
      raw: "invalid bytes content",
      headers: { "Content-Type": "application/octet-stream" },
    });
    expect(issuesOf(res)).toEqual([
      {
        loc: ["body"],
        msg: "Input should be a valid dictionary or object to extract fields from",
        type: "model_attributes_type",
      },
    ]);
  });

  it("text/plain on update: the same 422, nothing appended", async () => {
    const user = await createUser(admin.token);
    const res = await call("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      raw: JSON.stringify({ first_name: "Plain" }),
      headers: { "Content-Type": "text/plain" },
    });
    expect(issueAt(issuesOf(res), "body")?.type).toBe("model_attributes_type");
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("no Content-Type at all is read as JSON, as FastAPI does", async () => {
    const name = uniqueName();
    // Bytes, not a string: fetch would label a string body text/plain.
    const bytes = new TextEncoder().encode(JSON.stringify(newUserBody(name)));
    const res = await call("POST", "/v1/users/", { token: admin.token, raw: bytes });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it("bytes that are not UTF-8: 400 'There was an error parsing the body' (FastAPI)", async () => {
    const res = await call("POST", "/v1/auth/login/", {
      raw: new Uint8Array([0x7b, 0xff, 0x7d]),
      headers: { "Content-Type": "application/json" },
    });
    expectError(res, 400, {
      error: "HTTP Error",
      message: "There was an error parsing the body",
      type: "HTTPException",
    });
  });
});
