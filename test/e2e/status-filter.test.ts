import { beforeAll, describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { uniqueName } from "../support/builders";
import type { UserListBody as UserList } from "../support/types";

/** `GET /v1/users/?status=`: deleted users findable by their last username, for admins only. */

const prefix = uniqueName("sf");
let admin: string;
let active: { id: string; username: string };
let suspended: { id: string; username: string };
let deleted: { id: string; username: string };

async function list(query: string, token = admin) {
  return call<UserList>("GET", `/v1/users/?username=${prefix}&${query}`, { token });
}

const usernames = (body: UserList) => body.results.map((u) => `${u.username}:${u.status}`).sort();

beforeAll(async () => {
  ({ token: admin } = await adminSession());
  const make = (tag: string) =>
    createUser(admin, { username: `${prefix}${tag}`, email: `${prefix}${tag}@example.com` });
  [active, suspended, deleted] = await Promise.all([make("a"), make("s"), make("d")]);
  await call("POST", `/v1/users/${suspended.id}/suspend/`, { token: admin, body: { reason: "chargeback" } });
  await call("DELETE", `/v1/users/${deleted.id}/`, { token: admin, body: { reason: "asked to leave" } });
  // Projected: the three rows exist, the suspension and the deletion applied.
  await vi.waitUntil(
    async () => {
      const rows = (await list("status=all")).body.results;
      return rows.length === 3 && rows.every((u) => u.revision === (u.id === active.id ? 1 : 2));
    },
    { timeout: 10_000, interval: 50 },
  );
});

describe("the status filter", () => {
  it("lists live users by default, and each status on request, with counts and links that keep it", async () => {
    expect(usernames((await list("")).body)).toEqual([`${active.username}:active`, `${suspended.username}:suspended`]);
    expect(usernames((await list("status=active")).body)).toEqual([`${active.username}:active`]);
    expect(usernames((await list("status=suspended")).body)).toEqual([`${suspended.username}:suspended`]);
    const gone = (await list("status=deleted")).body;
    expect(usernames(gone)).toEqual([`${deleted.username}:deleted`]);
    expect(gone.results[0]?.deleted_at).toEqual(expect.any(String));
    const all = (await list("status=all&page_size=2")).body;
    expect(all.count).toBe(3);
    expect(all.next).toBe(`/users/?page=2&page_size=2&username=${prefix}&status=all`);
  });

  it("finds an erased user only as its tombstone", async () => {
    const erased = await createUser(admin, { username: `${prefix}e`, email: `${prefix}e@example.com` });
    await call("POST", `/admin/users/${erased.id}/erase`, { token: admin, body: { reason: "GDPR request" } });
    await vi.waitUntil(
      async () =>
        (
          await call<UserList>("GET", `/v1/users/?username=erased&status=deleted&page_size=100`, { token: admin })
        ).body.results.some((u) => u.id === erased.id),
      { timeout: 10_000, interval: 50 },
    );
    expect((await list("status=all")).body.results.map((u) => u.id)).not.toContain(erased.id);
  });

  it("is refused to a plain user (403) and validated (422)", async () => {
    const userToken = await login(active.username);
    const refused = await list("status=deleted", userToken);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({
      error: "HTTP Error",
      message: "Insufficient permissions. Admin role required.",
    });
    expect((await list("status=gone")).status).toBe(422);
  });
});
