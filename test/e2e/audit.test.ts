import { beforeAll, describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { uniqueName } from "../support/builders";

interface AuditEntry {
  event_id: string;
  user_id: string;
  event_type: string;
  revision: number;
  timestamp: string;
  actor_id: string | null;
  actor_username: string | null;
  reason: string | null;
  request_id: string | null;
  username: string;
  email: string;
}
interface AuditPage {
  results: AuditEntry[];
  next_cursor: string | null;
}

let admin: { id: string; token: string; username: string };
beforeAll(async () => {
  admin = await adminSession();
});

async function audit(query: string): Promise<AuditPage> {
  const res = await call<AuditPage>("GET", `/admin/audit/?${query}`, { token: admin.token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Waits until the audit log answers `query` with `n` entries (the projection is asynchronous). */
async function auditWhen(query: string, n: number): Promise<AuditEntry[]> {
  let page: AuditPage = { results: [], next_cursor: null };
  await vi.waitUntil(async () => (page = await audit(query)).results.length === n, { timeout: 10_000 });
  return page.results;
}

describe("the audit log", () => {
  it("answers who deleted sarah, and when, by the name she had, after the name went to someone else; erasure scrubs her", async () => {
    const name = uniqueName("sarah");
    const sarah = await createUser(admin.token, { username: name });
    const deleted = await call("DELETE", `/v1/users/${sarah.id}/`, {
      token: admin.token,
      body: { reason: "asked to leave" },
      headers: { "X-Request-Id": `del-${name}` },
    });
    expect(deleted.status).toBe(200);
    // Her username is free again, and taken by a new user.
    const successor = await createUser(admin.token, { username: name, email: `next-${name}@example.com` });

    const [entry] = await auditWhen(`username=${name.toUpperCase()}&event_type=USER_DELETED`, 1);
    expect(entry).toMatchObject({
      user_id: sarah.id,
      event_type: "USER_DELETED",
      revision: 2,
      actor_id: admin.id,
      actor_username: admin.username,
      reason: "asked to leave",
      request_id: `del-${name}`,
      username: name,
      email: sarah.email,
    });
    expect(Date.parse(entry!.timestamp)).not.toBeNaN();

    // Every entry under that name, newest first: the successor's creation, then sarah's life.
    const named = await auditWhen(`username=${name}`, 3);
    expect(named.map((e) => [e.user_id, e.event_type])).toEqual([
      [successor.id, "USER_CREATED"],
      [sarah.id, "USER_DELETED"],
      [sarah.id, "USER_CREATED"],
    ]);
    // The same, a page of one at a time.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: AuditPage = await audit(`username=${name}&limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      paged.push(...page.results.map((e) => e.event_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(paged).toEqual(named.map((e) => e.event_id));
    // By the deleter, and by time.
    const byActor = await audit(`actor=${admin.username}&user_id=${sarah.id}`);
    expect(byActor.results.map((e) => e.event_type)).toEqual(["USER_DELETED", "USER_CREATED"]);
    const window = await audit(`user_id=${sarah.id}&from=${entry!.timestamp}&to=${entry!.timestamp}`);
    expect(window.results.map((e) => e.event_id)).toEqual([entry!.event_id]);

    // Erasure: her entries keep who did what, but no longer her name or address.
    const erased = await call("POST", `/admin/users/${sarah.id}/erase`, {
      token: admin.token,
      body: { reason: "data-protection request" },
    });
    expect(erased.status).toBe(200);
    const hers = await auditWhen(`user_id=${sarah.id}&email=[erased]`, 3);
    expect(hers.map((e) => [e.event_type, e.username, e.email, e.actor_username])).toEqual([
      ["USER_ERASED", "[erased]", "[erased]", admin.username],
      ["USER_DELETED", "[erased]", "[erased]", admin.username],
      ["USER_CREATED", "[erased]", "[erased]", admin.username],
    ]);
    expect((await audit(`username=${name}`)).results.map((e) => e.user_id)).toEqual([successor.id]);
    expect(JSON.stringify(await audit(`user_id=${sarah.id}`))).not.toContain(sarah.email);
  });

  it("is for admins, and says what is wrong with a bad filter", async () => {
    const user = await createUser(admin.token);
    const own = await login(user.username);
    expect((await call("GET", "/admin/audit/", { token: own })).status).toBe(403);
    expect((await call("GET", "/admin/audit/?from=yesterday", { token: admin.token })).status).toBe(422);
    expect((await call("GET", "/admin/audit/?cursor=nonsense", { token: admin.token })).status).toBe(422);
    expect((await call("GET", "/admin/audit/?event_type=USER_EXPLODED", { token: admin.token })).status).toBe(422);
  });
});
