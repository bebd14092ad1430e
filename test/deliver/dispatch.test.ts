import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliverDue, type Round } from "../../src/deliver/dispatch";
import type { DeliveryOutcome, HeldEvent, Sink } from "../../src/deliver/sink";
import * as store from "../../src/deliver/subscription-store";
import { subscription } from "../../src/objects";
import type { FeedEvent } from "../../src/read/feed";

/**
 * One round of deliveries (`deliverDue`) in a subscription object's own SQLite, against a sink
 * that answers in the test: what is sent, how often and in which order, and what is recorded.
 */

/** `perUser` events of each of `users` users, in feed order interleaved across users. */
function feedOf(users: number, perUser: number): FeedEvent[] {
  const events: FeedEvent[] = [];
  for (let revision = 1; revision <= perUser; revision++) {
    for (let u = 0; u < users; u++) {
      events.push({
        id: `e-${u}-${revision}`,
        aggregate_id: `user-${u}`,
        event_type: "USER_UPDATED",
        version: 1,
        timestamp: new Date(0).toISOString(),
        revision,
        data: { first_name: `F${revision}` },
        metadata: { actor_id: null, actor_username: null, request_id: null, idempotency_key: null, reason: null },
        position: events.length + 1,
      } as FeedEvent);
    }
  }
  return events;
}

interface Sent {
  id: string;
  user: string;
  revision: number;
}

/** A sink that answers each send after a few ms (different per send, so answers come back out of order). */
function recordingSink(answer: (sent: Sent, count: number) => DeliveryOutcome | Promise<DeliveryOutcome>) {
  const sent: Sent[] = [];
  const sink: Sink = {
    wants: () => true,
    deliver: () => Promise.reject(new Error("deliverHeld is used")),
    async deliverHeld(held: HeldEvent) {
      const event = JSON.parse(held.json) as FeedEvent & { aggregate_id: string; revision: number };
      const one = { id: held.id, user: event.aggregate_id, revision: event.revision };
      sent.push(one);
      await new Promise((resolve) => setTimeout(resolve, (sent.length * 7) % 5));
      return answer(one, sent.filter((s) => s.id === held.id).length);
    },
  };
  return { sink, sent };
}

const delivered: DeliveryOutcome = { outcome: "delivered", status: 204, ms: 1 };

/** Runs `body` in a new subscription object whose deliveries table holds `events`, all due. */
async function inSubscription<T>(events: FeedEvent[], body: (sql: SqlStorage) => Promise<T>): Promise<T> {
  const stub = subscription(env, `dispatch-${crypto.randomUUID()}`);
  return runInDurableObject(stub, async (_instance, state) => {
    const sql = state.storage.sql;
    store.createTables(sql);
    store.ingest(sql, events, events.length, events.length, 0);
    return body(sql);
  });
}

function roundOf(sql: SqlStorage, sink: Sink, extra: Partial<Round> = {}): Round {
  return {
    sql,
    sink,
    retry: { baseMs: 60_000, capMs: 60_000, maxAttempts: 5 },
    mayContinue: () => true,
    removed: () => false,
    generation: () => 0,
    deadline: Date.now() + 60_000,
    onOutcome: () => {},
    ...extra,
  };
}

const states = (sql: SqlStorage) =>
  sql.exec<{ state: string; n: number }>("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state").toArray();

describe("deliverDue", () => {
  it("sends each event once, each user's in revision order, and records every success by the end", async () => {
    const { sink, sent } = recordingSink(() => delivered);
    await inSubscription(feedOf(9, 7), async (sql) => {
      await deliverDue(roundOf(sql, sink));
      expect(states(sql)).toEqual([{ state: "delivered", n: 63 }]);
    });
    expect(new Set(sent.map((s) => s.id)).size).toBe(sent.length);
    expect(sent).toHaveLength(63);
    for (let u = 0; u < 9; u++) {
      const revisions = sent.filter((s) => s.user === `user-${u}`).map((s) => s.revision);
      expect(revisions).toEqual([1, 2, 3, 4, 5, 6, 7]);
    }
  });

  it("keeps one busy user's events in order while others are sent", async () => {
    const events = [
      ...feedOf(1, 12),
      ...feedOf(4, 2).map((e) => ({ ...e, id: `o-${e.id}`, aggregate_id: `other-${e.aggregate_id}` })),
    ].map((e, i) => ({ ...e, position: i + 1 }) as FeedEvent);
    const { sink, sent } = recordingSink(() => delivered);
    await inSubscription(events, (sql) => deliverDue(roundOf(sql, sink)));
    expect(sent.filter((s) => s.user === "user-0").map((s) => s.revision)).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    expect(sent).toHaveLength(20);
  });

  it("does not send a failed delivery again before its backoff, nor the user's next event", async () => {
    const { sink, sent } = recordingSink((one) =>
      one.id === "e-0-1" ? { outcome: "retry", status: 500, error: "down", ms: 1 } : delivered,
    );
    await inSubscription(feedOf(3, 3), async (sql) => {
      await deliverDue(roundOf(sql, sink));
      const failed = store.deliveryRow(sql, "e-0-1")!;
      expect(failed).toMatchObject({ state: "pending", attempts: 1, last_status: 500 });
      expect(failed.next_attempt_at).toBeGreaterThan(Date.now());
    });
    expect(sent.filter((s) => s.user === "user-0").map((s) => s.id)).toEqual(["e-0-1"]);
    expect(sent).toHaveLength(7);
  });

  it("does not record a success sent while the row was rewritten, and sends it again as it reads now", async () => {
    let generation = 0;
    const { sink, sent } = recordingSink((one, count) => {
      // An erasure or a replay lands while the first send of e-1-2 is out.
      if (one.id === "e-1-2" && count === 1) generation++;
      return delivered;
    });
    await inSubscription(feedOf(2, 3), async (sql) => {
      await deliverDue(roundOf(sql, sink, { generation: () => generation }));
      expect(states(sql)).toEqual([{ state: "delivered", n: 6 }]);
    });
    expect(sent.filter((s) => s.id === "e-1-2")).toHaveLength(2);
    expect(sent.filter((s) => s.user === "user-1").map((s) => s.revision)).toEqual([1, 2, 2, 3]);
  });

  it("writes nothing once the subscription is removed", async () => {
    let removed = false;
    const { sink } = recordingSink(() => {
      removed = true;
      return delivered;
    });
    await inSubscription(feedOf(2, 2), async (sql) => {
      await deliverDue(roundOf(sql, sink, { removed: () => removed, mayContinue: () => !removed }));
      expect(states(sql)).toEqual([{ state: "pending", n: 4 }]);
    });
  });
});
