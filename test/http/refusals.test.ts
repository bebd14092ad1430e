import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { RequestTrail } from "../../src/admin/request-schemas";
import type { RefusalEntry, RefusalPage } from "../../src/admin/refusal-schemas";
import { httpError } from "../../src/http/errors";
import { ANONYMOUS, commandOf, reasonOf } from "../../src/http/refusals";
import { createApp } from "../../src/http/app";
import { requestValidationError } from "../../src/http/request-validation";
import { adminSession, call, createUser, login, tokenWithoutLogin } from "../support/api";
import { PASSWORD, newUserBody } from "../support/builders";
import { eventTypes, expectError, type CommandBody } from "./helpers";

let admin: { id: string; token: string };
beforeAll(async () => {
  admin = await adminSession();
});

const requestId = () => `refused-${crypto.randomUUID()}`;

/** The journal's rows of one request, once its (waitUntil) write has landed. */
async function refusalsOf(id: string, count = 1): Promise<RefusalEntry[]> {
  let rows: RefusalEntry[] = [];
  await vi.waitUntil(
    async () => {
      const res = await call<RefusalPage>("GET", `/admin/refusals/?request_id=${id}`, { token: admin.token });
      expect(res.status).toBe(200);
      rows = res.body.results;
      return rows.length >= count;
    },
    { timeout: 5_000, interval: 20 },
  );
  return rows;
}

/** Every row of the journal: what a reader of the table would see. */
async function wholeJournal(): Promise<string> {
  const { results } = await env.DB.prepare("SELECT * FROM refusals").all();
  return JSON.stringify(results);
}

/** A command that succeeds after the one under test: once its write is seen, an earlier one would have been. */
async function nothingJournaledFor(id: string) {
  const marker = requestId();
  await call("PUT", `/v1/users/${crypto.randomUUID()}/`, { body: {}, headers: { "X-Request-Id": marker } });
  await refusalsOf(marker);
  const res = await call<RefusalPage>("GET", `/admin/refusals/?request_id=${id}`, { token: admin.token });
  expect(res.body.results).toEqual([]);
}

describe("refused commands are journaled outside the user's stream", () => {
  it("401 without a token: actor anonymous, the path's user as target, the stream untouched", async () => {
    const user = await createUser(admin.token);
    const before = await eventTypes(user.id);
    const id = requestId();
    const res = await call("PUT", `/v1/users/${user.id}/`, {
      body: { first_name: "X" },
      headers: { "X-Request-Id": id },
    });
    expectError(res, 401, { message: "Not authenticated" });
    expect(await refusalsOf(id)).toEqual([
      {
        at: expect.any(String),
        actor_id: ANONYMOUS,
        target_id: user.id,
        command: "UpdateUser",
        status: 401,
        reason: "no_token",
        request_id: id,
      },
    ]);
    expect(await eventTypes(user.id)).toEqual(before);
  });

  it("401 with a forged token: anonymous, never the token", async () => {
    const user = await createUser(admin.token);
    const id = requestId();
    const forged = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoieCJ9.forged-signature";
    const res = await call("DELETE", `/v1/users/${user.id}/`, { token: forged, headers: { "X-Request-Id": id } });
    expect(res.status).toBe(401);
    expect(await refusalsOf(id)).toEqual([
      expect.objectContaining({ actor_id: ANONYMOUS, command: "DeleteUser", status: 401, reason: "invalid_token" }),
    ]);
    expect(await wholeJournal()).not.toContain("forged-signature");
  });

  it("403: the token's user as actor, the scope or ownership as reason", async () => {
    const user = await createUser(admin.token);
    const other = await createUser(admin.token);
    const token = await tokenWithoutLogin(user.id);
    const ids = [requestId(), requestId()];
    const notOwn = await call("PUT", `/v1/users/${other.id}/`, {
      token,
      body: { first_name: "X" },
      headers: { "X-Request-Id": ids[0]! },
    });
    expect(notOwn.status).toBe(403);
    const noScope = await call("POST", "/v1/users/", {
      token,
      body: newUserBody(),
      headers: { "X-Request-Id": ids[1]! },
    });
    expect(noScope.status).toBe(403);
    expect(await refusalsOf(ids[0]!)).toEqual([
      expect.objectContaining({
        actor_id: user.id,
        target_id: other.id,
        command: "UpdateUser",
        reason: "not_own_user",
      }),
    ]);
    expect(await refusalsOf(ids[1]!)).toEqual([
      expect.objectContaining({
        actor_id: user.id,
        target_id: null,
        command: "CreateUser",
        status: 403,
        reason: "missing_scope:user:create",
      }),
    ]);
  });

  it("422 request validation: the fields and types named, not the values", async () => {
    const user = await createUser(admin.token);
    const token = await tokenWithoutLogin(user.id);
    const id = requestId();
    const res = await call("PUT", `/v1/users/${user.id}/`, {
      token,
      body: { email: "not-an-email" },
      headers: { "X-Request-Id": id },
    });
    expect(res.status).toBe(422);
    const [row] = await refusalsOf(id);
    expect(row).toMatchObject({ actor_id: user.id, target_id: user.id, command: "UpdateUser", status: 422 });
    expect(row!.reason).toMatch(/^RequestValidationError:/);
    expect(row!.reason).toContain("body.email:");
    expect(await wholeJournal()).not.toContain("not-an-email");
  });

  it("409 taken: the error's type, not the username it names", async () => {
    const taken = await createUser(admin.token);
    const id = requestId();
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: newUserBody(taken.username),
      headers: { "X-Request-Id": id },
    });
    expect(res.status).toBe(409);
    expect(await refusalsOf(id)).toEqual([
      expect.objectContaining({
        actor_id: admin.id,
        command: "CreateUser",
        status: 409,
        reason: "UsernameAlreadyExistsError",
      }),
    ]);
    expect(await wholeJournal()).not.toContain(taken.username);
  });

  it("412 stale If-Match: journaled, the revision unchanged", async () => {
    const user = await createUser(admin.token);
    const token = await tokenWithoutLogin(user.id);
    const id = requestId();
    const res = await call("PUT", `/v1/users/${user.id}/`, {
      token,
      body: { first_name: "Late" },
      headers: { "X-Request-Id": id, "If-Match": '"7"' },
    });
    expect(res.status).toBe(412);
    expect(await refusalsOf(id)).toEqual([
      expect.objectContaining({ actor_id: user.id, target_id: user.id, status: 412, reason: "RevisionMismatch" }),
    ]);
    const events = await call<{ results: { revision: number }[] }>("GET", `/v1/users/${user.id}/events/`, { token });
    expect(events.body.results.map((e) => e.revision)).toEqual([1]);
  });

  it("422 business rule: the rule's name", async () => {
    const user = await createUser(admin.token);
    expect((await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);
    const id = requestId();
    const res = await call("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Ghost" },
      headers: { "X-Request-Id": id },
    });
    expect(res.status).toBe(422);
    expect(await refusalsOf(id)).toEqual([
      expect.objectContaining({ status: 422, reason: "CannotUpdateDeletedUserError:user_update_deleted" }),
    ]);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_DELETED"]);
  });

  it("401 wrong current password and 429 throttled logins: no password in any row", async () => {
    const user = await createUser(admin.token);
    const token = await tokenWithoutLogin(user.id);
    const id = requestId();
    const wrong = "wrong-password-zz9";
    const res = await call("PUT", `/v1/users/${user.id}/password/`, {
      token,
      body: { current_password: wrong, new_password: "another-password-zz8" },
      headers: { "X-Request-Id": id },
    });
    expect(res.status).toBe(401);
    expect(await refusalsOf(id)).toEqual([
      expect.objectContaining({ command: "ChangePassword", status: 401, reason: "IncorrectPasswordError" }),
    ]);

    const statuses: number[] = [];
    const loginIds: string[] = [];
    for (let i = 0; i < 6; i++) {
      loginIds.push(requestId());
      const attempt = await call("POST", "/v1/auth/login/", {
        body: { username: user.username, password: wrong },
        headers: { "X-Request-Id": loginIds[i]! },
      });
      statuses.push(attempt.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    // A login names the user whose name was given as its target; a name nobody holds, none.
    expect(await refusalsOf(loginIds[5]!)).toEqual([
      expect.objectContaining({
        actor_id: ANONYMOUS,
        target_id: user.id,
        command: "Login",
        status: 429,
        reason: "RateLimitExceeded",
      }),
    ]);
    expect(await refusalsOf(loginIds[0]!)).toEqual([
      expect.objectContaining({ target_id: user.id, command: "Login", status: 401, reason: "incorrect_credentials" }),
    ]);
    const unknown = requestId();
    const nobody = await call("POST", "/v1/auth/login/", {
      body: { username: `nobody-${crypto.randomUUID()}`, password: wrong },
      headers: { "X-Request-Id": unknown },
    });
    expect(nobody.status).toBe(401);
    expect(await refusalsOf(unknown)).toEqual([expect.objectContaining({ target_id: null, command: "Login" })]);
    const journal = await wholeJournal();
    for (const secret of [wrong, "another-password-zz8", PASSWORD, token, "pbkdf2"])
      expect(journal).not.toContain(secret);
  });

  it("nothing for a success, nor for a refused query (GET)", async () => {
    const user = await createUser(admin.token);
    const ok = requestId();
    const updated = await call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body: { first_name: "Fine" },
      headers: { "X-Request-Id": ok },
    });
    expect(updated.status).toBe(200);
    const query = requestId();
    expect((await call("GET", `/v1/users/${user.id}/`, { headers: { "X-Request-Id": query } })).status).toBe(401);
    await nothingJournaledFor(ok);
    await nothingJournaledFor(query);
  });

  it("a refused request's trail lists its refusal", async () => {
    const user = await createUser(admin.token);
    const id = requestId();
    await call("POST", `/v1/users/${user.id}/suspend/`, { headers: { "X-Request-Id": id } });
    await refusalsOf(id);
    const trail = await call<RequestTrail>("GET", `/admin/requests/${id}`, { token: admin.token });
    expect(trail.status).toBe(200);
    expect(trail.body.events).toEqual([]);
    expect(trail.body.refusals).toEqual([
      expect.objectContaining({ target_id: user.id, command: "SuspendUser", status: 401, reason: "no_token" }),
    ]);
  });
});

describe("the journal is bounded per actor and hour", () => {
  it("over HTTP: an actor's refusals past the cap are only counted", async () => {
    const user = await createUser(admin.token);
    const other = await createUser(admin.token);
    const token = await tokenWithoutLogin(user.id);
    const cap = Number(env.REFUSALS_PER_ACTOR_PER_HOUR);
    const attempts = cap + 10;
    for (let i = 0; i < attempts; i++) {
      const res = await call("POST", `/v1/users/${other.id}/suspend/`, { token });
      expect(res.status).toBe(403);
    }
    let page: RefusalPage | null = null;
    await vi.waitUntil(
      async () => {
        const res = await call<RefusalPage>("GET", `/admin/refusals/?actor=${user.id}&limit=500`, {
          token: admin.token,
        });
        page = res.body;
        return res.body.results.length + res.body.suppressed >= attempts;
      },
      { timeout: 10_000, interval: 50 },
    );
    const { results, suppressed } = page!;
    // Within one hour at most `cap` rows; a run across an hour's turn has two hours' caps.
    const hours = new Set(results.map((row) => row.at.slice(0, 13))).size;
    expect(results.length).toBeLessThanOrEqual(cap * hours);
    expect(results.length + suppressed).toBe(attempts);
    expect(suppressed).toBeGreaterThan(0);
  });
});

describe("GET /admin/refusals", () => {
  it("filters by target and pages newest first by cursor", async () => {
    const user = await createUser(admin.token);
    for (let i = 0; i < 3; i++) await call("POST", `/v1/users/${user.id}/reactivate/`, {});
    let first: RefusalPage | null = null;
    await vi.waitUntil(
      async () => {
        first = (await call<RefusalPage>("GET", `/admin/refusals/?user_id=${user.id}&limit=2`, { token: admin.token }))
          .body;
        return first.next_cursor !== null;
      },
      { timeout: 5_000, interval: 20 },
    );
    const second = await call<RefusalPage>(
      "GET",
      `/admin/refusals/?user_id=${user.id}&limit=2&cursor=${first!.next_cursor}`,
      { token: admin.token },
    );
    const all = [...first!.results, ...second.body.results];
    expect(all).toHaveLength(3);
    expect(new Set(all.map((row) => row.request_id)).size).toBe(3);
    expect(all.every((row) => row.target_id === user.id && row.command === "ReactivateUser")).toBe(true);
    const times = all.map((row) => row.at);
    expect([...times].sort().reverse()).toEqual(times);
    expect(second.body.next_cursor).toBeNull();
    const later = await call<RefusalPage>("GET", `/admin/refusals/?user_id=${user.id}&from=2999-01-01T00:00:00Z`, {
      token: admin.token,
    });
    expect(later.body.results).toEqual([]);
  });

  it("is for admins only; a bad cursor or filter is a 422", async () => {
    const user = await createUser(admin.token);
    expectError(await call("GET", "/admin/refusals/"), 401, {});
    expectError(await call("GET", "/admin/refusals/", { token: await login(user.username) }), 403, {});
    expectError(await call("GET", "/admin/refusals/?cursor=nope", { token: admin.token }), 422, {
      type: "RequestValidationError",
    });
    expectError(await call("GET", "/admin/refusals/?actor=someone", { token: admin.token }), 422, {});
  });
});

describe("the refusal journal at the edge", () => {
  it("knows every command route of the OpenAPI document, and no query", async () => {
    const doc = await call<{ paths: Record<string, Record<string, unknown>> }>("GET", "/v1/openapi.json");
    const id = crypto.randomUUID();
    const publicPaths = Object.entries(doc.body.paths).filter(([path]) => path.startsWith("/v1/"));
    expect(publicPaths.length).toBeGreaterThan(5);
    for (const [path, methods] of publicPaths) {
      const concrete = path.replace("{user_id}", id);
      for (const method of Object.keys(methods)) {
        const found = commandOf(method.toUpperCase(), concrete);
        if (method === "get") expect(found, `${method} ${path}`).toBeNull();
        else expect(found, `${method} ${path}`).toMatchObject({ target: path.includes("{user_id}") ? id : null });
      }
    }
    expect(commandOf("PUT", "/v1/users/not-an-id/")).toEqual({ command: "UpdateUser", target: null });
    // The admin's commands on a user's stream too; not the projections' replay.
    expect(commandOf("POST", `/admin/users/${id}/erase`)).toEqual({ command: "EraseUser", target: id });
    expect(commandOf("POST", `/admin/users/${id}/corrections/`)).toEqual({ command: "CorrectUser", target: id });
    expect(commandOf("POST", `/admin/users/${id}/replay`)).toBeNull();
  });

  it("words a validation's reason from the schema's field names, a key the caller made up as *", () => {
    const error = requestValidationError([
      { loc: ["body", "email"], msg: "value is not a valid email address: secret", type: "value_error" },
      { loc: ["body", "my password is hunter2"], msg: "Extra inputs are not permitted", type: "extra_forbidden" },
      { loc: ["body", "username"], msg: "x", type: "string too short!" },
    ]);
    expect(reasonOf(error, 422)).toBe(
      "RequestValidationError:body.email:value_error,body.*:extra_forbidden,body.username:*",
    );
    expect(reasonOf(new Error("boom"), 422)).toBe("RequestValidationError:body:model_attributes_type");
    expect(reasonOf(httpError(403, "Insufficient permissions. Admin role required."), 403)).toBe("admin_required");
  });

  it("a failing journal write is logged, the response unchanged", async () => {
    // The app's own middleware, as deployed: a PUT without a token is a refused command.
    const app = createApp();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const broken = { ...env, DB: { batch: () => Promise.reject(new Error("D1 is down")) } } as unknown as Env;
      const res = await app.request(
        `/v1/users/${crypto.randomUUID()}`,
        { method: "PUT", headers: { "X-Request-Id": "r-1", "content-type": "application/json" }, body: "{}" },
        broken,
      );
      expect(res.status).toBe(401);
      expect(res.headers.get("X-Request-Id")).toBe("r-1");
      await vi.waitUntil(() => warn.mock.calls.some(([line]) => String(line).includes("refusal not journaled")));
      expect(String(warn.mock.calls[0]?.[0])).toContain('"request_id":"r-1"');
    } finally {
      warn.mockRestore();
    }
  });
});
