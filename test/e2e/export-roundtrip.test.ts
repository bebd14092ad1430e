import { reset } from "cloudflare:test";
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import referenceRows from "../fixtures/reference-rows.ndjson?raw";
import { FIXTURE } from "../support/import-fixtures";
import { adminSession, call, createUser, login } from "../support/api";
import { PASSWORD } from "../support/builders";
import { everyReadDb } from "../support/shards";

/**
 * A backup proven by a test: users with every kind of history are exported with their hashes, the
 * whole local state is wiped (`reset()`: every Durable Object, D1), and the file is imported into
 * the empty service. The export afterwards is the same file, event for event; the read model, logins
 * and history are the same.
 */

async function exportAll(token: string): Promise<string[]> {
  const res = await call<string>("GET", "/admin/export?secrets=include", { token });
  expect(res.status).toBe(200);
  expect(res.headers.get("Content-Type")).toContain("application/x-ndjson");
  return String(res.body).split("\n").filter(Boolean);
}

/** Every users row, from every read database (0026), by id. */
const usersTable = async () =>
  (await Promise.all(everyReadDb().map(async (db) => (await db.prepare("SELECT * FROM users").all()).results)))
    .flat()
    .sort((a, b) => (String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0));

/** Every user's read-model row has caught up with its stream. */
async function projected(token: string) {
  await vi.waitUntil(
    async () => {
      const res = await call<any>("GET", "/admin/projections/status", { token });
      return res.status === 200 && res.body.users_behind === 0 && res.body.outbox.backlog === 0;
    },
    { timeout: 20_000, interval: 50 },
  );
}

describe("export, then import into an empty state", () => {
  it("reproduces every stream event for event, the read model, logins and history", async () => {
    const admin = await adminSession();
    const token = admin.token;
    // Native users with a varied life, and imported ones (bcrypt hashes, one already rehashed).
    const plain = await createUser(token, { first_name: "Plain" });
    const busy = await createUser(token);
    const asBusy = await login(busy.username);
    expect(
      (await call<any>("PUT", `/v1/users/${busy.id}/`, { token: asBusy, body: { last_name: "Changed" } })).status,
    ).toBe(200);
    const newPassword = "another-password-2";
    const changed = await call<any>("PUT", `/v1/users/${busy.id}/password/`, {
      token: asBusy,
      body: { current_password: PASSWORD, new_password: newPassword },
    });
    expect(changed.status).toBe(200);
    const suspended = await createUser(token);
    expect(
      (await call<any>("POST", `/v1/users/${suspended.id}/suspend/`, { token, body: { reason: "abuse" } })).status,
    ).toBe(200);
    const deleted = await createUser(token);
    expect(
      (await call<any>("DELETE", `/v1/users/${deleted.id}/`, { token, body: { reason: "asked to leave" } })).status,
    ).toBe(200);
    const corrected = await createUser(token);
    const correction = { changes: { first_name: "Fixed" }, reason: "typo" };
    expect(
      (await call<any>("POST", `/admin/users/${corrected.id}/corrections`, { token, body: correction })).status,
    ).toBe(200);
    const erased = await createUser(token);
    expect(
      (await call<any>("POST", `/admin/users/${erased.id}/erase`, { token, body: { reason: "gdpr" } })).status,
    ).toBe(200);
    const imported = await call<any>("POST", "/admin/import", {
      token,
      raw: referenceRows,
      headers: { "Content-Type": "application/x-ndjson" },
    });
    expect(imported.body.rejected).toEqual([]);
    expect(
      (await call<any>("POST", "/v1/auth/login/", { body: { username: "carol", password: FIXTURE.carol.password } }))
        .status,
    ).toBe(200);
    await projected(token);

    const backup = await exportAll(token);
    // The backup holds every user (admin, 6 native, 4 imported) with its hashes, an erasure's tombstone too.
    expect(new Set(backup.map((line) => JSON.parse(line).aggregate_id)).size).toBe(11);
    expect(backup.some((line) => line.includes('"password_hash":"$2b$'))).toBe(true);
    expect(backup.some((line) => line.includes('"password_hash":"pbkdf2-sha256$'))).toBe(true);
    expect(backup.some((line) => line.includes('"event_type":"USER_ERASED"'))).toBe(true);
    expect(backup.some((line) => line.includes("import_request_id"))).toBe(false);
    const redacted = await call<string>("GET", "/admin/export", { token });
    expect(String(redacted.body)).not.toContain("password_hash");
    const rowsBefore = await usersTable();
    const historyAt = (id: string, t: string) => call<any>("GET", `/v1/users/${id}/history/?timestamp=${t}`, { token });
    const busyEvents = (await call<any>("GET", `/v1/users/${busy.id}/events/`, { token })).body.results;
    const middleOfBusy = busyEvents[1].timestamp as string;
    const busyThen = (await historyAt(busy.id, middleOfBusy)).body;

    // An empty service: no stream, no registry, no read model.
    await reset();
    for (const db of new Set([env.DB, ...everyReadDb()])) await applyD1Migrations(db, env.TEST_MIGRATIONS);
    expect(await usersTable()).toEqual([]);

    const restorer = await adminSession();
    const restored = await call<any>("POST", "/admin/import", {
      token: restorer.token,
      raw: `${backup.join("\n")}\n`,
      headers: { "Content-Type": "application/x-ndjson" },
    });
    const { admins, ...counts } = restored.body;
    expect(counts).toEqual({ imported: backup.length, skipped: 0, rejected: [] });
    // The answer names the admins the import brought: the backup's own.
    const backupAdmins = backup
      .map((line) => JSON.parse(line))
      .filter((event) => event.event_type === "USER_CREATED" && event.data.role === "admin")
      .map((event) => event.aggregate_id as string);
    expect(admins.map((admin: { user_id: string }) => admin.user_id)).toEqual(backupAdmins.sort());
    await projected(restorer.token);

    // The same file, event for event (the restoring admin's own stream aside).
    const again = (await exportAll(restorer.token)).filter((line) => JSON.parse(line).aggregate_id !== restorer.id);
    expect(again).toEqual(backup);
    // The same read model.
    const rowsAfter = (await usersTable()).filter((r: any) => r.id !== restorer.id);
    expect(rowsAfter).toEqual(rowsBefore);
    // No welcome mail for anyone restored.
    const mails = await env.DB.prepare("SELECT user_id FROM sent_emails").all<{ user_id: string }>();
    expect(mails.results.map((m) => m.user_id).filter((id) => id !== restorer.id)).toEqual([]);
    // The same logins (PBKDF2, bcrypt, rehashed) and refusals.
    const loginAs = (username: string, password: string) =>
      call<any>("POST", "/v1/auth/login/", { body: { username, password } });
    expect((await loginAs(plain.username, PASSWORD)).status).toBe(200);
    expect((await loginAs(busy.username, newPassword)).status).toBe(200);
    expect((await loginAs(busy.username, PASSWORD)).status).toBe(401);
    expect((await loginAs(suspended.username, PASSWORD)).status).toBe(401);
    expect((await loginAs(deleted.username, PASSWORD)).status).toBe(401);
    expect((await loginAs("carol", FIXTURE.carol.password)).status).toBe(200);
    expect((await loginAs("alice", FIXTURE.alice.password)).status).toBe(200);
    expect((await loginAs(admin.username, PASSWORD)).status).toBe(200);
    // The same history.
    expect(
      (await call<any>("GET", `/v1/users/${busy.id}/history/?timestamp=${middleOfBusy}`, { token: restorer.token }))
        .body,
    ).toEqual(busyThen);
    // Names are held again as they were: a deleted user's is free, a live one's is not.
    expect(
      (await call<any>("POST", "/v1/users/", { token: restorer.token, body: { ...newUser(deleted.username) } })).status,
    ).toBe(200);
    expect(
      (await call<any>("POST", "/v1/users/", { token: restorer.token, body: { ...newUser(plain.username) } })).status,
    ).toBe(409);
  });
});

function newUser(username: string) {
  return { username, email: `${username}-again@example.com`, first_name: "A", last_name: "B", password: PASSWORD };
}
