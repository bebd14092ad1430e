import { exports } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { LIMITS } from "../../src/live/protocol";
import { adminSession, call, createUser, login } from "../support/api";
import { expectError } from "../http/helpers";
import { watcherOf } from "./helpers";

/** Through the Worker: who may open a live socket, with which credential. */

function open(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return exports.default.fetch(`http://localhost${path}`, { headers: { Upgrade: "websocket", ...headers } });
}

async function errorOf(res: Response) {
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

let admin: Awaited<ReturnType<typeof adminSession>>;
beforeAll(async () => {
  admin = await adminSession();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("GET /v1/users/{id}/events/live", () => {
  it("answers 401 before any upgrade without a credential, with a bad token or a bad ticket", async () => {
    const user = await createUser(admin.token);
    const path = `/v1/users/${user.id}/events/live`;
    expectError(await errorOf(await open(path)), 401, { message: "Not authenticated" });
    expectError(await errorOf(await open(path, bearer("not-a-jwt"))), 401, { type: "HTTPException" });
    expectError(await errorOf(await open(`${path}?ticket=${user.id}.forged`)), 401, { type: "HTTPException" });
    expectError(await errorOf(await open(`${path}?ticket=garbage`)), 401, { type: "HTTPException" });
  });

  it("lets a user watch its own stream with its bearer token", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const watcher = watcherOf(await open(`/v1/users/${user.id}/events/live?from_revision=1`, bearer(token)));
    await vi.waitUntil(() => watcher.caughtUp());
    expect(watcher.frames).toEqual([
      expect.objectContaining({ event_type: "USER_CREATED", revision: 1, aggregate_id: user.id }),
      expect.objectContaining({ event_type: "USER_LOGGED_IN", revision: 2, aggregate_id: user.id }),
      { type: "caught_up", revision: 2 },
    ]);
    const put = await call("PUT", `/v1/users/${user.id}/`, { token, body: { first_name: "Live" } });
    expect(put.status).toBe(200);
    await watcher.until(3);
    watcher.ws.close(1000, "done");
  });

  it("does not let a user watch another user (403), but an admin may", async () => {
    const [alice, bob] = [await createUser(admin.token), await createUser(admin.token)];
    const token = await login(alice.username);
    const res = await open(`/v1/users/${bob.id}/events/live`, bearer(token));
    expectError(await errorOf(res), 403, { type: "HTTPException" });
    const byAdmin = watcherOf(await open(`/v1/users/${bob.id}/events/live?from_revision=1`, bearer(admin.token)));
    await vi.waitUntil(() => byAdmin.caughtUp());
    expect(byAdmin.revisions()).toEqual([1]);
    byAdmin.ws.close(1000, "done");
  });

  it("answers 426 to a plain GET, 422 to a from_revision past the end, 404 for no such user", async () => {
    const user = await createUser(admin.token);
    const path = `/v1/users/${user.id}/events/live`;
    const plain = await exports.default.fetch(`http://localhost${path}`, { headers: bearer(admin.token) });
    expectError(await errorOf(plain), 426, { type: "UpgradeRequired" });
    const past = await errorOf(await open(`${path}?from_revision=3`, bearer(admin.token)));
    expectError(past, 422, { type: "RequestValidationError" });
    expect(past.body).toMatchObject({ details: [{ loc: ["query", "from_revision"] }] });
    const nobody = await open(`/v1/users/${crypto.randomUUID()}/events/live`, bearer(admin.token));
    expectError(await errorOf(nobody), 404, { type: "HTTPException" });
    expectError(await errorOf(await open(`${path}?from_revision=0`, bearer(admin.token))), 422, {
      type: "RequestValidationError",
    });
  });
});

describe("POST /v1/auth/ticket/", () => {
  async function ticketFor(token: string): Promise<string> {
    const res = await call<{ ticket: string; expires_in: number }>("POST", "/v1/auth/ticket/", { token });
    expect(res.status).toBe(200);
    expect(res.body.expires_in).toBe(LIMITS.ticketSeconds);
    return res.body.ticket;
  }

  it("needs a bearer token", async () => {
    expectError(await call("POST", "/v1/auth/ticket/"), 401, { message: "Not authenticated" });
  });

  it("refuses a token its user no longer accepts, at once: 401 as from any route", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    await ticketFor(token);
    expect((await call("POST", `/v1/users/${user.id}/suspend/`, { token: admin.token })).status).toBe(200);
    expectError(await call("POST", "/v1/auth/ticket/", { token }), 401, { message: "User not found" });
  });

  it("gives a ticket that opens a socket once", async () => {
    const user = await createUser(admin.token);
    const ticket = await ticketFor(await login(user.username));
    expect(ticket.split(".")).toHaveLength(2); // `<user id>.<secret>`, never the token itself
    const path = `/v1/users/${user.id}/events/live?ticket=${encodeURIComponent(ticket)}`;
    const watcher = watcherOf(await open(path));
    await vi.waitUntil(() => watcher.caughtUp());
    expectError(await errorOf(await open(path)), 401, { message: "Invalid, used or expired ticket" });
    watcher.ws.close(1000, "done");
  });

  it("is bound to the caller: another user's stream stays closed to it", async () => {
    const [alice, bob] = [await createUser(admin.token), await createUser(admin.token)];
    const ticket = await ticketFor(await login(alice.username));
    const res = await open(`/v1/users/${bob.id}/events/live?ticket=${encodeURIComponent(ticket)}`);
    expectError(await errorOf(res), 403, { type: "HTTPException" });
  });

  it(`expires after ${LIMITS.ticketSeconds} s`, async () => {
    const user = await createUser(admin.token);
    const ticket = await ticketFor(await login(user.username));
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + LIMITS.ticketSeconds * 1000 });
    const res = await open(`/v1/users/${user.id}/events/live?ticket=${encodeURIComponent(ticket)}`);
    expectError(await errorOf(res), 401, { message: "Invalid, used or expired ticket" });
  });
});

describe("GET /admin/events/live", () => {
  it("is for admins: 401 without a credential, 403 for a user, a socket for an admin", async () => {
    expectError(await errorOf(await open("/admin/events/live")), 401, { message: "Not authenticated" });
    const user = await createUser(admin.token);
    const res = await open("/admin/events/live", bearer(await login(user.username)));
    expectError(await errorOf(res), 403, { type: "HTTPException" });
    const feed = watcherOf(await open("/admin/events/live", bearer(admin.token)));
    expect(feed.closed).toBeNull();
    feed.ws.close(1000, "done");
  });
});
