import { beforeAll, describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser } from "../support/api";
import type { UserView, UserListBody as UserList } from "../support/types";

const TOTAL = 200;
const CHUNK = 50;
const PAGE_SIZE = 7;
const prefix = `pg${Date.now().toString(36)}x`;

let admin: string;
const created: { id: string; username: string }[] = [];

beforeAll(async () => {
  ({ token: admin } = await adminSession());
  for (let start = 0; start < TOTAL; start += CHUNK) {
    const chunk = Array.from({ length: Math.min(CHUNK, TOTAL - start) }, (_, i) =>
      createUser(admin, {
        username: `${prefix}${String(start + i).padStart(3, "0")}`,
        email: `${prefix}${start + i}@example.com`,
      }),
    );
    created.push(...(await Promise.all(chunk)));
  }
}, 120_000);

async function page(n: number, size: number, username = prefix) {
  const res = await call<UserList>("GET", `/v1/users/?page=${n}&page_size=${size}&username=${username}`, {
    token: admin,
  });
  expect(res.status).toBe(200);
  return res.body;
}

describe("200 users created concurrently", () => {
  it("all reach the list, then paging by 7 returns each exactly once in (created_at, id) order", async () => {
    expect(new Set(created.map((u) => u.id)).size).toBe(TOTAL);
    await vi.waitUntil(async () => (await page(1, 100)).count === TOTAL, { timeout: 60_000, interval: 100 });

    // Another user whose name does not match the filter is not counted.
    expect((await page(1, 100, `${prefix}000`)).count).toBe(1);

    const pages = Math.ceil(TOTAL / PAGE_SIZE);
    const seen: UserView[] = [];
    for (let n = 1; n <= pages; n++) {
      const body = await page(n, PAGE_SIZE);
      expect(body).toMatchObject({ count: TOTAL, page: n, page_size: PAGE_SIZE });
      expect(body.results).toHaveLength(n < pages ? PAGE_SIZE : TOTAL - PAGE_SIZE * (pages - 1));
      expect(body.next).toBe(n < pages ? `/users/?page=${n + 1}&page_size=${PAGE_SIZE}&username=${prefix}` : null);
      expect(body.previous).toBe(n > 1 ? `/users/?page=${n - 1}&page_size=${PAGE_SIZE}&username=${prefix}` : null);
      seen.push(...body.results);
    }
    expect(await page(pages + 1, PAGE_SIZE)).toMatchObject({ count: TOTAL, results: [], next: null });

    const ids = seen.map((u) => u.id);
    expect(new Set(ids).size).toBe(TOTAL);
    expect(new Set(ids)).toEqual(new Set(created.map((u) => u.id)));
    const ordered = [...seen].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
    expect(ids).toEqual(ordered.map((u) => u.id));
    expect(seen.every((u) => u.username.startsWith(prefix) && u.revision === 1)).toBe(true);

    // Stable: the same walk again gives the same sequence.
    const again: string[] = [];
    for (let n = 1; n <= pages; n++) again.push(...(await page(n, PAGE_SIZE)).results.map((u) => u.id));
    expect(again).toEqual(ids);
  }, 90_000);

  it("the filter is a case-insensitive substring", async () => {
    await vi.waitUntil(async () => (await page(1, 100)).count === TOTAL, { timeout: 60_000, interval: 100 });
    const upper = await page(1, 5, prefix.toUpperCase());
    expect(upper.count).toBe(TOTAL);
    expect(upper.next).toBe(`/users/?page=2&page_size=5&username=${prefix.toUpperCase()}`);
    const byEmail = await call<UserList>("GET", `/v1/users/?email=${prefix}19&page_size=100`, { token: admin });
    // 19 and 190..199
    expect(byEmail.body.count).toBe(11);
  }, 90_000);

  it("a walk by next_cursor sees every user once, in order, while users are deleted and created behind and ahead of it", async () => {
    await vi.waitUntil(async () => (await page(1, 100)).count === TOTAL, { timeout: 60_000, interval: 100 });
    const all = [...(await allPages())];
    const walk = async (cursor: string | null, n: number) => {
      const res = await call<UserList>(
        "GET",
        `/v1/users/?page=${n}&page_size=${PAGE_SIZE}&username=${prefix}${cursor ? `&cursor=${cursor}` : ""}`,
        { token: admin },
      );
      expect(res.status).toBe(200);
      return res.body;
    };
    const seen: string[] = [];
    let body = await walk(null, 1);
    seen.push(...body.results.map((u) => u.id));
    body = await walk(body.next_cursor, 2);
    seen.push(...body.results.map((u) => u.id));
    // Two users already seen and three not yet reached are deleted; three are created (last in order).
    const gone = [all[0]!, all[10]!, all[50]!, all[120]!, all[199]!];
    for (const id of gone) expect((await call("DELETE", `/v1/users/${id}/`, { token: admin })).status).toBe(200);
    const added = await Promise.all(
      [0, 1, 2].map((i) => createUser(admin, { username: `${prefix}new${i}`, email: `${prefix}new${i}@example.com` })),
    );
    const expectedCount = TOTAL - gone.length + added.length;
    // Every delete and create projected: the count alone is also right with three deletes and one
    // create in, which four queues made happen (a walk then ended before the other creates landed).
    const settled = [...all.filter((id) => !gone.includes(id)), ...added.map((u) => u.id)].join();
    await vi.waitUntil(async () => (await allPages()).join() === settled, { timeout: 60_000, interval: 100 });
    for (let n = 3; body.next_cursor; n++) {
      body = await walk(body.next_cursor, n);
      expect(body.count).toBe(expectedCount);
      seen.push(...body.results.map((u) => u.id));
    }
    // Nothing skipped (OFFSET would have skipped two: the pages after the deleted ones moved up).
    expect(new Set(seen).size).toBe(seen.length);
    const expected = [...all.filter((id) => !gone.slice(2).includes(id)), ...added.map((u) => u.id)];
    expect(seen).toEqual(expected);
  }, 120_000);
});

/** Every user of this file in list order, by page. */
async function allPages(): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 1; ; n++) {
    const body = await page(n, 100);
    ids.push(...body.results.map((u) => u.id));
    if (!body.next) return ids;
  }
}
