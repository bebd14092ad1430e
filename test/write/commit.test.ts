import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PublicEventSchema } from "../../src/domain/events";
import { confirmedRevision } from "../../src/write/ledger";
import { flushOutbox } from "../../src/write/outbox";
import type { UserStream } from "../../src/write/user-stream";
import {
  createUser,
  directoryHas,
  expectOk,
  holdPublisher,
  metadata,
  recordingQueue,
  rejectionOf,
  send,
  settleAlarms,
  storedHashes,
  stubFor,
  tables,
  update,
  type Tables,
} from "./helpers";
import { PASSWORD, createInput, uniqueName } from "../support/builders";
import { readDb, everyEventQueue } from "../support/shards";

/** True when no table of the object holds a row. */
function everyTableEmpty(snapshot: Tables): Record<string, number> {
  return Object.fromEntries(
    Object.entries(snapshot.all)
      .filter(([, rows]) => rows.length > 0)
      .map(([name, rows]) => [name, rows.length]),
  );
}

function idempotency() {
  return { key: crypto.randomUUID(), fingerprint: crypto.randomUUID() };
}

// Every command schedules the outbox alarm. Tests that hold the publisher release it, and
// `settleAlarms` runs whatever is still pending with `runDurableObjectAlarm`, so no flush leaks
// into the next test.
describe("a command commits all or nothing", () => {
  afterEach(settleAlarms);

  it("a rejected command on a missing user writes nothing at all", async () => {
    const userId = crypto.randomUUID();
    const result = await update(userId, { first_name: "Ghost" }, { idempotency: idempotency() });
    expect(rejectionOf(result)).toMatchObject({ code: "UserNotFound" });
    expect(everyTableEmpty(await tables(stubFor(userId)))).toEqual({});
  });

  it("a create with an invalid email writes nothing and reserves nothing", async () => {
    const userId = crypto.randomUUID();
    const input = createInput({ email: "not-an-email" });
    const result = await send(userId, input, { idempotency: idempotency() });
    expect(rejectionOf(result)).toMatchObject({ code: "ValidationFailed", field: "email" });
    expect(everyTableEmpty(await tables(stubFor(userId)))).toEqual({});
    // The username was not left reserved by the failed attempt.
    const retry = await send(crypto.randomUUID(), { ...input, email: `${input.username}@example.com` });
    expect(retry).toMatchObject({ ok: true, revision: 1 });
  });

  it("rejected commands on an existing user leave events, outbox, idempotency and meta untouched", async () => {
    const userId = crypto.randomUUID();
    const stub = stubFor(userId);
    const hold = await holdPublisher(stub);
    const input = createInput();
    expectOk(await send(userId, input));
    const before = await tables(stub);
    expect(before.events).toHaveLength(1);
    expect(before.outbox).toHaveLength(1);

    const rejections = [
      await update(userId, { email: "broken@" }, { idempotency: idempotency() }),
      await update(userId, { first_name: "Stale" }, { expectedRevision: 0, idempotency: idempotency() }),
      await update(userId, { first_name: "", last_name: null }, { idempotency: idempotency() }),
      await send(userId, createInput(), { idempotency: idempotency() }),
      await send(
        userId,
        { type: "ChangePassword", current_password: "wrong-password", new_password: "another-pass-1" },
        { idempotency: idempotency() },
      ),
      await send(
        userId,
        { type: "ChangePassword", current_password: PASSWORD, new_password: "short" },
        { idempotency: idempotency() },
      ),
      await send(userId, { type: "ReactivateUser" }, { idempotency: idempotency() }),
    ].map(rejectionOf);
    expect(rejections.map((r) => r.code)).toEqual([
      "ValidationFailed",
      "RevisionMismatch",
      "ValidationFailed",
      "UserAlreadyExists",
      "IncorrectPassword",
      "ValidationFailed",
      "BusinessRuleViolated",
    ]);

    expect((await tables(stub)).all).toEqual(before.all);
    expect((await stub.getUser()).revision).toBe(1);
    hold.release();
  });

  it("a failure at the last write of a commit rolls back the events and outbox rows already inserted", async () => {
    const { userId, stub } = await createUser();
    const hold = await holdPublisher(stub);
    // The idempotency record is the commit's last write: make it fail, after the event is in.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec(
        "CREATE TRIGGER test_idempotency_down BEFORE INSERT ON idempotency BEGIN SELECT RAISE(ABORT, 'idempotency store down'); END",
      );
    });
    const before = await tables(stub);
    const key = idempotency();

    // Called on the instance (not over RPC) so the expected error is caught where it is thrown.
    const failure = await runInDurableObject(stub, (instance: UserStream) =>
      instance
        .execute({
          userId,
          input: { type: "UpdateUser", first_name: "Halfway" },
          metadata: metadata(),
          idempotency: key,
        })
        .then(
          (result) => `unexpected result ${JSON.stringify(result)}`,
          (error: unknown) => String(error),
        ),
    );
    expect(failure).toMatch(/idempotency store down/);

    expect((await tables(stub)).all).toEqual(before.all);
    const current = await stub.getUser();
    expect(current.revision).toBe(1);
    expect(current.user?.first_name).toBe("First");

    // Once the store is back the same request goes through, as the next revision.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("DROP TRIGGER test_idempotency_down");
    });
    expect(await update(userId, { first_name: "Halfway" }, { idempotency: key })).toEqual({
      ok: true,
      userId,
      revision: 2,
      replayed: false,
    });
    expect((await tables(stub)).events.map((e) => e.revision)).toEqual([1, 2]);
    hold.release();
  });

  it("after N successful commands the outbox holds exactly the appended events, redacted", async () => {
    const userId = crypto.randomUUID();
    const stub = stubFor(userId);
    const hold = await holdPublisher(stub);
    const input = createInput();
    const results = [
      await send(userId, input),
      await update(userId, { first_name: "Ada", last_name: "Lovelace" }),
      await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "new-password-2" }),
      await send(userId, { type: "SuspendUser" }),
      await send(userId, { type: "ReactivateUser" }),
      await update(userId, { email: `changed-${input.email}` }),
      await send(userId, { type: "DeleteUser" }),
    ].map(expectOk);
    expect(results.map((r) => r.revision)).toEqual([1, 2, 3, 4, 5, 6, 7]);

    const { events, outbox, all } = await tables(stub);
    expect(events.map((e) => e.revision)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(outbox.map((o) => o.revision)).toEqual(events.map((e) => e.revision));

    // What the outbox publishes for those rows: the stream's events, redacted, one message each.
    const { queue, batches } = recordingQueue();
    await runInDurableObject(stub, (_instance, state) =>
      flushOutbox(state, { ...env, ...everyEventQueue(queue) }, userId),
    );
    const messages = batches.flat().map((body) => PublicEventSchema.parse(body));
    expect(messages.map((m) => m.revision)).toEqual(outbox.map((o) => o.revision));
    expect(messages.map((m) => m.id)).toEqual(events.map((e) => e.id));
    expect(messages).toEqual(await stub.readStream(1, 100));
    expect(messages.map((m) => m.aggregate_id)).toEqual(events.map(() => userId));
    expect(messages[0]!.data).toMatchObject({ username: input.username, email: input.email, role: "user" });

    // Create and password change put two hashes in the object; neither is in any message.
    const hashes = storedHashes(all);
    expect(hashes).toHaveLength(2);
    const published = JSON.stringify(batches);
    expect(published).not.toContain("password_hash");
    for (const hash of hashes) expect(published).not.toContain(hash);
    // Sent, but still owed until the read side confirms them.
    expect((await tables(stub)).outbox.map((o) => [o.revision, o.sent_at !== null])).toEqual(
      events.map((e) => [e.revision, true]),
    );
    hold.release();
  });

  it("the events table is append-only: UPDATE and DELETE throw and change nothing", async () => {
    const { userId, stub } = await createUser();
    expectOk(await update(userId, { first_name: "Second" }));
    const before = (await tables(stub)).events;

    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      expect(() => sql.exec("UPDATE events SET event_type = 'USER_DELETED' WHERE revision = 2")).toThrow(/append-only/);
      expect(() => sql.exec("UPDATE events SET data = '{}'")).toThrow(/append-only/);
      expect(() => sql.exec("DELETE FROM events WHERE revision = 2")).toThrow(/append-only/);
      expect(() => sql.exec("DELETE FROM events")).toThrow(/append-only/);
    });

    expect((await tables(stub)).events).toEqual(before);
    expect((await stub.getUser()).user?.first_name).toBe("Second");
  });
});

describe("the outbox alarm", () => {
  afterEach(settleAlarms);

  it("publishes the whole outbox to the queue and registers the user in the directory", async () => {
    const userId = crypto.randomUUID();
    const stub = stubFor(userId);
    const hold = await holdPublisher(stub);
    expectOk(await send(userId, createInput()));
    expectOk(await update(userId, { first_name: "Two" }));
    expectOk(await update(userId, { last_name: "Three" }));
    expect((await tables(stub)).outbox.map((o) => o.revision)).toEqual([1, 2, 3]);
    expect(await directoryHas(userId)).toBe(false);

    hold.release();
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    const sent = await tables(stub);
    expect(sent.outbox.map((o) => [o.revision, o.sent_at !== null])).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
    expect(sent.events.map((e) => e.revision)).toEqual([1, 2, 3]);
    expect(sent.meta).toContainEqual({ key: "registered", value: "1" });
    expect(await directoryHas(userId)).toBe(true);
    // The alarm stays armed until the read side confirms what was sent.
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).not.toBeNull();

    // The real queue's consumer projects and confirms; the next alarm forgets the rows and disarms.
    await vi.waitUntil(async () => (await confirmedRevision(readDb(userId), userId)) === 3, { timeout: 10_000 });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await tables(stub)).outbox).toEqual([]);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
  });

  it("keeps the rows and reschedules with growing backoff when the queue refuses", async () => {
    const userId = crypto.randomUUID();
    const stub = stubFor(userId);
    const hold = await holdPublisher(stub);
    expectOk(await send(userId, createInput()));
    expectOk(await update(userId, { first_name: "Two" }));

    let attempts = 0;
    const refusing: Queue = {
      metrics: () => Promise.reject(new Error("unused")),
      send: () => Promise.reject(new Error("queue unavailable")),
      sendBatch: () => {
        attempts += 1;
        return Promise.reject(new Error("queue unavailable"));
      },
    };
    const brokenEnv: Env = { ...env, ...everyEventQueue(refusing) };

    const flushOnce = () =>
      runInDurableObject(stub, async (_instance, state) => {
        await state.storage.deleteAlarm();
        const start = Date.now();
        await flushOutbox(state, brokenEnv, userId);
        return { start, alarm: await state.storage.getAlarm() };
      });

    const first = await flushOnce();
    expect(attempts).toBe(1);
    expect((await tables(stub)).outbox.map((o) => o.revision)).toEqual([1, 2]);
    expect(first.alarm).not.toBeNull();
    expect(first.alarm!).toBeGreaterThan(first.start);

    const second = await flushOnce();
    expect(attempts).toBe(2);
    expect((await tables(stub)).outbox.map((o) => o.revision)).toEqual([1, 2]);
    // Backoff grows (with jitter: the first waits 0.5-1 s, the second 1-2 s).
    expect(second.alarm! - second.start).toBeGreaterThanOrEqual(first.alarm! - first.start);
    expect(second.alarm! - second.start).toBeGreaterThanOrEqual(1000);
    expect((await tables(stub)).meta).toContainEqual({ key: "flush_failures", value: "2" });

    // The queue is back: the real alarm publishes everything and resets the failure count.
    hold.release();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = await tables(stub);
    expect(after.outbox.every((o) => o.sent_at !== null)).toBe(true);
    expect(after.meta).toContainEqual({ key: "flush_failures", value: "0" });
  });

  it("publishes in revision order, in batches the queue accepts", async () => {
    const userId = crypto.randomUUID();
    const stub = stubFor(userId);
    const hold = await holdPublisher(stub);
    expectOk(await send(userId, createInput()));
    for (let i = 0; i < 120; i++) expectOk(await update(userId, { first_name: `n${i}` }));

    const { queue, batches } = recordingQueue();
    await runInDurableObject(stub, (_instance, state) =>
      flushOutbox(state, { ...env, ...everyEventQueue(queue) }, userId),
    );

    expect(batches.map((b) => b.length)).toEqual([100, 21]);
    expect(batches.flat().map((body) => PublicEventSchema.parse(body).revision)).toEqual(
      Array.from({ length: 121 }, (_, i) => i + 1),
    );
    expect((await tables(stub)).outbox.every((o) => o.sent_at !== null)).toBe(true);
    hold.release();
  });
});

/**
 * Queues cap a sendBatch at 100 messages and 256 KB. 100 corrections with 1000-character reasons
 * (in data and metadata) exceed the bytes: the outbox must split by size, or every retry would
 * send the same 100 again and the user's outbox would be stuck for good.
 */
describe("an outbox backlog of large events", () => {
  afterEach(settleAlarms);

  it("drains in batches the queue accepts, 100 max-size corrections included", async () => {
    const { userId, stub } = await createUser();
    const admin = { id: crypto.randomUUID(), username: uniqueName("admin") };
    const reason = "r".repeat(1000);
    await runInDurableObject(stub, async (instance: UserStream, state) => {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          instance.execute({
            userId,
            input: {
              type: "CorrectUser",
              changes: { first_name: `F${i}`.padEnd(150, "x"), last_name: "L".padEnd(150, "y") },
              reason,
            },
            metadata: {
              actor_id: admin.id,
              actor_username: admin.username,
              request_id: "q".repeat(128),
              idempotency_key: crypto.randomUUID() + "k".repeat(200),
              reason,
            },
          }),
        ),
      );
      expect(results.every((r) => r.ok)).toBe(true);
      await state.storage.deleteAlarm();
    });
    for (let i = 0; i < 3; i++) {
      await runInDurableObject(stub, (_i: UserStream, state) => state.storage.setAlarm(Date.now()));
      expect(await runDurableObjectAlarm(stub)).toBe(true);
    }
    expect((await tables(stub)).meta.find((m) => m.key === "flush_failures")?.value ?? "0").toBe("0");
    // All sent: once the consumer confirms them, the next alarm empties the outbox.
    await vi.waitUntil(async () => (await confirmedRevision(readDb(userId), userId)) === 101, { timeout: 20_000 });
    await runInDurableObject(stub, (_i: UserStream, state) => state.storage.setAlarm(Date.now()));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.status()).outboxSize).toBe(0);
  });
});
