import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ERASED, type PublicEvent } from "../../src/domain/events";
import { requestTrail } from "../../src/admin/request-trail";
import { projectBatch } from "../../src/read/consumer";
import { welcomeState } from "../../src/read/mail";
import { projectionStatus } from "../../src/read/projection-status";
import { PROJECTIONS } from "../../src/read/projections";
import { rebuildUsers, removeMisplaced, scanRange } from "../../src/read/replay";
import { eraseExpiredDeletedUsers } from "../../src/read/retention";
import { sweepOwedStreams, STALE_MS } from "../../src/read/sweeper";
import { createInput, userCreated, userEvent } from "../support/builders";
import { shardedEnv, userIdOnShard } from "../support/shards";
import { fakeMessage, quietUser } from "./fixtures";

/**
 * The read side's writes with the read model over four databases (decision 0026): `DB` is also the
 * first read database, as in `shardedEnv()`. Each test draws its users by a prefix of its own.
 */

const SHARDS = [env.DB, env.TEST_SHARD_1, env.TEST_SHARD_2, env.TEST_SHARD_3];

const count = async (db: D1Database, sql: string, ...params: unknown[]) =>
  (await db
    .prepare(sql)
    .bind(...params)
    .first<number>("n"))!;

/** In which of the four databases the user has a `users` row / an intervals checkpoint / audit rows / feed rows. */
async function whereIs(userId: string) {
  const where = async (sql: string) => {
    const found: number[] = [];
    for (const [i, db] of SHARDS.entries()) if ((await count(db, sql, userId)) > 0) found.push(i);
    return found;
  };
  return {
    users: await where("SELECT COUNT(*) AS n FROM users WHERE id = ?"),
    intervals: await where("SELECT COUNT(*) AS n FROM user_intervals WHERE user_id = ?"),
    intervalsCheckpoint: await where(
      "SELECT COUNT(*) AS n FROM checkpoints WHERE projection = 'intervals' AND user_id = ?",
    ),
    audit: await where("SELECT COUNT(*) AS n FROM audit_log WHERE user_id = ?"),
    feed: await where("SELECT COUNT(*) AS n FROM feed WHERE user_id = ?"),
    auditCheckpoint: await where("SELECT COUNT(*) AS n FROM checkpoints WHERE projection = 'audit' AND user_id = ?"),
  };
}

/** The ledger row the user's object would have announced, in the user's read database. */
async function announce(db: D1Database, userId: string, published: number, owedSince = Date.now()) {
  await db
    .prepare(
      `INSERT INTO streams (user_id, published_revision, confirmed_revision, owed_since) VALUES (?, ?, 0, ?)
       ON CONFLICT (user_id) DO UPDATE SET published_revision = excluded.published_revision, confirmed_revision = 0`,
    )
    .bind(userId, published, owedSince)
    .run();
}

const confirmed = (db: D1Database, userId: string) =>
  count(db, "SELECT confirmed_revision AS n FROM streams WHERE user_id = ?", userId);

/** The database, except that every batch after the first `passing` fails (a D1 write lost between the databases). */
function failingAfter(passing: number, db = env.DB): D1Database {
  let calls = 0;
  return new Proxy(db, {
    get(target, key) {
      if (key === "batch") {
        return (statements: D1PreparedStatement[]) =>
          ++calls <= passing ? target.batch(statements) : Promise.reject(new Error("D1_ERROR: DB unreachable"));
      }
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The default layout (the read model in DB alone), whichever layout this test run has. */
const defaultLayout = () => shardedEnv({ READ_DATABASES: "DB" });

describe("projecting into several read databases", () => {
  it("each user's row and intervals land in its own read database only; audit and feed in DB", async () => {
    const sharded = shardedEnv();
    const ids = [0, 1, 2, 3].map((i) => userIdOnShard(i, "land"));
    const messages = ids.flatMap((id) => [
      fakeMessage(userCreated(id)),
      fakeMessage(userEvent(id, 2, "USER_UPDATED", { first_name: "Moved" })),
    ]);

    await projectBatch(messages, sharded);

    for (const m of messages) expect(m.ack).toHaveBeenCalledOnce();
    for (const [i, id] of ids.entries()) {
      expect(await whereIs(id)).toEqual({
        users: [i],
        intervals: [i],
        intervalsCheckpoint: [i],
        audit: [0],
        feed: [0],
        auditCheckpoint: [0],
      });
      expect(await count(SHARDS[i]!, "SELECT revision AS n FROM users WHERE id = ?", id)).toBe(2);
    }
  });

  it("the ledger in the user's read database confirms what every projection holds", async () => {
    const sharded = shardedEnv();
    const id = userIdOnShard(2, "ledger");
    await announce(env.TEST_SHARD_2, id, 2);

    await projectBatch(
      [fakeMessage(userCreated(id)), fakeMessage(userEvent(id, 2, "USER_DELETED", { reason: null }))],
      sharded,
    );

    expect(await confirmed(env.TEST_SHARD_2, id)).toBe(2);
    expect(await count(env.DB, "SELECT COUNT(*) AS n FROM streams WHERE user_id = ?", id)).toBe(0);
  });

  it("DB's writes failing: the read database commits its own, the confirmation stays behind, and a retry completes it", async () => {
    const id = userIdOnShard(1, "behind");
    await announce(env.TEST_SHARD_1, id, 2);
    const events: PublicEvent[] = [userCreated(id), userEvent(id, 2, "USER_UPDATED", { first_name: "Late" })];
    // DB answers the checkpoints' load, then fails every write: the audit log and the feed stay behind.
    const broken = { ...shardedEnv(), DB: failingAfter(1) } as Env;
    const first = events.map((e) => fakeMessage(e));

    await projectBatch(first, broken);

    for (const m of first) {
      expect(m.retry).toHaveBeenCalledOnce();
      expect(m.ack).not.toHaveBeenCalled();
    }
    expect(await whereIs(id)).toMatchObject({ users: [1], audit: [], feed: [] });
    // The user's row holds revision 2, but the audit log and the feed hold nothing: not confirmed.
    expect(await confirmed(env.TEST_SHARD_1, id)).toBe(0);

    const retried = events.map((e) => fakeMessage(e, { attempts: 2 }));
    await projectBatch(retried, shardedEnv());

    for (const m of retried) expect(m.ack).toHaveBeenCalledOnce();
    expect(await whereIs(id)).toMatchObject({ users: [1], audit: [0], feed: [0] });
    expect(await count(env.DB, "SELECT COUNT(*) AS n FROM audit_log WHERE user_id = ?", id)).toBe(2);
    expect(await confirmed(env.TEST_SHARD_1, id)).toBe(2);
  });

  it("a dead letter of a user on another read database is resolved only once both databases hold its event", async () => {
    const id = userIdOnShard(3, "letter");
    const created = userCreated(id);
    await env.DB.prepare(
      `INSERT INTO dead_letters (message_id, aggregate_id, revision, projection, body, attempts, error, failed_at, state)
       VALUES (?, ?, 1, 'users', '{}', 6, 'boom', ?, 'open')`,
    )
      .bind(created.id, id, new Date().toISOString())
      .run();
    const state = () => env.DB.prepare("SELECT state FROM dead_letters WHERE aggregate_id = ?").bind(id).first("state");
    // The user's read database answers the load, then fails its writes: DB holds the event, it does not.
    const broken = { ...shardedEnv(), TEST_SHARD_3: failingAfter(1, env.TEST_SHARD_3) } as Env;

    await projectBatch([fakeMessage(created)], broken);

    expect(await whereIs(id)).toMatchObject({ users: [], audit: [0] });
    expect(await state()).toBe("open");

    const retried = fakeMessage(created, { attempts: 2 });
    await projectBatch([retried], shardedEnv());

    // DB had nothing left to write: the read database's batch alone, and the message is done.
    expect(retried.ack).toHaveBeenCalledOnce();
    expect(retried.retry).not.toHaveBeenCalled();

    expect(await whereIs(id)).toMatchObject({ users: [3], audit: [0] });
    expect(await state()).toBe("resolved");
  });
});

describe("an erasure of a user on another read database", () => {
  it("clears its sent mail in DB, and the mail sink sees the erasure from DB alone", async () => {
    const id = userIdOnShard(2, "erased");
    const created = userCreated(id);
    await env.DB.prepare(
      `INSERT INTO sent_emails (user_id, kind, recipient, subject, body, event_id, sent_at, attempts)
       VALUES (?, 'welcome', ?, 'Welcome!', 'Hello', ?, ?, 1)`,
    )
      .bind(id, created.data.email, created.id, new Date().toISOString())
      .run();

    await projectBatch([fakeMessage(created), fakeMessage(userEvent(id, 2, "USER_ERASED"))], shardedEnv());

    expect(await whereIs(id)).toMatchObject({ users: [2], audit: [0] });
    expect(await env.DB.prepare("SELECT recipient, body FROM sent_emails WHERE user_id = ?").bind(id).first()).toEqual({
      recipient: ERASED,
      body: ERASED,
    });
    expect(await welcomeState(env.DB, id)).toEqual({ sent: true, erased: true });
  });
});

describe("a request's trail", () => {
  it("reads each projection's checkpoint and head where it lives", async () => {
    const id = userIdOnShard(1, "trail");
    const requestId = crypto.randomUUID();
    const created = userCreated(id);
    const event = { ...created, metadata: { ...created.metadata, request_id: requestId } };

    await projectBatch([fakeMessage(event)], shardedEnv());

    const trail = await requestTrail(shardedEnv(), requestId);
    const states = Object.fromEntries(trail!.events[0]!.projections.map((p) => [p.name, [p.state, p.checkpoint]]));
    expect(states).toEqual({
      users: ["applied", 1],
      audit: ["applied", 1],
      intervals: ["applied", 1],
      feed: ["applied", 1],
    });
    const usersHead = trail!.events[0]!.projections.find((p) => p.name === "users")!;
    expect(usersHead.applied_at).not.toBeNull();
  });
});

describe("rebuild, sweeper and status over several read databases", () => {
  it("a rebuild fills every read database with its own users, audit and feed in DB, and confirms each ledger", async () => {
    const sharded = shardedEnv();
    const ids = [0, 1, 2, 3].map((i) => userIdOnShard(i, "rebuild"));
    for (const [i, id] of ids.entries()) {
      await quietUser(id, [
        createInput({ username: `rb${i}${id.slice(-4)}` }),
        { type: "UpdateUser", first_name: "R" },
      ]);
      await announce(SHARDS[i]!, id, 2);
    }

    await rebuildUsers(sharded, ids);

    for (const [i, id] of ids.entries()) {
      const where = await whereIs(id);
      // The real queue's consumer (the default layout) may also have put the users in DB: only the
      // three other databases are checked for rows that must not be there.
      const elsewhere = (found: number[]) => found.filter((k) => k !== 0);
      expect(elsewhere(where.users)).toEqual(elsewhere([i]));
      expect(elsewhere(where.intervals)).toEqual(elsewhere([i]));
      expect(where).toMatchObject({ audit: [0], feed: [0], auditCheckpoint: [0] });
      expect(where.users).toContain(i);
      expect(where.intervalsCheckpoint).toContain(i);
      expect(await count(SHARDS[i]!, "SELECT revision AS n FROM users WHERE id = ?", id)).toBe(2);
      expect(await confirmed(SHARDS[i]!, id)).toBe(2);
    }
  });

  it("a rebuild step finds and removes the rows a re-shard left in databases no longer the user's", async () => {
    const sharded = shardedEnv();
    const id = userIdOnShard(2, "moved");
    const range = { after: "moved", upTo: "moved-~" };
    for (const db of [env.DB, env.TEST_SHARD_1]) {
      await db.batch([
        db
          .prepare(
            `INSERT INTO users (id, username, email, first_name, last_name, role, status, created_at, updated_at, revision)
             VALUES (?1, ?1, ?1 || '@example.com', 'F', 'L', 'user', 'active', '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', 1)`,
          )
          .bind(id),
        db.prepare("INSERT INTO checkpoints VALUES ('intervals', ?, 1, 'null')").bind(id),
      ]);
    }
    await announce(env.TEST_SHARD_1, id, 1);
    // The default layout: DB is the user's read database, nothing is misplaced.
    expect((await scanRange(defaultLayout(), PROJECTIONS, range, new Set([id]))).misplaced).toEqual([]);

    const scan = await scanRange(sharded, PROJECTIONS, range, new Set([id]));

    expect(scan.ghosts).toEqual([]);
    expect(scan.misplaced.map((m) => [SHARDS.indexOf(m.db), m.ids])).toEqual([
      [0, [id]],
      [1, [id]],
    ]);
    await removeMisplaced(sharded, PROJECTIONS, scan.misplaced);
    expect(await whereIs(id)).toMatchObject({ users: [], intervalsCheckpoint: [] });
    expect(await count(env.TEST_SHARD_1, "SELECT COUNT(*) AS n FROM streams WHERE user_id = ?", id)).toBe(0);
    expect((await scanRange(sharded, PROJECTIONS, range, new Set([id]))).misplaced).toEqual([]);
  });

  it("the sweeper finds streams owed for too long on any read database", async () => {
    const now = Date.now();
    const ids = [1, 2, 3].map((i) => userIdOnShard(i, "swept"));
    for (const [k, id] of ids.entries()) await announce(SHARDS[k + 1]!, id, 1, now - STALE_MS - 1_000);

    expect(await sweepOwedStreams(shardedEnv(), now)).toBeGreaterThanOrEqual(3);
    // The default layout sees only DB's ledger: none of these.
    const inDb = await count(
      env.DB,
      "SELECT COUNT(*) AS n FROM streams WHERE confirmed_revision < published_revision AND owed_since < ?",
      now - STALE_MS,
    );
    expect(await sweepOwedStreams(defaultLayout(), now)).toBe(inDb);
  });

  it("retention finds deleted users on any read database", async () => {
    const id = userIdOnShard(2, "retained");
    const events = await quietUser(id, [
      createInput({ username: `ret${id.slice(-6)}` }),
      { type: "DeleteUser", reason: "left" },
    ]);
    await projectBatch(
      events.map((e) => fakeMessage(e)),
      shardedEnv(),
    );
    expect(await whereIs(id)).toMatchObject({ users: [2] });

    const later = Date.now() + 31 * 86_400_000;
    expect(await eraseExpiredDeletedUsers(shardedEnv(), 30, later)).toBe(1);
    expect((await env.USER_STREAM.getByName(id).readStream(3, 1))[0]?.event_type).toBe("USER_ERASED");
  });

  it("the status counts what every read database owes, against the projections wherever they live", async () => {
    const sharded = shardedEnv();
    const before = await projectionStatus(sharded);
    const id = userIdOnShard(3, "status");
    await announce(env.TEST_SHARD_3, id, 2, Date.now() - 5_000);

    const after = await projectionStatus(sharded);

    expect(after.outbox.users - before.outbox.users).toBe(1);
    expect(after.outbox.backlog - before.outbox.backlog).toBe(2);
    for (const name of ["users", "audit", "intervals", "feed"]) {
      const was = before.projections.find((p) => p.name === name)!.users_behind;
      expect(after.projections.find((p) => p.name === name)!.users_behind - was).toBe(1);
    }
    expect(after.projections.find((p) => p.name === "audit")!.oldest_owed_age_ms).toBeGreaterThanOrEqual(5_000);
  });
});
