import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { eraseExpiredDeletedUsers, RETENTION_REASON } from "../../src/read/retention";
import { adminSession, call, createUser } from "../support/api";
import type { CommandBody } from "../support/types";
import { readDb } from "../support/shards";

/**
 * `DELETED_USER_RETENTION_DAYS`: the cron's sweep erases deleted users once their deletion is that
 * many days old, through the user's object like an admin's erasure, and never a user that came back.
 * The sweep takes "now" as an argument, so the days pass without waiting for them.
 */
const DAY = 86_400_000;
let admin: string;
beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

async function rowOf(id: string) {
  return readDb(id)
    .prepare("SELECT status, revision FROM users WHERE id = ?")
    .bind(id)
    .first<{ status: string; revision: number }>();
}

async function deletedUser(): Promise<{ id: string; revision: number }> {
  const user = await createUser(admin);
  const deleted = await call<CommandBody>("DELETE", `/v1/users/${user.id}/`, {
    token: admin,
    body: { reason: "left" },
  });
  expect(deleted.status).toBe(200);
  await vi.waitUntil(async () => (await rowOf(user.id))?.status === "deleted", { timeout: 20_000, interval: 50 });
  return { id: user.id, revision: deleted.body.revision };
}

async function auditOf(id: string) {
  const res = await call<{ results: { event_type: string; reason: string | null; actor_id: string | null }[] }>(
    "GET",
    `/admin/audit?user_id=${id}`,
    { token: admin },
  );
  return res.body.results;
}

describe("retention of deleted users", () => {
  it("erases a user deleted more than the period ago, with reason retention, in the audit log; not before", async () => {
    const user = await deletedUser();
    expect(await eraseExpiredDeletedUsers(env, 30, Date.now() + 29 * DAY)).toBe(0);
    expect(await eraseExpiredDeletedUsers(env, 0, Date.now() + 365 * DAY)).toBe(0);
    expect((await rowOf(user.id))?.status).toBe("deleted");

    expect(await eraseExpiredDeletedUsers(env, 30, Date.now() + 31 * DAY)).toBe(1);
    await vi.waitUntil(async () => (await rowOf(user.id))?.status === "erased", { timeout: 20_000, interval: 50 });
    await vi.waitUntil(async () => (await auditOf(user.id)).some((e) => e.event_type === "USER_ERASED"), {
      timeout: 20_000,
      interval: 50,
    });
    const erasure = (await auditOf(user.id)).find((e) => e.event_type === "USER_ERASED");
    expect(erasure).toMatchObject({ reason: RETENTION_REASON, actor_id: null });
    // Erased once: the next sweep finds nothing.
    expect(await eraseExpiredDeletedUsers(env, 30, Date.now() + 31 * DAY)).toBe(0);
  });

  it("leaves alone a user restored since the read model saw the deletion", async () => {
    const user = await deletedUser();
    const restored = await call<CommandBody>("POST", `/v1/users/${user.id}/restore`, {
      token: admin,
      body: { reason: "came back" },
    });
    expect(restored.status).toBe(200);
    await vi.waitUntil(async () => (await rowOf(user.id))?.status === "active", { timeout: 20_000, interval: 50 });
    // A read model that has not caught up yet: it still says deleted, at the deletion's revision.
    await readDb(user.id)
      .prepare("UPDATE users SET status = 'deleted', revision = ? WHERE id = ?")
      .bind(user.revision, user.id)
      .run();

    expect(await eraseExpiredDeletedUsers(env, 30, Date.now() + 31 * DAY)).toBe(0);
    const stream = await env.USER_STREAM.getByName(user.id).readStream(0, 100);
    expect(stream.map((e) => e.event_type)).toEqual(["USER_CREATED", "USER_DELETED", "USER_RESTORED"]);
  });
});
