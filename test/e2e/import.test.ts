import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import referenceRows from "../fixtures/reference-rows.ndjson?raw";
import rejectedRows from "../fixtures/reference-rows-rejected.ndjson?raw";
import { FIXTURE } from "../support/import-fixtures";
import { adminSession, call } from "../support/api";
import type { EventsPageBody, UserView } from "../support/types";
import { acrossReadDbs, readDb } from "../support/shards";
import { directoryHas } from "../write/helpers";

/**
 * `POST /admin/import` with a file of the reference's `user_event_stream` rows (written for this
 * test as `row_to_json` writes them): alice is created, updated with null fields and changes her
 * password; bob is deleted; a later user takes the name "Bob"; carol changes her email. Then the
 * streams, the read model through the real queue, history at the rows' own times, logins with the
 * old passwords, and a second import that changes nothing.
 */

let admin: string;
let importRequestId: string;
let firstImport: { status: number; body: any };

function importBody(ndjson: string, requestId?: string) {
  return call<any>("POST", "/admin/import", {
    token: admin,
    raw: ndjson,
    headers: { "Content-Type": "application/x-ndjson", ...(requestId ? { "X-Request-Id": requestId } : {}) },
  });
}

async function events(userId: string) {
  const res = await call<EventsPageBody>("GET", `/v1/users/${userId}/events/`, { token: admin });
  expect(res.status).toBe(200);
  return res.body.results;
}

async function row(userId: string, revision: number) {
  const res = await call<{ user: UserView }>("GET", `/v1/users/${userId}/?min_revision=${revision}`, { token: admin });
  return res;
}

function rowsOf(ndjson: string) {
  return ndjson
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, any>);
}

beforeAll(async () => {
  ({ token: admin } = await adminSession());
  importRequestId = `import-${crypto.randomUUID()}`;
  firstImport = await importBody(referenceRows, importRequestId);
});

describe("importing the reference's rows", () => {
  it("answers what was imported, line by line", () => {
    expect(firstImport.status).toBe(200);
    // Carol is an admin of the reference: legitimate, and named in the answer.
    expect(firstImport.body).toEqual({
      imported: 8,
      skipped: 0,
      rejected: [],
      admins: [{ user_id: FIXTURE.carol.id, username: "carol" }],
    });
  });

  it("keeps every event's id, revision and time; metadata says which import brought it", async () => {
    const byUser = new Map<string, Record<string, any>[]>();
    for (const r of rowsOf(referenceRows)) byUser.set(r.aggregate_id, [...(byUser.get(r.aggregate_id) ?? []), r]);
    for (const [userId, lines] of byUser) {
      const stored = await events(userId);
      expect(stored.map((e) => [e.id, e.revision, e.event_type, Date.parse(e.timestamp)])).toEqual(
        lines.map((r) => [r.id, r.revision, r.event_type, Math.floor(Date.parse(r.timestamp))]),
      );
      for (const event of stored) {
        expect(event.metadata).toEqual({
          actor_id: null,
          actor_username: null,
          request_id: null,
          idempotency_key: null,
          reason: null,
          import_request_id: importRequestId,
        });
        expect(JSON.stringify(event)).not.toContain("$2b$");
      }
    }
  });

  it("fills the read model with the rows' own times, and sends no welcome mail", async () => {
    const alice = await row(FIXTURE.alice.id, 3);
    expect(alice.status).toBe(200);
    expect(alice.body.user).toMatchObject({
      username: "alice",
      email: "alice@example.com",
      first_name: "Alicia",
      last_name: "Liddell",
      role: "user",
      status: "active",
      created_at: "2025-08-16T09:00:00.123Z",
      updated_at: "2025-08-18T11:45:12.000Z",
      revision: 3,
    });
    const carol = await row(FIXTURE.carol.id, 2);
    expect(carol.body.user).toMatchObject({ role: "admin", email: "carol@marvel.example.com", last_name: "Marvel" });
    const bob2 = await row(FIXTURE.bob2.id, 1);
    expect(bob2.body.user).toMatchObject({ username: "Bob", status: "active" });
    // Bob is deleted: gone from the read API, his row a deleted one.
    await expect
      .poll(async () =>
        readDb(FIXTURE.bob.id)
          .prepare("SELECT status, deleted_at FROM users WHERE id = ?")
          .bind(FIXTURE.bob.id)
          .first(),
      )
      .toEqual({ status: "deleted", deleted_at: "2025-08-19T06:00:00.250Z" });
    expect((await call<any>("GET", `/v1/users/${FIXTURE.bob.id}/`, { token: admin })).status).toBe(404);
    const mails = await env.DB.prepare("SELECT COUNT(*) AS n FROM sent_emails WHERE user_id IN (?, ?, ?, ?)")
      .bind(FIXTURE.alice.id, FIXTURE.bob.id, FIXTURE.bob2.id, FIXTURE.carol.id)
      .first<{ n: number }>();
    expect(mails?.n).toBe(0);
  });

  it("fills the audit log at the rows' times, marked by no actor", async () => {
    const audit = async () =>
      (await call<any>("GET", `/admin/audit/?user_id=${FIXTURE.alice.id}`, { token: admin })).body?.results ?? [];
    await expect.poll(async () => (await audit()).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    const entries = (await audit())
      .filter((e: any) => e.revision <= 3)
      .sort((a: any, b: any) => a.revision - b.revision);
    expect(entries.map((e: any) => [e.event_type, e.timestamp, e.actor_id, e.username])).toEqual([
      ["USER_CREATED", "2025-08-16T09:00:00.123Z", null, "alice"],
      ["USER_UPDATED", "2025-08-17T10:30:00.500Z", null, "alice"],
      ["PASSWORD_CHANGED", "2025-08-18T11:45:12.000Z", null, "alice"],
    ]);
  });

  it("answers history at the rows' own times", async () => {
    const at = (id: string, timestamp: string) =>
      call<UserView>("GET", `/v1/users/${id}/history/?timestamp=${timestamp}`, { token: admin });
    expect((await at(FIXTURE.alice.id, "2025-08-16T08:59:59Z")).status).toBe(404);
    expect((await at(FIXTURE.alice.id, "2025-08-17T10:30:00.499Z")).body).toMatchObject({
      first_name: "Alice",
      revision: 1,
    });
    expect((await at(FIXTURE.alice.id, "2025-08-17T10:30:00.500Z")).body).toMatchObject({
      first_name: "Alicia",
      revision: 2,
    });
    expect((await at(FIXTURE.bob.id, "2025-08-19T05:59:59Z")).body).toMatchObject({
      status: "active",
      deleted_at: null,
    });
    expect((await at(FIXTURE.bob.id, "2025-08-20T00:00:00Z")).body).toMatchObject({
      status: "deleted",
      deleted_at: "2025-08-19T06:00:00.250Z",
    });
  });

  it("lets users log in with their old passwords, upgrading the hash once (PASSWORD_REHASHED)", async () => {
    const login = (username: string, password: string) =>
      call<any>("POST", "/v1/auth/login/", { body: { username, password } });
    expect((await login("alice", FIXTURE.alice.oldPassword)).status).toBe(401);
    const first = await login("alice", FIXTURE.alice.password);
    expect(first.status).toBe(200);
    // PASSWORD_REHASHED at 4, then the login itself at 5.
    expect(first.body.user).toMatchObject({ id: FIXTURE.alice.id, revision: 5 });
    const stream = await events(FIXTURE.alice.id);
    expect(stream.map((e) => e.event_type)).toEqual([
      "USER_CREATED",
      "USER_UPDATED",
      "PASSWORD_CHANGED",
      "PASSWORD_REHASHED",
      "USER_LOGGED_IN",
    ]);
    expect(stream[3]!.data).toEqual({ hashing_method: "pbkdf2-sha256" });
    // Rehashed once: the next login records only itself.
    expect((await login("alice", FIXTURE.alice.password)).status).toBe(200);
    expect((await events(FIXTURE.alice.id)).slice(3).map((e) => e.event_type)).toEqual([
      "PASSWORD_REHASHED",
      "USER_LOGGED_IN",
      "USER_LOGGED_IN",
    ]);
    // Neither the rehash nor a login is a change of the user: updated_at stays the last imported event's.
    expect((await row(FIXTURE.alice.id, 6)).body.user).toMatchObject({
      revision: 6,
      updated_at: "2025-08-18T11:45:12.000Z",
    });
    expect((await login("bob", FIXTURE.bob2.password)).status).toBe(200);
    expect((await login("bob", FIXTURE.bob.password)).status).toBe(401);
    expect((await login("carol", FIXTURE.carol.password)).status).toBe(200);
  });

  it("a second import of the same file changes nothing", async () => {
    const before = await Promise.all([FIXTURE.alice.id, FIXTURE.bob.id, FIXTURE.bob2.id, FIXTURE.carol.id].map(events));
    const again = await importBody(referenceRows);
    expect(again.body).toEqual({ imported: 0, skipped: 8, rejected: [], admins: [] });
    const after = await Promise.all([FIXTURE.alice.id, FIXTURE.bob.id, FIXTURE.bob2.id, FIXTURE.carol.id].map(events));
    expect(after).toEqual(before);
  });
});

describe("a bulk import's read side", () => {
  /** Reference rows of `count` new users, three events each (created, updated, password changed). */
  function freshRows(count: number): { ids: string[]; ndjson: string } {
    const hash = { password_hash: rowsOf(referenceRows)[0]!.data.password_hash, hashing_method: "bcrypt" };
    const ids = Array.from({ length: count }, () => crypto.randomUUID());
    const lines = ids.flatMap((id, u) =>
      [1, 2, 3].map((revision) => {
        const timestamp = `2025-09-0${revision}T10:00:00.123+00:00`;
        const name = `bulk${id.slice(0, 8)}${u}`;
        const data =
          revision === 1
            ? { role: "user", email: `${name}@example.com`, username: name, first_name: "F", last_name: "L", ...hash }
            : revision === 2
              ? { first_name: "Second" }
              : hash;
        const type = ["USER_CREATED", "USER_UPDATED", "PASSWORD_CHANGED"][revision - 1];
        return JSON.stringify({
          id: crypto.randomUUID(),
          aggregate_id: id,
          event_type: type,
          timestamp,
          version: "1",
          revision,
          data,
          created_at: timestamp,
          updated_at: timestamp,
        });
      }),
    );
    return { ids, ndjson: `${lines.join("\n")}\n` };
  }

  it("two users of one request who want the same name: one imports, the other is refused by name", async () => {
    const { ids, ndjson } = freshRows(3);
    // The third user takes the first one's username (case aside): the request claims it for neither.
    const [first, , third] = ids;
    const name = `bulk${first!.slice(0, 8)}0`;
    const clash = ndjson.replace(`"username":"bulk${third!.slice(0, 8)}2"`, `"username":"${name.toUpperCase()}"`);
    const res = await importBody(clash);
    expect(res.status).toBe(200);
    expect(res.body.imported).toBe(6);
    const refused = res.body.rejected.find((r: { error: string }) => r.error.includes("is taken by another user"));
    expect(refused?.error).toMatch(new RegExp(`^username '${name}' is taken by another user$`, "i"));
    const holder = refused.aggregate_id === first ? third : first;
    const held = await call<{ user: UserView }>("GET", `/v1/users/${holder}/`, { token: admin });
    expect(held.body.user.username.toLowerCase()).toBe(name.toLowerCase());
  });

  it("is written by the import request itself: every user projected and confirmed when it answers", async () => {
    const { ids, ndjson } = freshRows(30);
    const res = await importBody(ndjson);
    expect(res.status).toBe(200);
    expect(res.body, JSON.stringify(res.body).slice(0, 600)).toMatchObject({ imported: 90, rejected: [] });
    // No waiting on the queue: the request projected them before answering.
    const binds = JSON.stringify(ids);
    // Users and ledger rows in each user's read database, the audit log in DB (0026).
    const users = await acrossReadDbs(ids, async (db, some) => {
      const { results } = await db
        .prepare("SELECT id, revision, first_name FROM users WHERE id IN (SELECT value FROM json_each(?))")
        .bind(JSON.stringify(some))
        .all<{ revision: number; first_name: string }>();
      return results;
    });
    expect(users.map((u) => [u.revision, u.first_name])).toEqual(ids.map(() => [3, "Second"]));
    const audit = await env.DB.prepare(
      "SELECT count(*) AS n FROM audit_log WHERE user_id IN (SELECT value FROM json_each(?))",
    )
      .bind(binds)
      .first<{ n: number }>();
    expect(audit?.n).toBe(90);
    const ledger = await acrossReadDbs(ids, async (db, some) => {
      const { results } = await db
        .prepare(
          "SELECT published_revision AS p, confirmed_revision AS c FROM streams WHERE user_id IN (SELECT value FROM json_each(?))",
        )
        .bind(JSON.stringify(some))
        .all<{ p: number; c: number }>();
      return results;
    });
    expect(ledger).toEqual(ids.map(() => ({ p: 3, c: 3 })));
    // And registered, so that a rebuild finds every user the read model holds.
    for (const id of ids) expect(await directoryHas(id)).toBe(true);
    // Each object was told: nothing owed, no alarm left to wake it minutes later.
    for (const id of ids) {
      const left = await runInDurableObject(env.USER_STREAM.getByName(id), async (_i, state) => ({
        outbox: state.storage.sql.exec("SELECT revision FROM outbox").toArray().length,
        alarm: await state.storage.getAlarm(),
      }));
      expect(left).toEqual({ outbox: 0, alarm: null });
    }
  });
});

describe("rejected lines", () => {
  it("each is reported with its line number and reason, and none blocks another user", async () => {
    const res = await importBody(rejectedRows);
    expect(res.status).toBe(200);
    expect(res.body.imported).toBe(1);
    expect(res.body.skipped).toBe(0);
    expect(res.body.rejected).toEqual([
      { line: 1, aggregate_id: FIXTURE.dave.id, error: "not imported: line 2 of the same user was rejected" },
      { line: 2, aggregate_id: FIXTURE.dave.id, error: "revision gap: the stream is at 1, this event is revision 3" },
      {
        line: 3,
        aggregate_id: FIXTURE.alice.id,
        error: expect.stringMatching(/^revision 3 already holds another event/),
      },
      { line: 4, aggregate_id: null, error: "malformed line: not JSON" },
      { line: 5, aggregate_id: FIXTURE.grace.id, error: "username 'ALICE' is taken by another user" },
    ]);
    // Heidi, between the bad lines, is in; the rejected users left no trace.
    expect(await events(FIXTURE.heidi.id)).toHaveLength(1);
    for (const untouched of [FIXTURE.dave.id, FIXTURE.grace.id]) {
      expect((await call("GET", `/v1/users/${untouched}/events/`, { token: admin })).status).toBe(404);
    }
    // Alice keeps her imported events and her two logins from above, nothing from line 3.
    expect((await events(FIXTURE.alice.id)).map((e) => e.revision)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("refuses more lines than one request may carry, and a caller who is not an admin", async () => {
    const tooMany = "\n".repeat(5_001).replace(/\n/g, "{}\n");
    expect((await importBody(tooMany)).status).toBe(413);
    const anonymous = await call<any>("POST", "/admin/import", { raw: referenceRows });
    expect(anonymous.status).toBe(401);
  });
});
