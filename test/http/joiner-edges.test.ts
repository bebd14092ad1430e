import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { waitingNow } from "../../src/read/read-your-writes";
import { adminSession, call, createUser, login } from "../support/api";
import { readDb } from "../support/shards";

let admin: { id: string; token: string };
beforeAll(async () => {
  admin = await adminSession();
});
async function setRow(id: string, columns: string) {
  await readDb(id).prepare(`UPDATE users SET ${columns} WHERE id = ?`).bind(id).run();
}
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
  await vi.waitUntil(() => waitingNow().waiters === before + 1, { timeout: 2_000, interval: 5 });
  return { user, path, first, before };
}
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

describe("a joining read, at its edges", () => {
  it("a joiner's 200 carries a bookmark like a plain waiter's", async () => {
    const me = await userSession();
    const { user, path, first, before } = await waitedFor();
    const joined = call("GET", path, { token: me.token });
    await vi.waitUntil(() => waitingNow().waiters === before + 2, { timeout: 2_000, interval: 5 });
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
    const joined = call("GET", path, { token: me.token });
    await vi.waitUntil(() => waitingNow().waiters === before + 2, { timeout: 2_000, interval: 5 });
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
    await vi.waitUntil(() => waitingNow().waiters === before + 2, { timeout: 2_000, interval: 5 });
    expect(waitingNow().places).toBe(places + 1);
    left.abort();
    await joined;
    await vi.waitUntil(() => waitingNow().waiters === before + 1, { timeout: 2_000, interval: 5 });
    expect(waitingNow().places).toBe(places);
    await setRow(user.id, "revision = 1");
    expect((await first).status).toBe(200);
    await vi.waitUntil(() => waitingNow().places === places - 1 || waitingNow().waiters === before, { timeout: 3_000 });
  });
});
