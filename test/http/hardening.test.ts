import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { identityKey } from "../../src/domain/rules";
import { identityRegistry } from "../../src/write/identity-shards";
import { claimRows } from "../write/helpers";
import { MAX_WAITING, waitingNow } from "../../src/read/read-your-writes";
import { COME_BACK_BUDGET, COME_BACK_CAP_S } from "../../src/read/retry-after";
import worker from "../../src/index";
import { adminSession, call, createUser, login } from "../support/api";
import { PASSWORD, newUserBody, uniqueName } from "../support/builders";
import { craftToken, eventTypes, expectError, nowSeconds, occupyWaiting, streamOf } from "./helpers";
import { readDb } from "../support/shards";

/** Each item of issue 10's "Seen, to fix", sent over HTTP: the clear error, and nothing written. */

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

describe("If-Match with an empty or whitespace value", () => {
  // Locally such a header never reaches the Worker (workerd drops empty standard headers, through
  // `wrangler dev` and SELF.fetch alike); where it does arrive, the Worker answers 400. So the
  // request goes to the exported handler directly, as the platform would hand it over.
  it.each(["", "   "])("%j: 400, nothing appended", async (value) => {
    const user = await createUser(admin.token);
    const request = new Request(`http://localhost/v1/users/${user.id}/`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${admin.token}`, "Content-Type": "application/json", "If-Match": value },
      body: JSON.stringify({ first_name: "Blank" }),
    });
    // Headers trims the value; the header is still there, empty, as the platform hands it over.
    expect(request.headers.has("If-Match")).toBe(true);
    const ctx = createExecutionContext();
    const res = await worker.fetch(request, env, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "Bad Request", type: "ContentTypeError" });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });
});

describe("identities", () => {
  it.each([
    ["a lone surrogate", "ab\uD800cd"],
    ["zero-width spaces only", "\u200B\u200B\u200B"],
    ["a NUL byte", "ad\u0000min"],
    ["a line break", "line1\nline2"],
    ["a right-to-left override", "abc\u202Edef"],
    ["an emoji and a letter (two characters)", "😀a"],
  ])("a username with %s: 422, nobody created", async (_label, username) => {
    const res = await call("POST", "/v1/users/", { token: admin.token, body: newUserBody(username) });
    expect([422]).toContain(res.status);
    expect(res.body).toMatchObject({ error: expect.stringMatching(/Validation Error/) });
    const key = identityKey("username", username);
    expect(await identityRegistry(env).holder(key)).toBeNull();
  });

  it("a look-alike of a taken username is taken: Cyrillic, fullwidth, invisible-free variants", async () => {
    const name = `admin${uniqueName("x").slice(1)}`;
    await createUser(admin.token, { username: name, email: `${name}@example.com` });
    for (const lookalike of [`а${name.slice(1)}` /* Cyrillic а */, name.toUpperCase().replace("I", "l")]) {
      const res = await call("POST", "/v1/users/", { token: admin.token, body: newUserBody(lookalike) });
      expectError(res, 409, { type: "UsernameAlreadyExistsError" });
    }
  });
});

describe("read-your-writes", () => {
  it("min_revision for an unknown user: 404 at once, not 503", async () => {
    const res = await call("GET", `/v1/users/${crypto.randomUUID()}/?min_revision=1`, { token: admin.token });
    expectError(res, 404, { error: "HTTP Error" });
  });

  it("min_revision ahead of the user's stream: 422 naming the stream's revision", async () => {
    const user = await createUser(admin.token);
    const res = await call("GET", `/v1/users/${user.id}/?min_revision=99`, { token: admin.token });
    expectError(res, 422, { details: { field: "min_revision", current_revision: 1 } });
  });

  it("past the isolate's waiting places: 503 in the contract's envelope with Retry-After, one place short is enough", async () => {
    const user = await createUser(admin.token);
    expect((await call("GET", `/v1/users/${user.id}/?min_revision=1`, { token: admin.token })).status).toBe(200);
    await readDb(user.id).prepare("UPDATE users SET revision = 0 WHERE id = ?").bind(user.id).run();
    // Every place but one taken: the read waits in the last one, and the row arriving answers it.
    const release = occupyWaiting(MAX_WAITING - 1);
    try {
      const waiting = call("GET", `/v1/users/${user.id}/?min_revision=1`, { token: admin.token });
      await readDb(user.id).prepare("UPDATE users SET revision = 1 WHERE id = ?").bind(user.id).run();
      expect((await waiting).status).toBe(200);
    } finally {
      release();
    }
    expect(MAX_WAITING).toBeGreaterThanOrEqual(300); // a crowd of 300 waits rather than being turned away
  });

  it("when the isolate's waiting places are taken: 503 with Retry-After (1 to 3 s) at once", async () => {
    const user = await createUser(admin.token);
    expect((await call("GET", `/v1/users/${user.id}/?min_revision=1`, { token: admin.token })).status).toBe(200);
    // The read model is behind again (as if lagging), and every waiting place is taken.
    await readDb(user.id).prepare("UPDATE users SET revision = 0 WHERE id = ?").bind(user.id).run();
    const release = occupyWaiting(MAX_WAITING);
    try {
      const res = await call("GET", `/v1/users/${user.id}/?min_revision=1`, { token: admin.token });
      expectError(res, 503, { type: "ServiceUnavailable" });
      // Drawn per answer, so a crowd turned away together does not come back together.
      expect(["1", "2", "3"]).toContain(res.headers.get("Retry-After"));
    } finally {
      release();
      await readDb(user.id).prepare("UPDATE users SET revision = 1 WHERE id = ?").bind(user.id).run();
    }
  });

  it("when many are turned away, later ones are told to come back later, the crowd spread under the budget", async () => {
    const user = await createUser(admin.token);
    expect((await call("GET", `/v1/users/${user.id}/?min_revision=1`, { token: admin.token })).status).toBe(200);
    await readDb(user.id).prepare("UPDATE users SET revision = 0 WHERE id = ?").bind(user.id).run();
    const release = occupyWaiting(MAX_WAITING);
    // A crowd of more than 3 s of the budget: with a 1 to 3 s draw, all would be told 3 s at most.
    const told = await (async () => {
      try {
        const crowd = Array.from({ length: 4 * COME_BACK_BUDGET + 1 }, () =>
          call("GET", `/v1/users/${user.id}/?min_revision=1`, { token: admin.token }),
        );
        return (await Promise.all(crowd)).map((res) => {
          expectError(res, 503, { type: "ServiceUnavailable" });
          return Number(res.headers.get("Retry-After"));
        });
      } finally {
        release();
        await readDb(user.id).prepare("UPDATE users SET revision = 1 WHERE id = ?").bind(user.id).run();
      }
    })();
    expect(Math.max(...told)).toBeGreaterThan(3);
    expect(Math.max(...told)).toBeLessThanOrEqual(COME_BACK_CAP_S);
    // Told within a second or two of each other: no one value more than two seconds' budget.
    for (const s of new Set(told)) expect(told.filter((t) => t === s).length).toBeLessThanOrEqual(2 * COME_BACK_BUDGET);
  });
});

describe("a waiting read whose client hangs up", () => {
  it("gives its waiting place back at its next tick, not at its deadline (request.signal)", async () => {
    const user = await createUser(admin.token);
    expect((await call("GET", `/v1/users/${user.id}/?min_revision=1`, { token: admin.token })).status).toBe(200);
    await readDb(user.id).prepare("UPDATE users SET revision = 0 WHERE id = ?").bind(user.id).run();
    const before = waitingNow();
    const hangUp = new AbortController();
    try {
      const waiting = exports.default
        .fetch(`http://localhost/v1/users/${user.id}/?min_revision=1`, {
          headers: { Authorization: `Bearer ${admin.token}` },
          signal: hangUp.signal,
        })
        .catch(() => "hung up");
      await vi.waitUntil(() => waitingNow().waiters === before.waiters + 1, { timeout: 1_000, interval: 5 });
      expect(waitingNow().places).toBe(before.places + 1);
      hangUp.abort();
      expect(await waiting).toBe("hung up");
      // The wait is 2 s (READ_YOUR_WRITES_WAIT_MS): well before it, waiter and place are gone. Without
      // `enable_request_signal` neither ever goes: the cancelled request never reaches its `finally`.
      await vi.waitUntil(() => waitingNow().waiters === before.waiters, { timeout: 1_000, interval: 5 });
      expect(waitingNow().places).toBe(before.places);
    } finally {
      await readDb(user.id).prepare("UPDATE users SET revision = 1 WHERE id = ?").bind(user.id).run();
    }
  });
});

describe("storage nobody asked for", () => {
  const ours = (stub: unknown) =>
    (
      runInDurableObject as unknown as (
        s: unknown,
        f: (i: unknown, st: DurableObjectState) => string[],
      ) => Promise<string[]>
    )(stub, (_i, state) =>
      state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .toArray()
        .map((row) => row.name)
        .filter((name) => !name.startsWith("__miniflare") && !name.startsWith("_cf_")),
    );

  it("a login with an unknown username stores nothing for that name", async () => {
    const username = uniqueName("nobody");
    expectError(await call("POST", "/v1/auth/login/", { body: { username, password: "x" } }), 401, {});
    const key = identityKey("username", username);
    expect(await claimRows(key)).toEqual([]);
    expect(await ours(env.IDENTITY_REGISTRY.getByName(key))).toEqual([]);
  });

  it("history, events, stream export and replay of an unknown id: 404, and no object stored", async () => {
    const id = crypto.randomUUID();
    expectError(await call("GET", `/v1/users/${id}/events/`, { token: admin.token }), 404, {});
    expectError(await call("GET", `/v1/users/${id}/history/?revision=1`, { token: admin.token }), 404, {});
    expectError(await call("GET", `/admin/users/${id}/stream`, { token: admin.token }), 404, {});
    expectError(await call("POST", `/admin/users/${id}/replay`, { token: admin.token }), 404, {});
    expect(await ours(env.USER_STREAM.getByName(id))).toEqual([]);
  });
});

describe("tokens", () => {
  it("a token without exp: 401", async () => {
    const user = await createUser(admin.token);
    const token = await craftToken({ user_id: user.id, username: user.username, role: "user", exp: null });
    expectError(await call("GET", "/v1/users/", { token }), 401, {});
  });

  it("a token issued before a password change: 401, even though the user is active", async () => {
    const user = await createUser(admin.token);
    const old = await login(user.username);
    const changed = await call("PUT", `/v1/users/${user.id}/password/`, {
      token: old,
      body: { current_password: PASSWORD, new_password: "another-pass-77" },
    });
    expect(changed.status).toBe(200);
    expectError(await call("GET", "/v1/users/", { token: old }), 401, {});
    expect((await call("GET", "/v1/users/", { token: await login(user.username, "another-pass-77") })).status).toBe(
      200,
    );
  });

  it("a deleted and restored user's old token stays dead", async () => {
    const user = await createUser(admin.token);
    const old = await login(user.username);
    expect((await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);
    const restored = await call("POST", `/v1/users/${user.id}/restore/`, {
      token: admin.token,
      body: { reason: "deleted by accident" },
    });
    expect(restored.status).toBe(200);
    expectError(await call("GET", "/v1/users/", { token: old }), 401, {});
  });
});

describe("restore over HTTP", () => {
  it("a deleted user comes back; a live one is 422; a name taken meanwhile is 409 naming it", async () => {
    const user = await createUser(admin.token);
    expectError(
      await call("POST", `/v1/users/${user.id}/restore/`, { token: admin.token, body: { reason: "r" } }),
      422,
      { error: "Business Rule Violation", details: { rule: "user_not_deleted", user_id: user.id } },
    );
    expect((await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);
    await createUser(admin.token, { username: user.username, email: `other-${user.email}` });
    const clash = await call("POST", `/v1/users/${user.id}/restore/`, { token: admin.token, body: { reason: "r" } });
    expectError(clash, 409, { type: "UsernameAlreadyExistsError", details: { username: user.username } });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_DELETED"]);
  });

  it("needs a reason and the delete scope", async () => {
    const user = await createUser(admin.token);
    expect((await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);
    expectError(await call("POST", `/v1/users/${user.id}/restore/`, { token: admin.token, body: {} }), 422, {
      type: "RequestValidationError",
    });
    const other = await createUser(admin.token);
    expectError(
      await call("POST", `/v1/users/${user.id}/restore/`, {
        token: await login(other.username),
        body: { reason: "r" },
      }),
      403,
      {},
    );
    const ok = await call("POST", `/v1/users/${user.id}/restore/`, { token: admin.token, body: { reason: "oops" } });
    expect(ok.status).toBe(200);
    const last = (await streamOf(user.id)).at(-1);
    expect(last).toMatchObject({ event_type: "USER_RESTORED", data: { reason: "oops", status: "active" } });
    expect(last?.metadata).toMatchObject({ actor_id: admin.id, reason: "oops" });
  });
});

describe("idempotency keys", () => {
  it("a key first used by an admin, then by the user: the user's request is its own, not a replay", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const key = crypto.randomUUID();
    const body = { first_name: "Same" };
    const byAdmin = await call("PUT", `/v1/users/${user.id}/`, {
      token: admin.token,
      body,
      headers: { "Idempotency-Key": key },
    });
    const byUser = await call("PUT", `/v1/users/${user.id}/`, { token, body, headers: { "Idempotency-Key": key } });
    expect(byAdmin.status).toBe(200);
    expect(byUser.status).toBe(200);
    expect(byUser.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_UPDATED", "USER_UPDATED"]);
  });
});

describe("lenient parsing", () => {
  it.each(["application/json-patch+json", "application/json; charset=utf-16", "text/plain"])(
    "a body labelled %j creates nobody: 422",
    async (contentType) => {
      const body = newUserBody();
      const res = await call("POST", "/v1/users/", {
        token: admin.token,
        raw: JSON.stringify(body),
        headers: { "Content-Type": contentType },
      });
      expectError(res, 422, { type: "RequestValidationError" });
      const key = identityKey("username", body.username);
      expect(await identityRegistry(env).holder(key)).toBeNull();
    },
  );

  it.each(["page=0x10", "page=1e1", "page_size=%205", "page=+2", "username=%00", "email=a%0Ab"])(
    "the list refuses %s: 422",
    async (query) => {
      expectError(await call("GET", `/v1/users/?${query}`, { token: admin.token }), 422, {
        type: "RequestValidationError",
      });
    },
  );

  it("a lone surrogate anywhere in a JSON body: 422, nothing appended", async () => {
    const user = await createUser(admin.token);
    const res = await call("POST", `/v1/users/${user.id}/suspend/`, {
      token: admin.token,
      raw: '{"reason":"abuse \\ud800"}',
      headers: { "Content-Type": "application/json" },
    });
    expectError(res, 422, { details: [{ loc: ["body", "reason"], type: "string_unicode" }] });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("an unreadable timestamp: 400 saying what is wrong with it", async () => {
    const user = await createUser(admin.token);
    const res = await call("GET", `/v1/users/${user.id}/history/?timestamp=3:47PM`, { token: admin.token });
    const body = expectError(res, 400, { error: "Bad Request" });
    expect(body.message).toContain("timestamp");
    expect(body.message).toContain("3:47PM");
    expect(body.message).toContain("ISO 8601");
  });
});

describe("the audit trail's parameters", () => {
  it("from_timestamp and to_timestamp select events; an unknown parameter is 422, not ignored", async () => {
    const user = await createUser(admin.token);
    await call("PUT", `/v1/users/${user.id}/`, { token: admin.token, body: { first_name: "Later" } });
    const all = await streamOf(user.id);
    const second = all[1]!.timestamp;
    const from = await call<any>("GET", `/v1/users/${user.id}/events/?from_timestamp=${encodeURIComponent(second)}`, {
      token: admin.token,
    });
    expect(from.status).toBe(200);
    expect(from.body.results.map((e: { revision: number }) => e.revision).every((r: number) => r >= 2)).toBe(true);
    const to = await call<any>(
      "GET",
      `/v1/users/${user.id}/events/?to_timestamp=${encodeURIComponent(all[0]!.timestamp)}`,
      {
        token: admin.token,
      },
    );
    expect(to.body.results[0]).toMatchObject({ revision: 1 });
    expectError(await call("GET", `/v1/users/${user.id}/events/?since=2026-01-01`, { token: admin.token }), 422, {
      type: "RequestValidationError",
    });
    expectError(await call("GET", `/v1/users/${user.id}/events/?from_timestamp=3:47PM`, { token: admin.token }), 400, {
      error: "Bad Request",
    });
  });

  it("another user's trail: 403 with a read's message", async () => {
    const [owner, other] = [await createUser(admin.token), await createUser(admin.token)];
    const res = await call("GET", `/v1/users/${owner.id}/events/`, { token: await login(other.username) });
    expectError(res, 403, { message: "Insufficient permissions. You can only read your own user data." });
  });
});

describe("logins in the trail", () => {
  it("each successful login appends USER_LOGGED_IN {method}; a failed one appends nothing", async () => {
    const user = await createUser(admin.token);
    await login(user.username);
    expect(
      (await call("POST", "/v1/auth/login/", { body: { username: user.username, password: "wrong" } })).status,
    ).toBe(401);
    const res = await call<any>("POST", "/v1/auth/login/", { body: { username: user.username, password: PASSWORD } });
    const events = await streamOf(user.id);
    expect(events.map((e) => e.event_type)).toEqual(["USER_CREATED", "USER_LOGGED_IN", "USER_LOGGED_IN"]);
    expect(events[2]!.data).toEqual({ method: "password" });
    expect(res.body.user.last_login_at).toBe(events[2]!.timestamp);
  });

  it("login is by the normalised name: fullwidth letters log in as their ASCII user", async () => {
    const name = uniqueName("wide");
    await createUser(admin.token, { username: name, email: `${name}@example.com` });
    const wide = [...name].map((ch) => String.fromCodePoint(ch.codePointAt(0)! + 0xfee0)).join("");
    expect((await call("POST", "/v1/auth/login/", { body: { username: wide, password: PASSWORD } })).status).toBe(200);
  });
});

it("tokens are checked against the current time too", async () => {
  const user = await createUser(admin.token);
  const expired = await craftToken({ user_id: user.id, username: user.username, role: "user", exp: nowSeconds() - 10 });
  expectError(await call("GET", "/v1/users/", { token: expired }), 401, {});
});
