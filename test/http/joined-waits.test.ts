import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { waitingNow } from "../../src/read/read-your-writes";
import { adminSession, call, createUser, login } from "../support/api";
import { expectError } from "./helpers";
import { readDb } from "../support/shards";

/**
 * A waiting read for a user this isolate already waits for joins those waiters without a D1 read
 * of its own (decision 0020, "Amendment: reads that join"). What its client sees must not change:
 * the row once it arrives, and a refused token refused (401), never a 200 or a 503 before the
 * caller's row was read for it.
 */

const REFUSED = { error: "HTTP Error", message: "User not found", type: "HTTPException" };

let admin: { id: string; token: string };

beforeAll(async () => {
  admin = await adminSession();
});

async function setRow(id: string, columns: string) {
  await readDb(id).prepare(`UPDATE users SET ${columns} WHERE id = ?`).bind(id).run();
}

const waitersAre = (n: number) => vi.waitUntil(() => waitingNow().waiters === n, { timeout: 2_000, interval: 5 });

/**
 * `path` read with `token`, returned once that read has joined the admin's (the isolate's waiters
 * are `before + 2`): its answer, still to come, in `joined`.
 */
async function joinAs(token: string, path: string, before: number) {
  const joined = call("GET", path, { token });
  await waitersAre(before + 2);
  return { joined };
}

/** A user whose row is a revision behind its stream (as if lagging), waited for by the admin. */
async function waitedFor() {
  const user = await createUser(admin.token);
  const path = `/v1/users/${user.id}/?min_revision=1`;
  await vi.waitUntil(async () => (await call("GET", path, { token: admin.token })).status === 200, {
    timeout: 5_000,
    interval: 10,
  });
  await setRow(user.id, "revision = 0");
  const before = waitingNow().waiters;
  const first = call("GET", path, { token: admin.token });
  await waitersAre(before + 1);
  return { user, path, first, before };
}

/** A user's own session, its login projected (so its row speaks for its token). */
async function userSession() {
  const me = await createUser(admin.token);
  const token = await login(me.username);
  await vi.waitUntil(
    async () =>
      ((await readDb(me.id).prepare("SELECT revision FROM users WHERE id = ?").bind(me.id).first<number>("revision")) ??
        0) >= 2,
    { timeout: 5_000, interval: 10 },
  );
  return { ...me, token };
}

describe("a waiting read that joins the isolate's waiters", () => {
  it("answers the row once it arrives, as the read it joined does", async () => {
    const me = await userSession();
    const { user, path, first, before } = await waitedFor();
    const { joined } = await joinAs(me.token, path, before);
    await setRow(user.id, "revision = 1");
    for (const res of [await first, await joined]) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ user: { id: user.id } });
    }
  });

  it("a caller its row refuses gets 401 once the shared look read that row, not a 503 at the deadline", async () => {
    const me = await userSession();
    const { user, path, first, before } = await waitedFor();
    await setRow(me.id, "tokens_valid_from = 1000");
    const started = Date.now();
    // It joins (a plain read is refused before it waits), and is refused well before the 2 s wait ends.
    const { joined } = await joinAs(me.token, path, before);
    expectError(await joined, 401, REFUSED);
    expect(Date.now() - started).toBeLessThan(1_500);
    await setRow(user.id, "revision = 1");
    expect((await first).status).toBe(200);
  });

  it("a suspended caller is refused even when the row it waited for arrives", async () => {
    const me = await userSession();
    const { user, path, first, before } = await waitedFor();
    await setRow(me.id, "status = 'suspended'");
    const { joined } = await joinAs(me.token, path, before);
    await setRow(user.id, "revision = 1");
    expectError(await joined, 401, REFUSED);
    expect((await first).status).toBe(200);
  });

  it("still times out with a 503 and Retry-After, its caller confirmed", async () => {
    const me = await userSession();
    const { path, first, before } = await waitedFor();
    const { joined } = await joinAs(me.token, path, before);
    const res = await joined;
    expectError(res, 503, { type: "ServiceUnavailable" });
    expect(["1", "2", "3"]).toContain(res.headers.get("Retry-After"));
    expect((await first).status).toBe(503);
  });

  it("a joiner's 200 carries a bookmark like a plain waiter's", async () => {
    const me = await userSession();
    const { user, path, first, before } = await waitedFor();
    const { joined } = await joinAs(me.token, path, before);
    await setRow(user.id, "revision = 1");
    expect((await first).status).toBe(200);
    const b = await joined;
    expect(b.status).toBe(200);
    expect(b.headers.get("x-d1-bookmark")).not.toBeNull();
  });

  it("a deleted caller joining gets 401", async () => {
    const me = await userSession();
    const { user, path, first, before } = await waitedFor();
    await setRow(me.id, "status = 'deleted'");
    const { joined } = await joinAs(me.token, path, before);
    await setRow(user.id, "revision = 1");
    expect((await joined).status).toBe(401);
    expect((await first).status).toBe(200);
  });

  it("a joiner that hangs up gives back its place and leaves", async () => {
    const me = await userSession();
    const { user, path, first, before } = await waitedFor();
    const places = waitingNow().places;
    const left = new AbortController();
    const joined = exports.default
      .fetch(`http://localhost${path}`, { headers: { Authorization: `Bearer ${me.token}` }, signal: left.signal })
      .catch((e: unknown) => e);
    await waitersAre(before + 2);
    expect(waitingNow().places).toBe(places + 1);
    left.abort();
    await joined;
    await waitersAre(before + 1);
    expect(waitingNow().places).toBe(places);
    await setRow(user.id, "revision = 1");
    expect((await first).status).toBe(200);
    await vi.waitUntil(() => waitingNow().places === places - 1 || waitingNow().waiters === before, { timeout: 3_000 });
  });
});
