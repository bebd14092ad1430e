import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { newUserBody, uniqueName } from "../support/builders";
import { eventTypes, expectError } from "../http/helpers";

/**
 * The reference checks a request in one order on every route: authentication (401), permission
 * (403), the request's shape (422), then the business rules (ids are parsed inside its routes: 400
 * after the shape). A request wrong in several ways gets the first of these.
 */

const NOT_AUTHENTICATED = { error: "HTTP Error", message: "Not authenticated", type: "HTTPException" };
const REQUEST_VALIDATION = { error: "Request Validation Error", type: "RequestValidationError" };
const BAD_REQUEST = { error: "Bad Request", type: "ContentTypeError" };
const SOMEONE = "11111111-1111-1111-1111-111111111111";

let admin: { id: string; token: string; username: string };
let regular: { id: string; username: string; token: string };

beforeAll(async () => {
  admin = await adminSession();
  const user = await createUser(admin.token);
  regular = { ...user, token: await login(user.username) };
});

const malformed = { raw: "{not json", headers: { "Content-Type": "application/json" } };

describe("401 before everything", () => {
  it.each([
    ["POST", "/v1/users/"],
    ["PUT", "/v1/users/not-a-uuid/"],
    ["PUT", `/v1/users/${SOMEONE}/password/`],
    ["DELETE", "/v1/users/not-a-uuid/"],
  ])("%s %s without a token and with a malformed body: 401 Not authenticated", async (method, path) => {
    expectError(await call(method, path, malformed), 401, NOT_AUTHENTICATED);
  });

  it.each([
    "/v1/users/?page_size=0",
    "/v1/users/not-a-uuid/",
    `/v1/users/${SOMEONE}/history/`,
    `/v1/users/${SOMEONE}/history/?timestamp=yesterday`,
  ])("GET %s without a token: 401 (test_*_unauthorized_no_jwt)", async (path) => {
    expectError(await call("GET", path), 401, NOT_AUTHENTICATED);
  });
});

describe("403 before the request's shape", () => {
  it("a regular user creating with an invalid body: 403, not 422 (test_create_user_forbidden_regular_user)", async () => {
    const res = await call("POST", "/v1/users/", { token: regular.token, body: { username: 5 } });
    expectError(res, 403, { error: "HTTP Error", message: "Insufficient permissions. Required scope: user:create" });
  });

  it("a regular user updating someone else with a malformed body: 403", async () => {
    const other = await createUser(admin.token);
    const res = await call("PUT", `/v1/users/${other.id}/`, { token: regular.token, ...malformed });
    expectError(res, 403, {
      error: "HTTP Error",
      message: "Insufficient permissions. You can only update your own user data.",
    });
    expect(await eventTypes(other.id)).toEqual(["USER_CREATED"]);
  });

  it.each([
    ["PUT", "/v1/users/not-a-uuid/", { first_name: "X" }],
    ["PUT", "/v1/users/not-a-uuid/password/", { current_password: "a", new_password: "b" }],
    ["DELETE", "/v1/users/not-a-uuid/", undefined],
    ["POST", "/v1/users/not-a-uuid/suspend/", undefined],
  ])(
    "a regular user sending %s %s (a malformed id): 403, the permission check comes first",
    async (method, path, body) => {
      const res = await call(method, path, { token: regular.token, body });
      expectError(res, 403, { error: "HTTP Error", type: "HTTPException" });
    },
  );
});

describe("422 before the id is parsed (400) and before the business rules", () => {
  it("an admin's malformed JSON to a malformed id: 422 (FastAPI reads the body before the route runs)", async () => {
    const res = await call("PUT", "/v1/users/not-a-uuid/", { token: admin.token, ...malformed });
    expectError(res, 422, REQUEST_VALIDATION);
  });

  it("an admin's invalid body to a user that does not exist: 422, not 404", async () => {
    const res = await call("PUT", `/v1/users/${SOMEONE}/`, { token: admin.token, body: { email: "nope" } });
    expectError(res, 422, REQUEST_VALIDATION);
  });

  it("an admin's valid body to a malformed id: 400", async () => {
    const res = await call("PUT", "/v1/users/not-a-uuid/", { token: admin.token, body: { first_name: "X" } });
    expectError(res, 400, BAD_REQUEST);
  });

  it("history without a timestamp: 422 'Field required' at query.timestamp, before the id", async () => {
    const res = await call("GET", "/v1/users/not-a-uuid/history/", { token: regular.token });
    const body = expectError(res, 422, REQUEST_VALIDATION);
    expect(body.details).toEqual([{ loc: ["query", "timestamp"], msg: "Field required", type: "missing" }]);
  });

  it("a valid request on a user who does not exist reaches the business rules: 404", async () => {
    const res = await call("PUT", `/v1/users/${SOMEONE}/`, { token: admin.token, body: { first_name: "X" } });
    expectError(res, 404, { error: "Resource Not Found" });
  });

  it("the request's rules before the domain's: a short username with a bad email is about the email", async () => {
    const body = { ...newUserBody(), username: "ab", email: "bad" };
    const res = await call("POST", "/v1/users/", { token: admin.token, body });
    expectError(res, 422, REQUEST_VALIDATION);
  });

  it("the domain's rules after: a short username alone is a Validation Error with the reference's dict details (test_create_user_username_too_short)", async () => {
    const body = { ...newUserBody(uniqueName()), username: "ab" };
    const res = await call("POST", "/v1/users/", { token: admin.token, body });
    const error = expectError(res, 422, { error: "Validation Error" });
    expect(error.details).toMatchObject({ username: "ab", min_length: 3 });
  });
});
