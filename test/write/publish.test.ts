import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ERASED, PublicEventSchema } from "../../src/domain/events";
import type { UserStream } from "../../src/write/user-stream";
import {
  createUser,
  expectOk,
  published,
  publisherOf,
  recordingQueue,
  send,
  settleAlarms,
  type Stub,
  tables,
  update,
} from "./helpers";
import { everyEventQueue, readDb, userReadDatabase } from "../support/shards";

/** Gives the object another environment (a recording queue, a held D1) from now on. */
async function useEnv(stub: Stub, replaced: Partial<Env>): Promise<void> {
  await runInDurableObject(stub, (instance: UserStream) => {
    // Every module of the object reads the environment from its one StreamContext.
    const target = (instance as unknown as { stream: { env: Env } }).stream;
    target.env = { ...target.env, ...replaced };
  });
}

/** The user's read database, whose writes (the ledger's announce) wait until `open()`. */
function heldDatabase(real: D1Database): { db: D1Database; open(): void; waiting: () => number } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let waiting = 0;
  const db = new Proxy(real, {
    get(target, name) {
      if (name !== "prepare") return Reflect.get(target, name) as unknown;
      return (query: string) => {
        const statement = target.prepare(query);
        return {
          bind: (...values: unknown[]) => {
            const bound = statement.bind(...values);
            return {
              run: async () => {
                waiting++;
                await gate;
                return bound.run();
              },
              first: () => bound.first(),
            };
          },
        };
      };
    },
  });
  return { db, open, waiting: () => waiting };
}

describe("the publish right after a commit", () => {
  afterEach(settleAlarms);

  it("sends the events the commit holds, redacted: the messages the stream would give", async () => {
    const { userId, stub } = await createUser();
    await published(stub);
    const { queue, batches } = recordingQueue();
    await useEnv(stub, everyEventQueue(queue));
    expectOk(await update(userId, { first_name: "Second", email: `second-${userId}@example.com` }));
    expectOk(
      await send(userId, { type: "CorrectUser", changes: { last_name: "Third" }, reason: "a typo in the name" }),
    );
    await published(stub);
    const messages = batches.flat().map((body) => PublicEventSchema.parse(body));
    expect(messages.map((m) => m.revision)).toEqual([2, 3]);
    expect(messages).toEqual(await stub.readStream(2, 100));
  });

  it("reads from the stream instead when an erasure commits before the send: no personal data leaves", async () => {
    const { userId, stub, username, email } = await createUser();
    await published(stub);
    const { queue, batches } = recordingQueue();
    const held = heldDatabase(readDb(userId));
    await useEnv(stub, { ...everyEventQueue(queue), ...userReadDatabase(userId, held.db) });
    // The update's publish takes its events, then waits on the ledger; the erasure commits meanwhile.
    expectOk(await update(userId, { first_name: "Confidential", last_name: "Person" }));
    await expect.poll(held.waiting).toBe(1);
    expectOk(await send(userId, { type: "EraseUser" }));
    expect(batches).toEqual([]);
    held.open();
    await published(stub);

    const messages = batches.flat().map((body) => PublicEventSchema.parse(body));
    expect(messages.map((m) => [m.revision, m.event_type])).toEqual([
      [2, "USER_UPDATED"],
      [3, "USER_ERASED"],
    ]);
    expect(messages[0]!.data).toEqual({ first_name: ERASED, last_name: ERASED });
    const sent = JSON.stringify(batches);
    for (const secret of ["Confidential", "Person", username, email]) expect(sent).not.toContain(secret);
  });

  it("marks the rows a commit handed over unsent again when the queue refuses them: the alarm sends them", async () => {
    const { userId, stub } = await createUser();
    await published(stub);
    const refusing = recordingQueue();
    refusing.queue.sendBatch = () => Promise.reject(new Error("queue unavailable"));
    await useEnv(stub, everyEventQueue(refusing.queue));
    expectOk(await update(userId, { first_name: "Second" }));
    await vi.waitUntil(() =>
      runInDurableObject(stub, (instance: UserStream) => publisherOf(instance).running === null),
    );
    const refused = await tables(stub);
    expect(refused.outbox.filter((row) => row.revision === 2).map((row) => row.sent_at)).toEqual([null]);
    expect(refused.meta).toContainEqual({ key: "flush_failures", value: "1" });

    const { queue, batches } = recordingQueue();
    await useEnv(stub, everyEventQueue(queue));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(batches.flat().map((body) => PublicEventSchema.parse(body).revision)).toContain(2);
    expect((await tables(stub)).outbox.every((row) => row.sent_at !== null)).toBe(true);
  });
});
