import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { PASSWORD, uniqueName } from "../support/builders";
import { exportLine } from "../support/import-fixtures";

/**
 * Issue 24 through `POST /admin/import`: each hostile import the issue found, as a client sends it.
 * The gate itself is tested at the domain (test/domain/import-gate.test.ts); here, that the route
 * answers with the line's error, that nothing reaches the stream, the outbox or the audit log, that
 * the answer names imported admins, and that the operator's explicit `onto_existing=allow` is the
 * only way onto a stream a command created.
 */

let admin: { id: string; token: string; username: string };
const HASH = "$2b$04$XN2PVyimi/mfTMRwOHAs/.ZacDHSy.YfFATGNfUNV2mLVT/eNn./O";

beforeAll(async () => {
  admin = await adminSession();
});

function importLines(lines: unknown[], query = "") {
  return call<any>("POST", `/admin/import${query}`, {
    token: admin.token,
    raw: `${lines.map((line) => JSON.stringify(line)).join("\n")}\n`,
    headers: { "Content-Type": "application/x-ndjson" },
  });
}

function event(
  userId: string,
  revision: number,
  event_type: string,
  data: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
  id: string = crypto.randomUUID(),
) {
  return exportLine(userId, id, revision, event_type, data, metadata);
}

function creation(userId: string, data: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) {
  const name = uniqueName("imp");
  return event(
    userId,
    1,
    "USER_CREATED",
    {
      username: name,
      email: `${name}@example.com`,
      first_name: "Imp",
      last_name: "Orted",
      password_hash: HASH,
      hashing_method: "bcrypt",
      role: "user",
      ...data,
    },
    metadata,
  );
}

async function streamLength(userId: string): Promise<number> {
  return (await env.USER_STREAM.getByName(userId).readStream(1, 10_000)).length;
}

async function auditOf(userId: string) {
  const res = await call<any>("GET", `/admin/audit/?user_id=${userId}`, { token: admin.token });
  expect(res.status).toBe(200);
  return res.body.results as Record<string, any>[];
}

describe("POST /admin/import refuses what a command could not do", () => {
  it("a 204,800-character first_name is a rejected line, not a user whose outbox never drains", async () => {
    const userId = crypto.randomUUID();
    const res = await importLines([creation(userId, { first_name: "x".repeat(204_800) })]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ imported: 0, rejected: [{ line: 1, aggregate_id: userId }] });
    expect(res.body.rejected[0].error).toMatch(/first_name is longer than 100|more than 16384/);
    expect(await streamLength(userId)).toBe(0);
  });

  it("an erased user is not brought back by an imported update and restore, even with onto_existing=allow", async () => {
    const user = await createUser(admin.token);
    const erase = await call("POST", `/admin/users/${user.id}/erase`, { token: admin.token, body: { reason: "DSR" } });
    expect(erase.status).toBe(200);
    const lines = [
      event(user.id, 3, "USER_UPDATED", { email: `${uniqueName("back")}@example.com` }),
      event(user.id, 4, "USER_RESTORED", { reason: "back", status: "active" }),
    ];
    const res = await importLines(lines, "?onto_existing=allow");
    expect(res.body.imported).toBe(0);
    // The erasure ledger refuses lines past the erasure before the gate sees them (decision 0022).
    expect(res.body.rejected[0].error).toMatch(/erasure ledger.*the user stays erased/);
    const { user: after } = await env.USER_STREAM.getByName(user.id).getUser();
    expect(after).toMatchObject({ status: "erased", revision: 2 });
  });

  it("a PASSWORD_CHANGED onto a user created through the API is refused: no takeover", async () => {
    const user = await createUser(admin.token);
    const takeover = event(user.id, 2, "PASSWORD_CHANGED", { password_hash: HASH, hashing_method: "bcrypt" });
    const res = await importLines([takeover]);
    expect(res.body).toMatchObject({ imported: 0, rejected: [{ line: 1, aggregate_id: user.id }] });
    expect(res.body.rejected[0].error).toMatch(/onto_existing=allow/);
    expect(await streamLength(user.id)).toBe(1);
    // The operator's explicit word lets a legitimate catch-up in.
    const allowed = await importLines([takeover], "?onto_existing=allow");
    expect(allowed.body).toMatchObject({ imported: 1, rejected: [] });
    await expect(login(user.username, PASSWORD)).rejects.toThrow(/401/);
  });

  it("usernames the API refuses, invalid emails and 10,000-character usernames do not import", async () => {
    const hostile = [
      { username: "ad\u200dmin" },
      { username: "ad\u00admin" },
      { username: "ad\u0000min" },
      { username: "\u202eadmin" },
      { username: "u".repeat(10_000) },
      { email: "not-an-email" },
    ];
    const lines = hostile.map((data) => creation(crypto.randomUUID(), data));
    const res = await importLines(lines);
    expect(res.body.imported).toBe(0);
    expect(res.body.rejected.map((r: { line: number }) => r.line)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("the same event id for three users imports for none of them, rather than losing two users' audit rows", async () => {
    const shared = crypto.randomUUID();
    const users = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const lines = users.map((userId) => ({ ...creation(userId), id: shared }));
    const res = await importLines(lines);
    expect(res.body.imported).toBe(0);
    expect(res.body.rejected).toHaveLength(3);
    expect(res.body.rejected[0].error).toMatch(/already an event of another user/);
  });

  it("an event id the audit log holds for another user is refused in a later request", async () => {
    const first = creation(crypto.randomUUID());
    expect((await importLines([first])).body).toMatchObject({ imported: 1 });
    await vi.waitUntil(async () => (await auditOf(first.aggregate_id)).length === 1, { timeout: 10_000 });
    const other = { ...creation(crypto.randomUUID()), id: first.id };
    const res = await importLines([other]);
    expect(res.body).toMatchObject({ imported: 0, rejected: [{ line: 1, aggregate_id: other.aggregate_id }] });
  });
});

describe("what an import brings is reported as imported", () => {
  it("forged metadata is marked imported in the audit log, and imported admins are named", async () => {
    const userId = crypto.randomUUID();
    const line = creation(userId, { role: "admin" }, { actor_id: admin.id, actor_username: admin.username });
    const res = await importLines([line]);
    expect(res.body).toMatchObject({ imported: 1, rejected: [] });
    expect(res.body.admins).toEqual([{ user_id: userId, username: line.data.username }]);
    await vi.waitUntil(async () => (await auditOf(userId)).length === 1, { timeout: 10_000 });
    const [entry] = await auditOf(userId);
    expect(entry).toMatchObject({ actor_username: admin.username, import_request_id: expect.any(String) });
    // An act of the admin here carries no mark.
    const own = await auditOf(admin.id);
    expect(own[0]).toMatchObject({ import_request_id: null });
  });
});
