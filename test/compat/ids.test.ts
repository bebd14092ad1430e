import { beforeAll, describe, expect, it } from "vitest";
import { parseUserId } from "../../src/http/ids";
import { adminSession, call, createUser, login } from "../support/api";
import { type UserBody, eventTypes, expectError } from "../http/helpers";

/**
 * Path ids as the reference reads them (`uuid.UUID(user_id)` in each route): any version or
 * variant, hyphens optional, any case, braces, `urn:uuid:`; answered and stored lower-case and
 * hyphenated, so one user never has two spellings.
 */

const MISSING = "11111111-1111-1111-1111-111111111111"; // variant nibble 1: not RFC 9562, still a UUID to Python

describe("parseUserId, Python's uuid.UUID(text) less int()'s artefacts", () => {
  const canonical = "0b9f2f0e-1c3a-4d5e-8f60-7a8b9c0d1e2f";
  it.each([
    ["canonical", canonical],
    ["upper case", canonical.toUpperCase()],
    ["no hyphens", canonical.replaceAll("-", "")],
    ["hyphens anywhere", "0b9f-2f0e1c3a4d5e8f607a8b9c0d1e2f"],
    ["braces", `{${canonical}}`],
    ["urn", `urn:uuid:${canonical}`],
    ["urn in braces", `{urn:uuid:${canonical}}`],
  ])("reads %s", (_label, text) => {
    expect(parseUserId(text)).toBe(canonical);
  });

  it("takes any variant and version nibble (the reference's tests use 1111…)", () => {
    expect(parseUserId(MISSING)).toBe(MISSING);
    expect(parseUserId("00000000-0000-0000-0000-000000000000")).toBe("00000000-0000-0000-0000-000000000000");
  });

  it.each([
    ["not a UUID", "not-a-uuid"],
    ["31 digits", "0b9f2f0e1c3a4d5e8f607a8b9c0d1e2"],
    ["33 digits", "0b9f2f0e1c3a4d5e8f607a8b9c0d1e2f0"],
    ["a non-hex digit", "0b9f2f0e1c3a4d5e8f607a8b9c0d1e2g"],
    ["an upper-case URN prefix (Python drops only `urn:`)", `URN:UUID:${canonical}`],
    ["an int() prefix", `0x${canonical.replaceAll("-", "").slice(2)}`],
    ["inner spaces", ` ${canonical.replaceAll("-", "").slice(1)}`],
    ["empty", ""],
  ])("refuses %s", (_label, text) => {
    expect(parseUserId(text)).toBeNull();
  });
});

describe("over HTTP", () => {
  let admin: { id: string; token: string; username: string };
  beforeAll(async () => {
    admin = await adminSession();
  });

  it("a missing user under a variant-1 id: GET 404 HTTP Error (test_users::test_get_user_not_found)", async () => {
    const res = await call("GET", `/v1/users/${MISSING}/`, { token: admin.token });
    expectError(res, 404, { error: "HTTP Error", type: "HTTPException", message: "User not found" });
  });

  it("PUT, password and DELETE of it: 404 Resource Not Found naming the user (test_update_user_not_found, test_change_password_not_found, test_delete_user_not_found)", async () => {
    const notFound = { error: "Resource Not Found", message: `User ${MISSING} not found`, type: "UserNotFoundError" };
    const put = await call("PUT", `/v1/users/${MISSING}/`, {
      token: admin.token,
      body: { first_name: "Updated", last_name: "Name" },
    });
    expectError(put, 404, notFound);
    const password = await call("PUT", `/v1/users/${MISSING}/password/`, {
      token: admin.token,
      body: { current_password: "oldpassword123", new_password: "newpassword456" },
    });
    expectError(password, 404, notFound);
    expectError(await call("DELETE", `/v1/users/${MISSING}/`, { token: admin.token }), 404, notFound);
  });

  it("the same id without hyphens or in upper case names it in the canonical form", async () => {
    for (const spelling of [MISSING.replaceAll("-", ""), `{${MISSING}}`]) {
      const res = await call("DELETE", `/v1/users/${encodeURIComponent(spelling)}/`, { token: admin.token });
      expectError(res, 404, { error: "Resource Not Found", message: `User ${MISSING} not found` });
    }
  });

  it("an existing user is the same user in every spelling: reads answer its canonical id, writes reach its one stream", async () => {
    const user = await createUser(admin.token);
    const spellings = [user.id.toUpperCase(), user.id.replaceAll("-", ""), `{${user.id}}`, `urn:uuid:${user.id}`];
    for (const spelling of spellings) {
      const read = await call<{ user: UserBody }>(
        "GET",
        `/v1/users/${encodeURIComponent(spelling)}/?consistency=strong`,
        { token: admin.token },
      );
      expect(read.status, spelling).toBe(200);
      expect(read.body.user.id).toBe(user.id);
    }
    const [upper, bare] = spellings;
    const update = await call("PUT", `/v1/users/${upper}/`, { token: admin.token, body: { first_name: "Upper" } });
    expect(update.status, JSON.stringify(update.body)).toBe(200);
    const again = await call("PUT", `/v1/users/${bare}/`, { token: admin.token, body: { first_name: "Bare" } });
    expect(again.status).toBe(200);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_UPDATED", "USER_UPDATED"]);
    await expect
      .poll(async () => {
        const res = await call<{ results: UserBody[] }>("GET", `/v1/users/?username=${user.username}`, {
          token: admin.token,
        });
        return res.body.results.map((row) => [row.id, row.first_name]);
      })
      .toEqual([[user.id, "Bare"]]);
  });

  it("a user's own id in another spelling is still their own (the reference compares raw strings; we compare ids)", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const res = await call("PUT", `/v1/users/${user.id.toUpperCase().replaceAll("-", "")}/`, {
      token,
      body: { first_name: "Mine" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it.each(["not-a-uuid", "12345", "0b9f2f0e1c3a4d5e8f607a8b9c0d1e2", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"])(
    "an admin sending %s gets 400 ContentTypeError, as from the reference",
    async (bad) => {
      const res = await call("GET", `/v1/users/${bad}/`, { token: admin.token });
      expectError(res, 400, {
        error: "Bad Request",
        message: "Invalid content type or malformed request body",
        type: "ContentTypeError",
      });
    },
  );
});
