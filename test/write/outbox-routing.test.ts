import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { PublicEventSchema } from "../../src/domain/events";
import { confirmedRevision } from "../../src/write/ledger";
import { flushOutbox, reconcileOutbox } from "../../src/write/outbox";
import { readDatabases } from "../../src/shards";
import { expectOk, holdPublisher, recordingQueue, send, settleAlarms, stubFor, tables, update } from "./helpers";
import { createInput } from "../support/builders";
import { shardedEnv, userIdOnShard } from "../support/shards";

/**
 * The write side in a layout of four queues and four read databases (docs/decisions/0026): a user's
 * object announces to, and reads its confirmation from, the user's read database, and sends to the
 * user's queue, whichever layout the suite runs on.
 */

afterEach(settleAlarms);

/** Four recording queues as the layout's EVENT_QUEUES, over the test's four read databases. */
function fourQueues() {
  const recorders = [0, 1, 2, 3].map(() => recordingQueue());
  const env = shardedEnv({ EVENT_QUEUES: "ROUTE_Q0,ROUTE_Q1,ROUTE_Q2,ROUTE_Q3" });
  recorders.forEach(({ queue }, i) => Object.assign(env, { [`ROUTE_Q${i}`]: queue }));
  const sentTo = (i: number) => recorders[i]!.batches.flat().map((body) => PublicEventSchema.parse(body));
  return { env, sentTo };
}

const ledgerRow = (db: D1Database, userId: string) =>
  db.prepare("SELECT published_revision, confirmed_revision FROM streams WHERE user_id = ?").bind(userId).first();

describe("the outbox in a sharded layout", () => {
  it("sends each user's events to its own queue, and announces them in its own read database", async () => {
    const { env, sentTo } = fourQueues();
    const users = [0, 1, 2, 3].map((i) => userIdOnShard(i, `route-${crypto.randomUUID()}`));
    for (const userId of users) {
      await holdPublisher(stubFor(userId));
      expectOk(await send(userId, createInput()));
      expectOk(await update(userId, { first_name: "Routed" }));
      await runInDurableObject(stubFor(userId), (_instance, state) => flushOutbox(state, env, userId));
    }

    const databases = readDatabases(env);
    for (const [i, userId] of users.entries()) {
      // The queue of the user's shard has its two events, in order, and no other queue has any.
      expect(sentTo(i).map((event) => [event.aggregate_id, event.revision])).toEqual([
        [userId, 1],
        [userId, 2],
      ]);
      for (const [j, db] of databases.entries()) {
        const row = await ledgerRow(db, userId);
        if (j === i) expect(row).toEqual({ published_revision: 2, confirmed_revision: 0 });
        else expect(row).toBeNull();
      }
    }
  });

  it("forgets outbox rows once the user's read database confirms them", async () => {
    const { env } = fourQueues();
    const userId = userIdOnShard(2, `confirm-${crypto.randomUUID()}`);
    const stub = stubFor(userId);
    await holdPublisher(stub);
    expectOk(await send(userId, createInput()));
    await runInDurableObject(stub, (_instance, state) => flushOutbox(state, env, userId));
    const own = readDatabases(env)[2]!;
    // A confirmation in another database is not this user's: the rows stay.
    await readDatabases(env)[0]!
      .prepare("INSERT INTO streams (user_id, published_revision, confirmed_revision, owed_since) VALUES (?, 1, 1, 0)")
      .bind(userId)
      .run();
    await runInDurableObject(stub, (_instance, state) => reconcileOutbox(state, env, userId));
    expect((await tables(stub)).outbox.map((row) => row.revision)).toEqual([1]);

    await own.prepare("UPDATE streams SET confirmed_revision = 1 WHERE user_id = ?").bind(userId).run();
    expect(await confirmedRevision(own, userId)).toBe(1);
    await runInDurableObject(stub, (_instance, state) => reconcileOutbox(state, env, userId));
    expect((await tables(stub)).outbox).toEqual([]);
  });
});
