import {
  createExecutionContext,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { projectBatch } from "../../src/read/consumer";
import { ProjectionRebuild } from "../../src/read/projection-rebuild";
import type { RebuildProgress } from "../../src/read/rebuild-progress";
import { callerBefore } from "../../src/read/reshard";
import { readDatabaseOf } from "../../src/shards";
import { announce } from "../../src/write/ledger";
import { fakeMessage } from "../read/fixtures";
import { streamOf } from "../http/helpers";
import { adminSession, call, createUser, tokenWithoutLogin } from "../support/api";
import type { UserListBody, UserView } from "../support/types";
import { uniqueName } from "../support/builders";

/**
 * A re-shard of the read databases while reads keep answering (decision 0027). Users are created
 * in the layout this suite runs on (`DB` alone, or `[env.sharded]`'s four), then the read side is
 * switched to another layout with `READ_DATABASES_PREVIOUS` naming the one being left (one to four
 * databases, or four to three keeping two), as a deployment would be: gets, lists, token checks and
 * the access report answer for every user before, during and after the rebuild that moves them,
 * an event committed meanwhile reaches the user's new database, and once the rebuild is done every
 * user is in its new database only, and the previous layout can be forgotten.
 */

const FROM = env.READ_DATABASES || "DB";
const TO = FROM === "DB" ? "DB,TEST_SHARD_1,TEST_SHARD_2,TEST_SHARD_3" : "READ_0,READ_1,TEST_SHARD_1";
/** The deployment during the re-shard, and after it once `READ_DATABASES_PREVIOUS` is cleared. */
const resharding = { ...env, READ_DATABASES: TO, READ_DATABASES_PREVIOUS: FROM } as Env;
const resharded = { ...env, READ_DATABASES: TO, READ_DATABASES_PREVIOUS: "" } as Env;

/** Every D1 database bound in this run, by binding name. */
const NAMES = ["DB", "READ_0", "READ_1", "READ_2", "READ_3", "TEST_SHARD_1", "TEST_SHARD_2", "TEST_SHARD_3"];
const bound = NAMES.map(
  (name) => [name, (env as unknown as Record<string, D1Database | undefined>)[name]] as const,
).filter((entry): entry is readonly [string, D1Database] => entry[1] !== undefined);
/** The binding name of a read database (what assertions compare: bindings themselves do not serialize). */
const nameOf = (db: D1Database) => bound.find(([, each]) => each === db)![0];

/** A request to the Worker running as `as` (a layout of its own), with a bearer token. */
async function request<T>(as: Env, path: string, token: string): Promise<{ status: number; body: T }> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://localhost${path}`, { headers: { Authorization: `Bearer ${token}` } }),
    as,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as T };
}

/** The databases holding a row of the user in `table` (`users`, `streams`, `user_intervals`), by name. */
async function whereIs(userId: string, table: "users" | "streams" | "user_intervals"): Promise<string[]> {
  const column = table === "users" ? "id" : "user_id";
  const found: string[] = [];
  for (const [name, db] of bound) {
    const row = await db.prepare(`SELECT 1 AS n FROM ${table} WHERE ${column} = ?`).bind(userId).first();
    if (row) found.push(name);
  }
  return found;
}

/** Every page of the live list, walked by cursor: its ids in order and the count each page gave. */
async function walkList(as: Env, token: string): Promise<{ ids: string[]; counts: number[] }> {
  const ids: string[] = [];
  const counts: number[] = [];
  let path = "/v1/users/?page_size=4";
  for (;;) {
    const page = await request<UserListBody>(as, path, token);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    ids.push(...page.body.results.map((user) => user.id));
    counts.push(page.body.count);
    if (!page.body.next_cursor) return { ids, counts };
    path = `/v1/users/?page_size=4&cursor=${page.body.next_cursor}`;
  }
}

/**
 * Waits until the suite's own consumer confirmed each user's whole stream in the suite's layout and
 * the user's object forgot its outbox. The suite's objects and consumer run the suite's layout, not
 * the test's: from then on they do not write these users again, so what the re-shard moves stays moved.
 */
async function settled(ids: string[]): Promise<void> {
  await vi.waitUntil(
    async () => {
      for (const id of ids) {
        const stub = env.USER_STREAM.getByName(id);
        const confirmed = await readDatabaseOf(env, id)
          .prepare("SELECT confirmed_revision AS n FROM streams WHERE user_id = ?")
          .bind(id)
          .first<number>("n");
        if (confirmed !== (await stub.status()).revision) return false;
        // Its alarm forgets the outbox rows the read side confirmed.
        await runDurableObjectAlarm(stub);
        if ((await stub.status()).outboxSize > 0) return false;
      }
      return true;
    },
    { timeout: 20_000, interval: 50 },
  );
}

/** Everything a reader relies on for each user: a get (as an admin and as itself), the list, the access report. */
async function everyoneAnswers(
  as: Env,
  admin: { token: string },
  users: { id: string; username: string; token: string }[],
) {
  for (const user of users) {
    const got = await request<{ user: UserView }>(as, `/v1/users/${user.id}/`, admin.token);
    expect(got.status, JSON.stringify(got.body)).toBe(200);
    expect(got.body.user.username).toBe(user.username);
    // The user's own token, checked against its row wherever the row is.
    const own = await request<{ user: UserView }>(as, `/v1/users/${user.id}/`, user.token);
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    const report = await request<{ stores: { read_model: { user: { id: string } | null } } }>(
      as,
      `/v1/users/${user.id}/personal-data/`,
      user.token,
    );
    expect(report.status).toBe(200);
    expect(report.body.stores.read_model.user?.id).toBe(user.id);
  }
  const { ids, counts } = await walkList(as, admin.token);
  for (const user of users) expect(ids.filter((id) => id === user.id)).toEqual([user.id]);
  expect(new Set(ids).size).toBe(ids.length);
  expect(counts.every((count) => count === ids.length)).toBe(true);
  // `page=N` too: the summed per-minute counts find every page's start.
  const paged: string[] = [];
  for (let page = 1; page <= Math.ceil(ids.length / 4); page++) {
    const res = await request<UserListBody>(as, `/v1/users/?page=${page}&page_size=4`, admin.token);
    paged.push(...res.body.results.map((user) => user.id));
  }
  expect(paged).toEqual(ids);
}

/**
 * `as` with each database's batches watched: once one commits, each of these users is looked for
 * in every database, and one found in none is recorded in `lost`. A re-shard's rebuild must never
 * leave a user in neither the database it was in nor its new one, while reads look in both.
 */
function watched(as: Env, ids: readonly string[], lost: string[]): Env {
  const wrapped = bound.map(([name, db]) => {
    const proxy = new Proxy(db, {
      get(target, key) {
        if (key === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            const results = await target.batch(statements);
            for (const id of ids) if ((await whereIs(id, "users")).length === 0) lost.push(id);
            return results;
          };
        }
        const value: unknown = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return [name, proxy] as const;
  });
  return { ...as, ...Object.fromEntries(wrapped) } as Env;
}

/** Runs the full rebuild to its end with the Worker's layout `as`, checking `between` after each step. */
async function rebuildAs(as: Env, between: () => Promise<void>): Promise<RebuildProgress> {
  // An object of its own, so that no alarm of the suite's rebuild runs it with the suite's layout.
  const stub = env.PROJECTION_REBUILD.getByName(`reshard-${crypto.randomUUID()}`);
  const stepping = { ...as, REBUILD_USERS_PER_STEP: "4" };
  const inLayout = (instance: ProjectionRebuild) =>
    Object.create(instance, {
      env: { value: stepping },
      // Steps are run here, one at a time: no alarm.
      ctx: { value: { storage: { setAlarm: async () => {} } } },
    }) as ProjectionRebuild;
  await runInDurableObject(stub, (instance: ProjectionRebuild) =>
    ProjectionRebuild.prototype.start.call(inLayout(instance), true, null),
  );
  let steps = 0;
  for (;;) {
    const covered = await runInDurableObject(stub, (instance: ProjectionRebuild) =>
      ProjectionRebuild.prototype.step.call(inLayout(instance)),
    );
    steps++;
    const progress = await runInDurableObject(stub, (instance: ProjectionRebuild) => instance.progress());
    expect(progress.last_error).toBeNull();
    if (covered === null) {
      expect(steps).toBeGreaterThan(2);
      return progress;
    }
    await between();
  }
}

let admin: { id: string; token: string };
let users: { id: string; username: string; token: string }[];

beforeAll(async () => {
  admin = await adminSession();
  const prefix = uniqueName("reshard");
  users = [];
  for (let i = 0; i < 10; i++) {
    const created = await createUser(admin.token, { username: `${prefix}${i}` });
    users.push({ id: created.id, username: created.username, token: await tokenWithoutLogin(created.id) });
  }
  // Projected in the suite's layout (the admin's login too) before the read side changes layout.
  await settled([admin.id, ...users.map((user) => user.id)]);
}, 60_000);

describe("a re-shard of the read databases while reads keep answering", () => {
  it("a token check that finds the caller only where it was reads the newest revision its object announced where it is now", async () => {
    const user = users.find((u) => readDatabaseOf(resharding, u.id) !== readDatabaseOf(env, u.id))!;
    const before = await callerBefore(resharding, user.id);
    expect(before).toMatchObject({ status: "active", role: "user" });
    expect(before!.published).toBe(before!.revision);
    // A revocation committed and announced in the user's new database, not projected yet.
    await readDatabaseOf(resharding, user.id)
      .prepare("INSERT INTO streams (user_id, published_revision, confirmed_revision, owed_since) VALUES (?, ?, 0, 0)")
      .bind(user.id, before!.revision + 1)
      .run();
    expect((await callerBefore(resharding, user.id))!.published).toBe(before!.revision + 1);
    // Outside a re-shard there is nowhere else to look.
    expect(await callerBefore(resharded, user.id)).toBeUndefined();
    await readDatabaseOf(resharding, user.id).prepare("DELETE FROM streams WHERE user_id = ?").bind(user.id).run();
  });

  it(`from ${FROM} to ${TO}: every user answers before, during and after the rebuild, then is in its new database only`, async () => {
    const moving = users.filter((user) => readDatabaseOf(resharding, user.id) !== readDatabaseOf(env, user.id));
    expect(moving.length).toBeGreaterThan(0);
    for (const user of moving) expect(await whereIs(user.id, "users")).toEqual([nameOf(readDatabaseOf(env, user.id))]);

    // The new layout deployed, nothing moved yet: every user answers from where it was.
    await everyoneAnswers(resharding, admin, users);

    // An event committed during the re-shard: the new layout's consumer writes the user's whole row
    // in its new database (its ledger row is not there: the gap is filled from the user's object),
    // and the user leaves the database it was in.
    const changed = moving[0]!;
    const update = await call("PUT", `/v1/users/${changed.id}/`, {
      token: admin.token,
      body: { first_name: "Moved" },
    });
    expect(update.status).toBe(200);
    const events = await streamOf(changed.id);
    const last = events[events.length - 1]!;
    // The suite's own consumer and object are done with it first: they run the suite's layout.
    await settled([changed.id]);
    // The new layout's object announces the revision in the user's new database, then sends it.
    await announce(readDatabaseOf(resharding, changed.id), changed.id, last.revision, Date.now());
    const message = fakeMessage(last);
    await projectBatch([message], resharding);
    expect(message.ack).toHaveBeenCalled();
    const newHome = readDatabaseOf(resharding, changed.id);
    const newName = nameOf(newHome);
    expect(await whereIs(changed.id, "users")).toEqual([newName]);
    expect(await whereIs(changed.id, "streams")).toEqual([newName]);
    expect(await whereIs(changed.id, "user_intervals")).toEqual([newName]);
    const row = await newHome.prepare("SELECT * FROM users WHERE id = ?").bind(changed.id).first();
    expect(row).toMatchObject({ username: changed.username, first_name: "Moved", revision: last.revision });
    const seen = await request<{ user: UserView }>(resharding, `/v1/users/${changed.id}/`, changed.token);
    expect(seen.body.user.first_name).toBe("Moved");

    // The rebuild, a few users per step, reads answering between steps.
    const lost: string[] = [];
    const everyone = [admin.id, ...users.map((user) => user.id)];
    const done = await rebuildAs(watched(resharding, everyone, lost), () => everyoneAnswers(resharding, admin, users));
    expect(done).toMatchObject({ status: "done", users_done: done.users_total });
    expect(lost).toEqual([]);
    expect(done.users_total).toBeGreaterThanOrEqual(users.length + 1);

    // Every user in its new database alone: its row, ledger and intervals.
    for (const { id } of [{ id: admin.id }, ...users]) {
      const home = nameOf(readDatabaseOf(resharding, id));
      expect(await whereIs(id, "users")).toEqual([home]);
      expect(await whereIs(id, "user_intervals")).toEqual([home]);
      // A ledger row only where the user is now: the next revision its object announces makes one.
      expect((await whereIs(id, "streams")).filter((name) => name !== home)).toEqual([]);
    }
    await everyoneAnswers(resharding, admin, users);
    // The previous layout forgotten: everything still answers.
    await everyoneAnswers(resharded, admin, users);
  }, 120_000);
});
