import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { RebuildProgress } from "../../src/read/rebuild-progress";
import { adminSession, call, createUser } from "../support/api";
import { everyReadDb, readDb } from "../support/shards";

let admin: { id: string; token: string; username: string };
beforeAll(async () => {
  admin = await adminSession();
});

async function rebuild(projection: string | null): Promise<RebuildProgress> {
  const query = projection ? `?projection=${projection}&restart=true` : "?restart=true";
  const started = await call<RebuildProgress>("POST", `/admin/projections/rebuild${query}`, { token: admin.token });
  expect(started.status).toBe(200);
  expect(started.body).toMatchObject({ status: "running", projection });
  const stub = env.PROJECTION_REBUILD.getByName(projection ? `read-model:${projection}` : "read-model");
  const progressPath = `/admin/projections/rebuild${projection ? `?projection=${projection}` : ""}`;
  let done: RebuildProgress | undefined;
  await vi.waitUntil(
    async () => {
      await runDurableObjectAlarm(stub);
      done = (await call<RebuildProgress>("GET", progressPath, { token: admin.token })).body;
      return done.status === "done";
    },
    { timeout: 20_000, interval: 10 },
  );
  return done!;
}

/** A read-model row (and audit entry) for a user that has no stream at all. */
async function plantGhost(): Promise<string> {
  const id = crypto.randomUUID();
  const at = "2030-01-01T00:00:00.000Z";
  // The row in the user's read database, the audit entry and its checkpoint in DB (0026).
  await readDb(id)
    .prepare(
      `INSERT INTO users (id, username, email, first_name, last_name, role, status, created_at, updated_at, revision)
       VALUES (?, ?, ?, 'Ghost', 'Row', 'user', 'active', ?, ?, 1)`,
    )
    .bind(id, `ghost${id.slice(0, 8)}`, `ghost${id.slice(0, 8)}@example.com`, at, at)
    .run();
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO audit_log (event_id, user_id, event_type, revision, timestamp, username, email)
       VALUES (?, ?, 'USER_CREATED', 1, ?, 'ghost', 'ghost@example.com')`,
    ).bind(crypto.randomUUID(), id, at),
    env.DB.prepare("INSERT INTO checkpoints VALUES ('audit', ?, 1, '{}')").bind(id),
  ]);
  return id;
}

const count = async (db: D1Database, sql: string, id: string) =>
  (await db.prepare(sql).bind(id).first<{ n: number }>())!.n;
const usersRows = (id: string) => count(readDb(id), "SELECT COUNT(*) AS n FROM users WHERE id = ?", id);
const auditRows = (id: string) => count(env.DB, "SELECT COUNT(*) AS n FROM audit_log WHERE user_id = ?", id);
/** Every users row of every read database, by id. */
const everyUserRow = async () =>
  (await Promise.all(everyReadDb().map(async (db) => (await db.prepare("SELECT * FROM users").all()).results)))
    .flat()
    .sort((a, b) => String(a.id).localeCompare(String(b.id)));

describe("a rebuild makes each projection equal to its streams", () => {
  it("removes rows without a stream, and keeps every real user", async () => {
    const real = await createUser(admin.token);
    await vi.waitUntil(async () => (await usersRows(real.id)) === 1 && (await auditRows(real.id)) === 1, {
      timeout: 10_000,
    });
    const ghost = await plantGhost();
    const listed = await call<{ count: number }>("GET", `/v1/users/?username=ghost${ghost.slice(0, 8)}`, {
      token: admin.token,
    });
    expect(listed.body.count).toBe(1);

    const done = await rebuild(null);

    expect(done.ghosts_removed).toBeGreaterThanOrEqual(1);
    expect(await usersRows(ghost)).toBe(0);
    expect(await auditRows(ghost)).toBe(0);
    expect(await usersRows(real.id)).toBe(1);
    expect(await auditRows(real.id)).toBe(1);
    const after = await call<{ count: number }>("GET", `/v1/users/?username=ghost${ghost.slice(0, 8)}`, {
      token: admin.token,
    });
    expect(after.body.count).toBe(0);
  });

  it("a full rebuild recounts the search index's trigrams in every read database", async () => {
    // A count no index holds: the recount (a re-shard's new databases start with none) replaces it.
    const stale = (db: D1Database) =>
      db.prepare("SELECT docs FROM search_trigram_counts WHERE col = 'username' AND trigram = 'q~q'").first("docs");
    for (const db of everyReadDb()) {
      await db.prepare("INSERT OR REPLACE INTO search_trigram_counts VALUES ('username', 'q~q', 999)").run();
    }
    await rebuild(null);
    for (const db of everyReadDb()) expect(await stale(db)).toBeNull();
  });

  it("rebuilds one projection alone: a ghost in the audit log goes, the users table is not touched", async () => {
    const ghost = await plantGhost();
    await readDb(ghost).prepare("DELETE FROM users WHERE id = ?").bind(ghost).run();
    const real = await createUser(admin.token);
    await vi.waitUntil(async () => (await auditRows(real.id)) === 1, { timeout: 10_000 });
    // A lost audit entry of a real user comes back from its stream.
    await env.DB.prepare("DELETE FROM audit_log WHERE user_id = ?").bind(real.id).run();
    const usersBefore = await everyUserRow();

    const done = await rebuild("audit");

    expect(done).toMatchObject({ projection: "audit", status: "done" });
    expect(await auditRows(ghost)).toBe(0);
    expect(await auditRows(real.id)).toBe(1);
    expect(await everyUserRow()).toEqual(usersBefore);
  });

  it("refuses a projection that does not exist", async () => {
    const res = await call("POST", "/admin/projections/rebuild?projection=nope", { token: admin.token });
    expect(res.status).toBe(422);
  });
});
