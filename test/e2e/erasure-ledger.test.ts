import {
  createExecutionContext,
  createMessageBatch,
  evictDurableObject,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { StoredEvent } from "../../src/domain/import";
import worker from "../../src/index";
import { erasureLedger, userStream } from "../../src/objects";
import { DEAD_LETTER_QUEUE } from "../../src/read/consumer";
import { PROJECTIONS } from "../../src/read/projections";
import type { RebuildProgress } from "../../src/read/rebuild-progress";
import { adminSession, call, createUser, login } from "../support/api";
import { PASSWORD, uniqueName } from "../support/builders";
import { RECEIVER_PORT } from "../support/receiver-port";
import { watcherOf } from "../live/helpers";
import { readDb } from "../support/shards";

const receiver = `http://127.0.0.1:${RECEIVER_PORT}`;

/**
 * Issue 28, "privacy that holds": once a user is erased, nothing that brings data back undoes it.
 * Each test erases a user holding an export taken before the erasure, brings that data back one
 * way (an import, a restore of its object, a replay, a full rebuild, a redriven dead letter, a
 * queue message still in flight), and then reads every place a client or an admin can: no personal
 * field of the user anywhere, and its login fails.
 */

let admin: string;
beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

interface Erased {
  id: string;
  username: string;
  /** Every personal value the user had: none may be readable afterwards. */
  personal: string[];
  /** Its events as `GET /admin/export?secrets=include` gave them before the erasure. */
  backup: StoredEvent[];
  erasedRevision: number;
}

const CHECKPOINTS = PROJECTIONS.map((p) => `coalesce(${p.checkpointSql("?1")}, 0) AS "${p.name}"`).join(", ");

/**
 * Every projection of the read side holds the user's stream up to its object's revision. Each
 * projection's checkpoint is read in DB and in the user's read database and the higher taken: it
 * lives in one of them (decision 0026), and both are DB in the default layout.
 */
async function settled(id: string): Promise<void> {
  const { revision } = await userStream(env, id).getUser();
  const checkpoints = (db: D1Database) => db.prepare(`SELECT ${CHECKPOINTS}`).bind(id).first<Record<string, number>>();
  await vi.waitUntil(
    async () => {
      const [main, own] = await Promise.all([checkpoints(env.DB), checkpoints(readDb(id))]);
      const at = Math.min(...PROJECTIONS.map((p) => Math.max(main?.[p.name] ?? 0, own?.[p.name] ?? 0)));
      return at >= revision;
    },
    { timeout: 20_000, interval: 50 },
  );
}

async function exportOf(id: string): Promise<StoredEvent[]> {
  const res = await call<string>("GET", "/admin/export?secrets=include", { token: admin });
  expect(res.status).toBe(200);
  return res.body
    .split("\n")
    .filter((line) => line.includes(id))
    .map((line) => JSON.parse(line) as StoredEvent)
    .filter((event) => event.aggregate_id === id);
}

/** A user with personal data in every event kind, its pre-erasure export, then erased by an admin. */
async function erasedUser(): Promise<Erased> {
  const tag = crypto.randomUUID().slice(0, 8);
  const username = uniqueName("ledger");
  const user = await createUser(admin, {
    username,
    email: `${username}@example.com`,
    first_name: `Firstname${tag}`,
    last_name: `Lastname${tag}`,
  });
  const token = await login(username);
  const updated = await call("PUT", `/v1/users/${user.id}/`, { token, body: { last_name: `Newlast${tag}` } });
  expect(updated.status).toBe(200);
  await settled(user.id);
  const backup = await exportOf(user.id);
  expect(backup.map((e) => e.event_type)).toEqual(["USER_CREATED", "USER_LOGGED_IN", "USER_UPDATED"]);
  const erase = await call<{ revision: number }>("POST", `/admin/users/${user.id}/erase`, {
    token: admin,
    body: { reason: "Data protection request" },
  });
  expect(erase.status, JSON.stringify(erase.body)).toBe(200);
  await settled(user.id);
  return {
    id: user.id,
    username,
    personal: [username, `${username}@example.com`, `Firstname${tag}`, `Lastname${tag}`, `Newlast${tag}`],
    backup,
    erasedRevision: erase.body.revision,
  };
}

/**
 * Reads, history, events, exports, audit log, feed, the users as of before the erasure, access
 * report, the erasures list and the user's live events: none holds a personal value; the login fails.
 */
async function expectErasedEverywhere(user: Erased): Promise<void> {
  await settled(user.id);
  const beforeErasure = user.backup.at(-1)!.timestamp;
  const paths = [
    `/v1/users/${user.id}/`,
    `/v1/users/${user.id}/?consistency=strong`,
    `/v1/users/?username=${user.username}`,
    `/v1/users/${user.id}/history?revision=1`,
    `/v1/users/${user.id}/history?revision=3`,
    `/v1/users/${user.id}/events`,
    `/v1/users/${user.id}/personal-data/`,
    `/admin/users/${user.id}/stream`,
    `/admin/audit?user_id=${user.id}`,
    "/admin/feed?limit=1000",
    "/admin/export?secrets=include",
    "/admin/erasures?limit=500",
    `/admin/users/?as_of=${beforeErasure}&limit=500`,
  ];
  for (const path of paths) {
    const res = await call("GET", path, { token: admin });
    const text = typeof res.body === "string" ? res.body : JSON.stringify(res.body);
    for (const value of user.personal) expect(text, `${path} shows ${value}`).not.toContain(value);
  }
  const live = watcherOf(
    await exports.default.fetch(`http://localhost/v1/users/${user.id}/events/live?from_revision=1`, {
      headers: { Upgrade: "websocket", Authorization: `Bearer ${admin}` },
    }),
  );
  await vi.waitUntil(() => live.caughtUp(), { timeout: 5000 });
  const frames = JSON.stringify(live.frames);
  live.ws.close(1000, "done");
  for (const value of user.personal) expect(frames, `live events show ${value}`).not.toContain(value);
  const row = await readDb(user.id).prepare("SELECT status, username FROM users WHERE id = ?").bind(user.id).first();
  expect(row).toMatchObject({ status: "erased", username: "[erased]" });
  const stream = await userStream(env, user.id).readStream(1, 100);
  expect(stream.at(-1)?.event_type).toBe("USER_ERASED");
  const loggedIn = await call("POST", "/v1/auth/login/", { body: { username: user.username, password: PASSWORD } });
  expect(loggedIn.status).toBe(401);
}

/** Its object loses everything, as a restore to a point before it existed would leave it. */
async function wipeObject(id: string): Promise<void> {
  const stub = userStream(env, id);
  await runInDurableObject(stub, async (_instance, state) => {
    await state.storage.deleteAlarm();
    await state.storage.deleteAll();
  });
  await evictDurableObject(stub);
}

/**
 * The object as a point-in-time recovery to before the erasure leaves it: the pre-erasure events
 * with their personal data, put back through the object itself (not the admin import, which asks
 * the ledger).
 */
async function restoreObjectToBeforeErasure(user: Erased): Promise<void> {
  await wipeObject(user.id);
  const restored = await userStream(env, user.id).importEvents(user.backup, { ontoExisting: false });
  expect(restored).toMatchObject({ ok: true, imported: 3 });
}

async function importNdjson(events: StoredEvent[]) {
  const raw = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
  return call<{ imported: number; skipped: number; rejected: { line: number; error: string }[] }>(
    "POST",
    "/admin/import",
    {
      token: admin,
      raw,
      headers: { "Content-Type": "application/x-ndjson" },
    },
  );
}

describe("the erasure ledger", { timeout: 60_000 }, () => {
  it("lists an erased user once, without personal data, paged by cursor", async () => {
    const a = await erasedUser();
    const b = await erasedUser();
    const first = await call<{ results: { user_id: string }[]; next_cursor: string | null; total: number }>(
      "GET",
      "/admin/erasures?limit=1",
      { token: admin },
    );
    expect(first.status).toBe(200);
    expect(first.body.results).toHaveLength(1);
    const all: Record<string, unknown>[] = [];
    for (let cursor: string | null = ""; cursor !== null;) {
      const page: { status: number; body: { results: Record<string, unknown>[]; next_cursor: string | null } } =
        await call("GET", `/admin/erasures?limit=1${cursor ? `&cursor=${cursor}` : ""}`, { token: admin });
      all.push(...page.body.results);
      cursor = page.body.next_cursor;
    }
    expect(all).toHaveLength(first.body.total);
    const mine = all.filter((e) => e.user_id === a.id || e.user_id === b.id);
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatchObject({ reason: "request", revision: a.erasedRevision, request_id: expect.any(String) });
    expect(Object.keys(mine[0]!).sort()).toEqual(
      ["actor_id", "erased_at", "event_id", "reason", "recorded_at", "request_id", "revision", "seq", "user_id"].sort(),
    );
    const user = await createUser(admin);
    const token = await login(user.username);
    expect((await call("GET", "/admin/erasures", { token })).status).toBe(403);
    expect((await call("GET", "/admin/erasures")).status).toBe(401);
    expect((await call("GET", "/admin/erasures?limit=0", { token: admin })).status).toBe(422);
  });

  it("an erasure the erase route did not record reaches the ledger through the projector", async () => {
    const user = await createUser(admin);
    // Straight to the object, as the retention cron erases: no route records it.
    const erased = await userStream(env, user.id).execute({
      userId: user.id,
      input: { type: "EraseUser" },
      metadata: {
        actor_id: null,
        actor_username: null,
        request_id: "req-cron",
        idempotency_key: null,
        reason: "retention",
      },
    });
    expect(erased.ok).toBe(true);
    await vi.waitUntil(async () => (await erasureLedger(env).among([user.id])).length === 1, {
      timeout: 20_000,
      interval: 50,
    });
    expect(await erasureLedger(env).among([user.id])).toEqual([
      expect.objectContaining({ user_id: user.id, reason: "retention", actor_id: null, request_id: "req-cron" }),
    ]);
  });

  it("import of the export taken before the erasure: the user stays erased", async () => {
    const user = await erasedUser();
    const report = await importNdjson(user.backup);
    expect(report.status, JSON.stringify(report.body)).toBe(200);
    // The object holds those events already (their personal data destroyed): nothing new comes in.
    expect(report.body).toMatchObject({ imported: 0, rejected: [] });
    await expectErasedEverywhere(user);
  });

  it("restore of the user's object from the pre-erasure export: the import ends it with the erasure", async () => {
    const user = await erasedUser();
    await wipeObject(user.id);
    const report = await importNdjson(user.backup);
    expect(report.status, JSON.stringify(report.body)).toBe(200);
    expect(report.body).toMatchObject({ imported: 4, rejected: [] });
    const stream = await userStream(env, user.id).readStream(1, 100);
    expect(stream.map((e) => e.event_type)).toEqual(["USER_CREATED", "USER_LOGGED_IN", "USER_UPDATED", "USER_ERASED"]);
    expect(stream.at(-1)?.revision).toBe(user.erasedRevision);
    await expectErasedEverywhere(user);
  });

  it("an export that stops short of the erasure is refused for that user, with the reason", async () => {
    const user = await erasedUser();
    await wipeObject(user.id);
    const report = await importNdjson(user.backup.slice(0, 2));
    expect(report.status).toBe(200);
    expect(report.body.imported).toBe(0);
    expect(report.body.rejected).toContainEqual(
      expect.objectContaining({
        line: 2,
        error: expect.stringContaining("cannot follow them: not imported, the user stays erased"),
      }),
    );
    const res = await call("GET", `/v1/users/${user.id}/events`, { token: admin });
    expect(res.status).toBe(404);
    const loggedIn = await call("POST", "/v1/auth/login/", { body: { username: user.username, password: PASSWORD } });
    expect(loggedIn.status).toBe(401);
  });

  it("replay after a restore of the object to before the erasure: the erasure is re-applied", async () => {
    const user = await erasedUser();
    await restoreObjectToBeforeErasure(user);
    const replay = await call("POST", `/admin/users/${user.id}/replay`, { token: admin });
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    await expectErasedEverywhere(user);
    const events = await userStream(env, user.id).readStream(1, 100);
    expect(events.at(-1)?.metadata.reason).toBe("erasure ledger: re-applied");
  });

  it("replay and a full rebuild of an erased user: its events are already [erased], nothing comes back", async () => {
    const user = await erasedUser();
    expect((await call("POST", `/admin/users/${user.id}/replay`, { token: admin })).status).toBe(200);
    await expectErasedEverywhere(user);
    await fullRebuild();
    await expectErasedEverywhere(user);
  });

  it("a full rebuild after a restore of the object to before the erasure: the erasure is re-applied", async () => {
    const user = await erasedUser();
    await restoreObjectToBeforeErasure(user);
    await fullRebuild();
    await expectErasedEverywhere(user);
  });

  it("a redriven dead letter carrying the user's pre-erasure event is deleted, not projected", async () => {
    const user = await erasedUser();
    const created = user.backup[0]!;
    const { meta } = await env.DB.prepare(
      `INSERT INTO dead_letters (message_id, aggregate_id, revision, projection, body, attempts, error, failed_at)
       VALUES (?, ?, 1, 'users', ?, 6, 'test: gave up', ?)`,
    )
      .bind(crypto.randomUUID(), user.id, JSON.stringify(created), new Date().toISOString())
      .run();
    const id = meta.last_row_id;
    const redrive = await call<{ type: string }>("POST", `/admin/dead-letters/${id}/redrive`, { token: admin });
    expect(redrive.status).toBe(409);
    expect(redrive.body.type).toBe("UserErased");
    expect(await env.DB.prepare("SELECT 1 FROM dead_letters WHERE id = ?").bind(id).first()).toBeNull();
    await expectErasedEverywhere(user);
  });
});

describe("the dead-letter queue after the erasure", { timeout: 60_000 }, () => {
  it("a message of the erased user from before the erasure is acked and not kept; the erasure's own is kept", async () => {
    const user = await erasedUser();
    const before = user.backup[0]!;
    const [erasure] = await userStream(env, user.id).readStream(user.erasedRevision, 1);
    const stranger = { ...before, id: crypto.randomUUID(), aggregate_id: crypto.randomUUID() };
    const batch = createMessageBatch(DEAD_LETTER_QUEUE, [
      { id: "late-before", body: before, timestamp: new Date(), attempts: 1 },
      { id: "late-erasure", body: erasure, timestamp: new Date(), attempts: 1 },
      { id: "late-other", body: stranger, timestamp: new Date(), attempts: 1 },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["late-before", "late-erasure", "late-other"]);
    const kept = await env.DB.prepare(
      "SELECT aggregate_id, revision FROM dead_letters WHERE aggregate_id IN (?, ?) ORDER BY revision DESC",
    )
      .bind(user.id, stranger.aggregate_id)
      .all<{ aggregate_id: string; revision: number }>();
    expect(kept.results).toEqual([
      { aggregate_id: user.id, revision: user.erasedRevision },
      { aggregate_id: stranger.aggregate_id, revision: 1 },
    ]);
    await expectErasedEverywhere(user);
  });
});

describe("a webhook replay after the erasure", { timeout: 60_000 }, () => {
  it("sends the user's events from the start of the feed, every personal field [erased]", async () => {
    const user = await erasedUser();
    const name = `ledger-replay-${crypto.randomUUID().slice(0, 8)}`;
    // A subscription from position 0 replays the whole feed, as `POST …/replay {from_position: 0}` does.
    const created = await call<{ id: string }>("POST", "/admin/subscriptions", {
      token: admin,
      body: { url: `${receiver}/hook/${name}`, from_position: 0 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const mine = async () =>
      ((await (await fetch(`${receiver}/log/${name}`)).json()) as { body: string }[])
        .map((r) => r.body)
        .filter((body) => body.includes(user.id));
    await vi.waitUntil(async () => (await mine()).some((body) => body.includes("USER_ERASED")), {
      timeout: 30_000,
      interval: 100,
    });
    const bodies = await mine();
    expect(bodies.length).toBeGreaterThanOrEqual(4);
    for (const body of bodies) for (const value of user.personal) expect(body).not.toContain(value);
    await call("DELETE", `/admin/subscriptions/${created.body.id}`, { token: admin });
  });
});

async function fullRebuild(): Promise<void> {
  const started = await call<RebuildProgress>("POST", "/admin/projections/rebuild?restart=true", { token: admin });
  expect(started.status).toBe(200);
  const stub = env.PROJECTION_REBUILD.getByName("read-model");
  await vi.waitUntil(
    async () => {
      await runDurableObjectAlarm(stub);
      const progress = await call<RebuildProgress>("GET", "/admin/projections/rebuild", { token: admin });
      return progress.body.status === "done";
    },
    { timeout: 30_000, interval: 10 },
  );
}
