import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { shardOf } from "../../src/shards";
import { adminSession } from "../support/api";
import { userCreated } from "../support/builders";

/**
 * `POST /admin/dead-letters/{id}/redrive` in a layout of four event queues (docs/decisions/0026):
 * a letter goes back on its user's queue, as the user's object sends, and no other.
 */

let admin: string;
beforeAll(async () => {
  admin = (await adminSession()).token;
});

/** Four queues that record what `send` is given, as the layout's EVENT_QUEUES over the test env. */
function fourQueues() {
  const sent: unknown[][] = [[], [], [], []];
  const queues = sent.map((into): Queue => ({
    metrics: () => Promise.reject(new Error("not used by a redrive")),
    sendBatch: () => Promise.reject(new Error("not used by a redrive")),
    send: async (body) => {
      into.push(body);
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
    },
  }));
  const names = queues.map((_, i) => `REDRIVE_Q${i}`);
  const sharded = { ...env, EVENT_QUEUES: names.join(","), ...Object.fromEntries(names.map((n, i) => [n, queues[i]])) };
  return { env: sharded as Env, sent };
}

async function letterOf(body: unknown, aggregateId: string | null): Promise<number> {
  const { meta } = await env.DB.prepare(
    `INSERT INTO dead_letters (message_id, aggregate_id, revision, projection, body, attempts, error, failed_at)
     VALUES (?, ?, 1, 'users', ?, 6, 'test: gave up', ?)`,
  )
    .bind(crypto.randomUUID(), aggregateId, JSON.stringify(body), new Date().toISOString())
    .run();
  return meta.last_row_id;
}

const redrive = (id: number, sharded: Env) =>
  worker.fetch(
    new Request(`http://localhost/admin/dead-letters/${id}/redrive`, {
      method: "POST",
      headers: { Authorization: `Bearer ${admin}` },
    }),
    sharded,
    createExecutionContext(),
  );

describe("redrive in a layout of four queues", () => {
  it("sends each letter to its user's queue only", async () => {
    const { env: sharded, sent } = fourQueues();
    const users = Array.from({ length: 12 }, () => crypto.randomUUID());
    for (const userId of users) {
      const event = userCreated(userId);
      expect((await redrive(await letterOf(event, userId), sharded)).status).toBe(200);
      const shard = shardOf(userId, 4);
      expect(sent[shard]!.at(-1)).toEqual(event);
    }
    expect(sent.flat()).toHaveLength(users.length);
    for (const [shard, bodies] of sent.entries()) {
      for (const body of bodies) expect(shardOf((body as { aggregate_id: string }).aggregate_id, 4)).toBe(shard);
    }
  });

  it("sends a letter no user could be read from to the first queue", async () => {
    const { env: sharded, sent } = fourQueues();
    const id = await letterOf({ not: "an event" }, null);
    expect((await redrive(id, sharded)).status).toBe(200);
    expect(sent.map((bodies) => bodies.length)).toEqual([1, 0, 0, 0]);
  });
});
