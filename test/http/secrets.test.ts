import { exports } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { PublicEvent } from "../../src/domain/events";
import { adminSession, call, login, type ApiResponse } from "../support/api";
import {
  type CommandBody,
  type ListBody,
  type LoginBody,
  type UserBody,
  expectError,
  expectNoSecrets,
  responseText,
} from "./helpers";
import { PASSWORD, newUserBody } from "../support/builders";

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const NEW_PASSWORD = "fresh-secret-pw-77";
const WRONG_PASSWORD = "wrong-guess-pw-55";
const ALL_PASSWORDS = [PASSWORD, NEW_PASSWORD, WRONG_PASSWORD];

describe("no password or hash in any response", () => {
  it("login, create, get, list, password change, errors and the stream export", async () => {
    const seen: ApiResponse<unknown>[] = [];
    const record = <T>(res: ApiResponse<T>): ApiResponse<T> => {
      seen.push(res);
      return res;
    };

    const body = newUserBody();
    const created = record(await call<CommandBody>("POST", "/v1/users/", { token: admin.token, body }));
    expect(created.status).toBe(200);
    const id = created.body.user_id ?? "";

    const loggedIn = record(
      await call<LoginBody>("POST", "/v1/auth/login/", { body: { username: body.username, password: PASSWORD } }),
    );
    expect(loggedIn.status).toBe(200);
    const token = loggedIn.body.access_token;

    expect(record(await call<{ user: UserBody }>("GET", `/v1/users/${id}/?consistency=strong`, { token })).status).toBe(
      200,
    );
    expect(record(await call<{ user: UserBody }>("GET", `/v1/users/${id}/?min_revision=1`, { token })).status).toBe(
      200,
    );
    const list = record(await call<ListBody>("GET", `/v1/users/?username=${body.username}`, { token }));
    expect(list.body.results).toHaveLength(1);

    const wrongCurrent = record(
      await call("PUT", `/v1/users/${id}/password/`, {
        token,
        body: { current_password: WRONG_PASSWORD, new_password: NEW_PASSWORD },
      }),
    );
    expectError(wrongCurrent, 401, { error: "Authentication Error" });
    const badLogin = record(
      await call("POST", "/v1/auth/login/", { body: { username: body.username, password: WRONG_PASSWORD } }),
    );
    expect(badLogin.status).toBe(401);
    // Schema errors must not echo the offending input, as pydantic's `input` would.
    const tooLong = `${NEW_PASSWORD}${"z".repeat(1100)}`;
    const rejected = record(
      await call("PUT", `/v1/users/${id}/password/`, {
        token,
        body: { current_password: PASSWORD, new_password: tooLong },
      }),
    );
    expectError(rejected, 422, { error: "Request Validation Error" });
    const badEmail = record(
      await call("POST", "/v1/users/", {
        token: admin.token,
        body: { ...newUserBody(), password: NEW_PASSWORD, email: `not-an-email-${NEW_PASSWORD}` },
      }),
    );
    expectError(badEmail, 422, { error: "Request Validation Error" });
    const sameAsCurrent = record(
      await call("PUT", `/v1/users/${id}/password/`, {
        token,
        body: { current_password: PASSWORD, new_password: PASSWORD },
      }),
    );
    expectError(sameAsCurrent, 422, { error: "Validation Error" });

    const changed = record(
      await call<CommandBody>("PUT", `/v1/users/${id}/password/`, {
        token,
        body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      }),
    );
    expect(changed.status).toBe(200);
    const relogin = record(
      await call<LoginBody>("POST", "/v1/auth/login/", { body: { username: body.username, password: NEW_PASSWORD } }),
    );
    expect(relogin.status).toBe(200);
    // The password change refused the old token: read with the new one.
    const newToken = relogin.body.access_token;
    expect(record(await call("GET", `/v1/users/${id}/?min_revision=2`, { token: newToken })).status).toBe(200);

    for (const res of seen) expectNoSecrets(res, ALL_PASSWORDS);

    // The export: one redacted event per line.
    const raw = await exports.default.fetch(`http://localhost/admin/users/${id}/stream`, {
      headers: { Authorization: `Bearer ${admin.token}` },
    });
    const text = new TextDecoder().decode(await raw.arrayBuffer());
    const exported: ApiResponse<string> = { status: raw.status, headers: raw.headers, body: text };
    expect(exported.status).toBe(200);
    expect(exported.headers.get("Content-Type")).toContain("application/x-ndjson");
    const events = text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as PublicEvent);
    expect(events.map((e) => e.event_type)).toEqual([
      "USER_CREATED",
      "USER_LOGGED_IN",
      "PASSWORD_CHANGED",
      "USER_LOGGED_IN",
    ]);
    for (const event of events) expect(event.data).not.toHaveProperty("password_hash");
    // The name of the hashing scheme is not a secret and may stay; nothing else may mention it.
    const withoutMethodName = responseText(exported).replaceAll(/"hashing_method":"pbkdf2-sha256"/g, "");
    for (const password of ALL_PASSWORDS) expect(withoutMethodName).not.toContain(password);
    expect(withoutMethodName).not.toContain("pbkdf2");
    expect(withoutMethodName).not.toContain("password_hash");
  });

  it("the stream export is for admins only", async () => {
    const body = newUserBody();
    const created = await call<CommandBody>("POST", "/v1/users/", { token: admin.token, body });
    const token = await login(body.username);
    const res = await call("GET", `/admin/users/${created.body.user_id}/stream`, { token });
    expectError(res, 403, { error: "HTTP Error", message: "Insufficient permissions. Admin role required." });
    expectError(await call("GET", `/admin/users/${created.body.user_id}/stream`), 401, {
      message: "Not authenticated",
    });
  });
});

describe("no password in the logs", () => {
  it("create, password change and failed logins log no password", async () => {
    const spies = [
      vi.spyOn(console, "log"),
      vi.spyOn(console, "warn"),
      vi.spyOn(console, "error"),
      vi.spyOn(console, "info"),
      vi.spyOn(console, "debug"),
    ];
    const logged = () =>
      spies.flatMap((spy) =>
        spy.mock.calls.map((args) =>
          args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" "),
        ),
      );

    const body = newUserBody();
    const created = await call<CommandBody>("POST", "/v1/users/", { token: admin.token, body });
    expect(created.status).toBe(200);
    const id = created.body.user_id ?? "";
    const token = await login(body.username);
    const bad = await call("PUT", `/v1/users/${id}/password/`, {
      token,
      body: { current_password: WRONG_PASSWORD, new_password: NEW_PASSWORD },
    });
    expect(bad.status).toBe(401);
    const ok = await call("PUT", `/v1/users/${id}/password/`, {
      token,
      body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
    });
    expect(ok.status).toBe(200);
    for (const password of [WRONG_PASSWORD, PASSWORD]) {
      expect((await call("POST", "/v1/auth/login/", { body: { username: body.username, password } })).status).toBe(401);
    }
    const malformed = await call("POST", "/v1/auth/login/", {
      raw: `{"username":"${body.username}","password":"${NEW_PASSWORD}"`,
      headers: { "Content-Type": "application/json" },
    });
    expect(malformed.status).toBe(422);

    // Let the projection run, then prove the spies see the Worker's logs.
    expect((await call("GET", `/v1/users/${id}/?min_revision=2`, { token: admin.token })).status).toBe(200);
    await vi.waitFor(() => expect(logged().some((line) => line.includes(id))).toBe(true));

    const output = logged().join("\n");
    for (const password of ALL_PASSWORDS) expect(output).not.toContain(password);
    expect(output).not.toContain("pbkdf2");
    expect(output).not.toContain("password_hash");
  });
});
