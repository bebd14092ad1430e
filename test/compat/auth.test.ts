import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser } from "../support/api";
import { PASSWORD } from "../support/builders";
import { type LoginBody, expectError } from "../http/helpers";

/** tests/system/api/routers/v1/test_auth.py of the reference: POST /v1/auth/login/. */

const INCORRECT = { error: "HTTP Error", message: "Incorrect username or password", type: "HTTPException" };

let admin: { id: string; token: string; username: string };
let regular: { id: string; username: string; email: string };

beforeAll(async () => {
  admin = await adminSession();
  regular = await createUser(admin.token);
});

describe("login", () => {
  it("an admin logs in: bearer JWT and the admin's user (test_login_success_admin)", async () => {
    const res = await call<LoginBody>("POST", "/v1/auth/login/", {
      body: { username: admin.username, password: PASSWORD },
    });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe("bearer");
    expect(res.body.access_token.startsWith("eyJ")).toBe(true);
    expect(res.body.access_token.length).toBeGreaterThan(50);
    expect(res.body.user).toMatchObject({
      id: admin.id,
      username: admin.username,
      email: `${admin.username}@example.com`,
      first_name: "First",
      last_name: "Last",
      role: "admin",
    });
  });

  it("a regular user logs in with role user (test_login_success_regular_user)", async () => {
    const res = await call<LoginBody>("POST", "/v1/auth/login/", {
      body: { username: regular.username, password: PASSWORD },
    });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: regular.id, username: regular.username, role: "user" });
  });

  it("an unknown username: 401 'Incorrect username or password' (test_login_invalid_username)", async () => {
    const res = await call("POST", "/v1/auth/login/", {
      body: { username: "nonexistentuser", password: "password123" },
    });
    expectError(res, 401, INCORRECT);
    // As the reference's handler: no WWW-Authenticate header on its 401s.
    expect(res.headers.get("WWW-Authenticate")).toBeNull();
  });

  it("a wrong password: the same 401 (test_login_invalid_password)", async () => {
    const res = await call("POST", "/v1/auth/login/", {
      body: { username: admin.username, password: "wrongpassword" },
    });
    expectError(res, 401, INCORRECT);
  });

  it("an empty username: 401, not 422 (test_login_empty_username)", async () => {
    expectError(
      await call("POST", "/v1/auth/login/", { body: { username: "", password: "password123" } }),
      401,
      INCORRECT,
    );
  });

  it("an empty password: 401, not 422 (test_login_empty_password)", async () => {
    expectError(
      await call("POST", "/v1/auth/login/", { body: { username: admin.username, password: "" } }),
      401,
      INCORRECT,
    );
  });

  // test_login_missing_username, test_login_missing_password, test_login_invalid_json and
  // test_login_wrong_content_type are pinned in request-validation.test.ts.
});
