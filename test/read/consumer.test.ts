import { env } from "cloudflare:workers";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ERASED } from "../../src/domain/events";
import worker from "../../src/index";
import { EVENTS_QUEUE, projectBatch } from "../../src/read/consumer";
import { subscriptionsChanged } from "../../src/read/wake-subscriptions";
import { dbWithBatch, envWith, fakeMessage, mailsTo, quietUser, userRow } from "./fixtures";
import { createInput, userCreated, userEvent } from "../support/builders";
import { readDb } from "../support/shards";

const newId = () => crypto.randomUUID();

describe("duplicates", () => {
  it("the same message twice in one batch: applied once, both acked, no mail from the projector", async () => {
    const userId = newId();
    const event = userCreated(userId);
    const first = fakeMessage(event);
    const again = fakeMessage(event);

    await projectBatch([first, again], env);

    expect(await userRow(userId)).toMatchObject({ id: userId, username: event.data.username, revision: 1 });
    for (const m of [first, again]) {
      expect(m.ack).toHaveBeenCalledOnce();
      expect(m.retry).not.toHaveBeenCalled();
    }
    expect(await mailsTo(userId)).toEqual([]);
  });

  it("the same event twice in one batch for a user with a real object: applied once, both acked, no mail from the projector", async () => {
    const userId = newId();
    const [e1, e2] = await quietUser(userId, [
      createInput({ username: `dob${userId.slice(0, 8)}` }),
      { type: "UpdateUser", first_name: "Again" },
    ]);
    const messages = [fakeMessage(e1), fakeMessage(e1), fakeMessage(e2), fakeMessage(e2)];
    await projectBatch(messages, env);

    expect(await userRow(userId)).toMatchObject({ firstName: "Again", revision: 2 });
    for (const m of messages) {
      expect(m.ack).toHaveBeenCalledOnce();
      expect(m.retry).not.toHaveBeenCalled();
    }
    expect(await mailsTo(userId)).toEqual([]);
  });

  it("the same update twice in one batch, for a live user: applied once, both acked", async () => {
    const userId = newId();
    await projectBatch([fakeMessage(userCreated(userId))], env);
    const update = userEvent(userId, 2, "USER_UPDATED", { first_name: "Twice" });
    const a = fakeMessage(update);
    const b = fakeMessage(update);

    await projectBatch([a, b], env);

    expect(await userRow(userId)).toMatchObject({ firstName: "Twice", revision: 2 });
    expect(a.ack).toHaveBeenCalledOnce();
    expect(b.ack).toHaveBeenCalledOnce();
    expect(a.retry).not.toHaveBeenCalled();
    expect(b.retry).not.toHaveBeenCalled();
  });

  it("the same message across two batches: applied once, both acked, no mail from the projector", async () => {
    const userId = newId();
    const event = userCreated(userId);
    const first = fakeMessage(event);
    await projectBatch([first], env);
    const rowAfterFirst = await userRow(userId);

    const redelivered = fakeMessage(event, { attempts: 2 });
    await projectBatch([redelivered], env);

    expect(rowAfterFirst).toMatchObject({ revision: 1 });
    expect(await userRow(userId)).toEqual(rowAfterFirst);
    expect(first.ack).toHaveBeenCalledOnce();
    expect(redelivered.ack).toHaveBeenCalledOnce();
    expect(redelivered.retry).not.toHaveBeenCalled();
    expect(await mailsTo(userId)).toEqual([]);
  });

  it("an older event after a newer one changes nothing and is acked", async () => {
    const userId = newId();
    await projectBatch(
      [fakeMessage(userCreated(userId)), fakeMessage(userEvent(userId, 2, "USER_UPDATED", { last_name: "Second" }))],
      env,
    );
    const stale = fakeMessage(userEvent(userId, 2, "USER_UPDATED", { last_name: "Stale copy" }));
    await projectBatch([stale], env);
    expect(await userRow(userId)).toMatchObject({ lastName: "Second", revision: 2 });
    expect(stale.ack).toHaveBeenCalledOnce();
  });

  it("through the worker's queue handler: duplicates in one batch are all acked, nothing retried", async () => {
    const userId = newId();
    const event = userCreated(userId);
    const batch = createMessageBatch(EVENTS_QUEUE, [
      { id: "dup-a", timestamp: new Date(), attempts: 1, body: event },
      { id: "dup-b", timestamp: new Date(), attempts: 1, body: event },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    const result = await getQueueResult(batch, ctx);

    expect(result.retryMessages).toEqual([]);
    expect(result.retryBatch.retry).toBe(false);
    expect([...result.explicitAcks].sort()).toEqual(["dup-a", "dup-b"]);
    expect(await userRow(userId)).toMatchObject({ revision: 1 });
    expect(await mailsTo(userId)).toEqual([]);
  });
});

describe("gaps", () => {
  it("revision 3 before 2, with 1 never delivered: healed from the user's object, acked only after commit", async () => {
    const userId = newId();
    const events = await quietUser(userId, [
      createInput({ username: `gap${userId.slice(0, 8)}` }),
      { type: "UpdateUser", first_name: "Second" },
      { type: "UpdateUser", last_name: "Third" },
    ]);
    expect(events.map((e) => e.revision)).toEqual([1, 2, 3]);
    const [e1, e2, e3] = events as [(typeof events)[0], (typeof events)[0], (typeof events)[0]];

    const log: string[] = [];
    const db = dbWithBatch(async (real, statements) => {
      const results = await real.batch(statements);
      log.push("committed");
      return results;
    });
    const third = fakeMessage(e3, { id: "third", log });
    await projectBatch([third], envWith({ DB: db }));

    expect(await userRow(userId)).toMatchObject({
      username: e1.event_type === "USER_CREATED" ? e1.data.username : "a stream starts with USER_CREATED",
      firstName: "Second",
      lastName: "Third",
      createdAt: e1.timestamp,
      updatedAt: e3.timestamp,
      revision: 3,
    });
    // Two D1 batches (every projection's checkpoints, then the writes); the ack only after the second.
    expect(log).toEqual(["committed", "committed", "ack third"]);
    expect(await mailsTo(userId)).toEqual([]);

    // Revision 2 arrives late: already part of the row.
    const second = fakeMessage(e2, { id: "second" });
    await projectBatch([second], env);
    expect(second.ack).toHaveBeenCalledOnce();
    expect(second.retry).not.toHaveBeenCalled();
    expect(await userRow(userId)).toMatchObject({ firstName: "Second", lastName: "Third", revision: 3 });
  });

  it("a gap over a projected row is filled from the object: 1 projected, then 3 alone", async () => {
    const userId = newId();
    const [e1, , e3] = await quietUser(userId, [
      createInput({ username: `gbp${userId.slice(0, 8)}` }),
      { type: "UpdateUser", email: `moved${userId.slice(0, 8)}@example.org` },
      { type: "DeleteUser" },
    ]);
    await projectBatch([fakeMessage(e1)], env);
    expect(await userRow(userId)).toMatchObject({ revision: 1, status: "active" });

    const third = fakeMessage(e3);
    await projectBatch([third], env);
    expect(await userRow(userId)).toMatchObject({
      revision: 3,
      email: `moved${userId.slice(0, 8)}@example.org`,
      status: "deleted",
      deletedAt: e3!.timestamp,
    });
    expect(third.ack).toHaveBeenCalledOnce();
  });

  it("when the object cannot be reached the messages are retried, not acked, and the row is unchanged", async () => {
    const userId = newId();
    const [e1, , e3] = await quietUser(userId, [
      createInput({ username: `gur${userId.slice(0, 8)}` }),
      { type: "UpdateUser", first_name: "Second" },
      { type: "UpdateUser", first_name: "Third" },
    ]);
    await projectBatch([fakeMessage(e1)], env);
    const before = await userRow(userId);

    const unreachable = {
      getByName: () => ({
        readStream: async () => {
          throw new Error("object unreachable");
        },
      }),
    } as unknown as Env["USER_STREAM"];
    const third = fakeMessage(e3, { attempts: 3 });
    await projectBatch([third], envWith({ USER_STREAM: unreachable }));

    expect(third.ack).not.toHaveBeenCalled();
    expect(third.retry).toHaveBeenCalledOnce();
    expect(third.retry.mock.calls[0]?.[0]?.delaySeconds).toBeGreaterThan(0);
    expect(await userRow(userId)).toEqual(before);

    // The retry, with the object back, heals the gap.
    const retried = fakeMessage(e3, { attempts: 4 });
    await projectBatch([retried], env);
    expect(retried.ack).toHaveBeenCalledOnce();
    expect(await userRow(userId)).toMatchObject({ firstName: "Third", revision: 3 });
  });

  it("a gap the object cannot fill is retried, never acked with the row left behind", async () => {
    // The object's stream does not (yet) reach the delivered revision: acking would drop the
    // event for good; retrying lets it reach the dead-letter queue after max_retries, visibly.
    const userId = newId();
    await projectBatch([fakeMessage(userCreated(userId))], env);
    const orphan = fakeMessage(userEvent(userId, 3, "USER_UPDATED", { first_name: "Orphan" }));
    await projectBatch([orphan], env);

    expect(await userRow(userId)).toMatchObject({ revision: 1 });
    expect(orphan.ack).not.toHaveBeenCalled();
    expect(orphan.retry).toHaveBeenCalledOnce();
  });

  it("an unreachable object for one user does not hold back another user's messages in the batch", async () => {
    const healthy = newId();
    const gapped = newId();
    const unreachable = {
      getByName: () => ({
        readStream: async () => {
          throw new Error("object unreachable");
        },
      }),
    } as unknown as Env["USER_STREAM"];
    const ok = fakeMessage(userCreated(healthy));
    const behind = fakeMessage(userEvent(gapped, 3, "USER_UPDATED", { first_name: "Later" }));
    await projectBatch([ok, behind], envWith({ USER_STREAM: unreachable }));

    expect(ok.ack).toHaveBeenCalledOnce();
    expect(await userRow(healthy)).toMatchObject({ revision: 1 });
    expect(behind.ack).not.toHaveBeenCalled();
    expect(behind.retry).toHaveBeenCalledOnce();
    expect(await userRow(gapped)).toBeUndefined();
  });
});

describe("D1 failures", () => {
  const failingDb = dbWithBatch(async () => {
    throw new Error("D1_ERROR: simulated outage");
  });

  it("a failed D1 batch retries the messages, acks none, leaves the row unchanged and sends no mail", async () => {
    const userId = newId();
    await projectBatch([fakeMessage(userCreated(userId))], env);
    const before = await userRow(userId);

    const update = fakeMessage(userEvent(userId, 2, "USER_UPDATED", { first_name: "Lost?" }), { attempts: 2 });
    await projectBatch([update], envWith({ DB: failingDb }));

    expect(update.ack).not.toHaveBeenCalled();
    expect(update.retry).toHaveBeenCalledOnce();
    expect(await userRow(userId)).toEqual(before);

    // Delivered again once D1 is back: applied.
    const again = fakeMessage(update.body, { attempts: 3 });
    await projectBatch([again], env);
    expect(again.ack).toHaveBeenCalledOnce();
    expect(await userRow(userId)).toMatchObject({ firstName: "Lost?", revision: 2 });
  });

  it("a failed create records nothing; the retry projects it, still mailing no one (the mail subscription does)", async () => {
    const userId = newId();
    const created = userCreated(userId);
    const first = fakeMessage(created);
    await projectBatch([first], envWith({ DB: failingDb }));

    expect(first.retry).toHaveBeenCalledOnce();
    expect(first.ack).not.toHaveBeenCalled();
    expect(await userRow(userId)).toBeUndefined();
    expect(await mailsTo(userId)).toEqual([]);

    const retried = fakeMessage(created, { attempts: 2 });
    await projectBatch([retried], env);
    expect(retried.ack).toHaveBeenCalledOnce();
    expect(await mailsTo(userId)).toEqual([]);
  });

  it("through the worker's queue handler: every message of the failed batch is retried, none acked", async () => {
    const a = newId();
    const b = newId();
    const batch = createMessageBatch(EVENTS_QUEUE, [
      { id: "fail-a", timestamp: new Date(), attempts: 1, body: userCreated(a) },
      { id: "fail-b", timestamp: new Date(), attempts: 1, body: userCreated(b) },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, envWith({ DB: failingDb }));
    const result = await getQueueResult(batch, ctx);

    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((m) => m.msgId).sort()).toEqual(["fail-a", "fail-b"]);
    expect(await userRow(a)).toBeUndefined();
    expect(await userRow(b)).toBeUndefined();
  });
});

/**
 * Two consumer invocations for one new user: A holds USER_CREATED (real data, sent before the
 * erasure), B holds the erased stream [USER_CREATED as "[erased]", USER_ERASED]. A plans on "no
 * row", B commits first, then A commits. A's row insert is a no-op (guarded), but its welcome insert
 * must not land: the erased user's address must not reach sent_emails, nor the mail go out.
 */
describe("a late create racing a projected erasure", () => {
  it("stores no address for the erased user", async () => {
    const userId = crypto.randomUUID();
    const created = userCreated(userId);

    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let arrived!: () => void;
    const atBatch = new Promise<void>((r) => (arrived = r));
    const real = env.DB;
    const gatedDb = new Proxy(real, {
      get(target, prop) {
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            arrived();
            await gate;
            return target.batch(statements);
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });

    // A: plans on an empty row and waits at its D1 batch.
    const a = projectBatch([fakeMessage(created)], { ...env, DB: gatedDb } as Env);
    await atBatch;

    // B: the erased stream, projected and committed first.
    const erasedCreated = {
      ...created,
      data: { ...created.data, username: ERASED, email: ERASED, first_name: ERASED, last_name: ERASED },
    };
    const erasedEvent = userEvent(userId, 2, "USER_ERASED");
    await projectBatch([fakeMessage(erasedCreated), fakeMessage(erasedEvent)], env);
    const row = await readDb(userId).prepare("SELECT status, revision FROM users WHERE id = ?").bind(userId).first();
    expect(row).toMatchObject({ status: "erased", revision: 2 });

    open();
    await a;
    const mail = await env.DB.prepare("SELECT recipient, body FROM sent_emails WHERE user_id = ?").bind(userId).first();
    expect(mail === null || (mail as { recipient: string }).recipient === ERASED).toBe(true);
  });
});

/** The real D1 database, counting the round trips made through it (a batch is one). */
function countingDb(): { db: D1Database; roundTrips: () => number } {
  let count = 0;
  const real = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, key) {
        if (key === "bind") return (...values: unknown[]) => wrap(target.bind(...values));
        if (key === "all" || key === "first" || key === "run" || key === "raw") count += 1;
        const value: unknown = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    real.set(proxy, statement);
    return proxy;
  };
  const db = new Proxy(env.DB, {
    get(target, key) {
      if (key === "prepare") return (query: string) => wrap(target.prepare(query));
      if (key === "batch") {
        return (statements: D1PreparedStatement[]) => {
          count += 1;
          return target.batch(statements.map((s) => real.get(s) ?? s));
        };
      }
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, roundTrips: () => count };
}

describe("cost", () => {
  it("a batch of 20 users' events takes three D1 round trips: every checkpoint read at once, every write at once, the subscriptions to wake (listed at most once a second)", async () => {
    const ids = Array.from({ length: 20 }, newId);
    const messages = ids.flatMap((id) => [
      fakeMessage(userCreated(id)),
      fakeMessage(userEvent(id, 2, "USER_UPDATED", { first_name: "Counted" })),
    ]);
    const { db, roundTrips } = countingDb();
    subscriptionsChanged();

    await projectBatch(messages, envWith({ DB: db }));

    expect(roundTrips()).toBe(3);
    for (const m of messages) expect(m.ack).toHaveBeenCalledOnce();
    for (const id of ids) expect(await userRow(id)).toMatchObject({ firstName: "Counted", revision: 2 });

    // The next batch, right after, wakes the subscriptions listed for this one: two round trips.
    const next = ids.map((id) => fakeMessage(userEvent(id, 3, "USER_UPDATED", { first_name: "Again" })));
    await projectBatch(next, envWith({ DB: db }));
    expect(roundTrips()).toBe(5);
  });
});
