import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { asOfSql } from "../../src/read/as-of";
import type { UsersAsOfPage } from "../../src/admin/schemas";
import { adminSession, call, createUser, login } from "../support/api";
import { uniqueName } from "../support/builders";

let admin: { id: string; token: string; username: string };
beforeAll(async () => {
  admin = await adminSession();
});

const asOf = (query: string) => call<UsersAsOfPage>("GET", `/admin/users/?${query}`, { token: admin.token });

describe("GET /admin/users/?as_of=T", () => {
  it("answers who was suspended at T and who held an email at T, after the user changed both; erasure hides the names", async () => {
    const name = uniqueName("mon");
    const email = `${name}@example.com`;
    const user = await createUser(admin.token, { username: name, email });
    const suspended = await call<{ revision: number }>("POST", `/v1/users/${user.id}/suspend`, {
      token: admin.token,
      body: { reason: "spam" },
    });
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    // The instant between the suspension and the next change: "who was suspended at 3:47 PM on Monday".
    const { body: history } = await call<{ results: { timestamp: string }[] }>("GET", `/v1/users/${user.id}/events`, {
      token: admin.token,
    });
    const t = history.results[1]!.timestamp;
    const updated = await call("PUT", `/v1/users/${user.id}`, {
      token: admin.token,
      body: { email: `new-${name}@example.com` },
    });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);

    let page: UsersAsOfPage = { results: [], next_cursor: null };
    await vi.waitUntil(
      async () => (page = (await asOf(`as_of=${t}&email=${email.toUpperCase()}`)).body).results.length === 1,
      { timeout: 10_000 },
    );
    expect(page.results[0]).toMatchObject({
      id: user.id,
      username: name,
      email,
      status: "suspended",
      role: "user",
      revision: 2,
      valid_from: t,
    });
    expect(page.results[0]!.valid_to).not.toBeNull();
    const suspendedThen = (await asOf(`as_of=${t}&status=suspended&limit=500`)).body.results.map((r) => r.id);
    expect(suspendedThen).toContain(user.id);
    // Now she holds the new email, and the old one is nobody's.
    await vi.waitUntil(
      async () => (await asOf(`as_of=${new Date().toISOString()}&email=${email}`)).body.results.length === 0,
    );

    const erased = await call("POST", `/admin/users/${user.id}/erase`, {
      token: admin.token,
      body: { reason: "GDPR" },
    });
    expect(erased.status, JSON.stringify(erased.body)).toBe(200);
    await vi.waitUntil(
      async () =>
        (await asOf(`as_of=${t}&status=suspended&limit=500`)).body.results.find((r) => r.id === user.id)?.email ===
        "[erased]",
      { timeout: 10_000 },
    );
    const [then] = (await asOf(`as_of=${t}&status=suspended&limit=500`)).body.results.filter((r) => r.id === user.id);
    expect(then).toMatchObject({ username: "[erased]", email: "[erased]", status: "suspended", role: "user" });
    expect((await asOf(`as_of=${t}&email=${email}`)).body.results).toEqual([]);
  });

  it("pages by user id with an opaque cursor", async () => {
    for (let i = 0; i < 3; i++) await createUser(admin.token);
    const t = new Date(Date.now() + 60_000).toISOString();
    await vi.waitUntil(async () => (await asOf(`as_of=${t}&limit=500`)).body.results.length >= 4, { timeout: 10_000 });
    const first = (await asOf(`as_of=${t}&limit=2`)).body;
    expect(first.results).toHaveLength(2);
    const second = (await asOf(`as_of=${t}&limit=2&cursor=${first.next_cursor}`)).body;
    expect(second.results[0]!.id > first.results[1]!.id).toBe(true);
  });

  it("refuses an unreadable instant (400), a bad filter or cursor (422), a plain user (403) and no token (401)", async () => {
    expect((await asOf("as_of=monday")).status).toBe(400);
    expect((await asOf("")).status).toBe(422);
    expect((await asOf("as_of=2030-01-01T00:00:00Z&status=sleeping")).status).toBe(422);
    expect((await asOf("as_of=2030-01-01T00:00:00Z&limit=501")).status).toBe(422);
    expect((await asOf("as_of=2030-01-01T00:00:00Z&cursor=nope")).status).toBe(422);
    expect((await asOf("as_of=2030-01-01T00:00:00Z&colour=red")).status).toBe(422);
    const plain = await createUser(admin.token);
    const token = await login(plain.username);
    expect((await call("GET", "/admin/users/?as_of=2030-01-01T00:00:00Z", { token })).status).toBe(403);
    expect((await call("GET", "/admin/users/?as_of=2030-01-01T00:00:00Z")).status).toBe(401);
  });

  it("reads through an index for each question, never a scan of the table", async () => {
    for (const [filters, index, sorts] of [
      [{ status: "suspended" as const }, "user_intervals_by_status", false],
      [{ email: "A@b.example" }, "user_intervals_by_email", true],
      [{ username: "Sarah" }, "user_intervals_by_username", true],
      [{}, "sqlite_autoindex_user_intervals_1", false],
    ] as const) {
      const sql = asOfSql({ asOf: "2030-01-01T00:00:00.000Z", limit: 10, ...filters });
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql.text}`)
        .bind(...sql.params)
        .all<{ detail: string }>();
      const details = results.map((r) => r.detail).join("; ");
      expect(details).toContain(`USING INDEX ${index}`);
      expect(details).not.toMatch(/SCAN user_intervals(?! USING)/);
      // An email's or username's handful of intervals are sorted by user; a status or no filter walks in order.
      expect(details.includes("TEMP B-TREE")).toBe(sorts);
    }
  });
});
