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
const failure: DeliveryOutcome = { outcome: "retry", status: 500, error: "down", ms: 1 };

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
    rowsVersion: () => 0,
    heldBack: () => [],
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
    const { sink, sent } = recordingSink((one) => (one.id === "e-0-1" ? failure : delivered));
    await inSubscription(feedOf(3, 3), async (sql) => {
      await deliverDue(roundOf(sql, sink));
      const failed = store.deliveryRow(sql, "e-0-1")!;
      expect(failed).toMatchObject({ state: "pending", attempts: 1, last_status: 500 });
      expect(failed.next_attempt_at).toBeGreaterThan(Date.now());
    });
    expect(sent.filter((s) => s.user === "user-0").map((s) => s.id)).toEqual(["e-0-1"]);
    expect(sent).toHaveLength(7);
  });

  it("does not mark a redelivered row delivered by a send from before, and sends it again", async () => {
    // What Subscription.redeliver does: requeue the row, then bump its user's rows version.
    const version = new Map<string, number>();
    let sqlOf: SqlStorage | null = null;
    let requeued = false;
    const { sink, sent } = recordingSink((one) => {
      // e-0-1's 2xx is in, waiting to be written with others, when the redeliver lands.
      if (one.id !== "e-0-1" && !requeued && sent.some((s) => s.id === "e-0-1")) {
        requeued = store.requeue(sqlOf!, "e-0-1", Date.now());
        version.set("user-0", 1);
      }
      return delivered;
    });
    await inSubscription(feedOf(10, 1), async (sql) => {
      sqlOf = sql;
      await deliverDue(roundOf(sql, sink, { rowsVersion: (user) => version.get(user) ?? 0 }));
      expect(states(sql)).toEqual([{ state: "delivered", n: 10 }]);
    });
    expect(requeued).toBe(true);
    expect(sent.filter((s) => s.id === "e-0-1")).toHaveLength(2);
    expect(sent).toHaveLength(11);
  });

  it("keeps a user's order when its earlier event is redelivered after its next one was read for sending", async () => {
    // user-7's first event was delivered before the round; its second is among the heads the round
    // reads ahead. A redeliver of the first lands while the round's first sends are out.
    const events = feedOf(8, 2);
    const version = new Map<string, number>();
    let sqlOf: SqlStorage | null = null;
    let requeued = false;
    const { sink, sent } = recordingSink(() => {
      // What Subscription.redeliver does with a delivered row: its event back, requeued, version bumped.
      if (!requeued) {
        store.restoreEvent(
          sqlOf!,
          events.find((e) => e.id === "e-7-1")!,
        );
        requeued = store.requeue(sqlOf!, "e-7-1", Date.now());
        version.set("user-7", 1);
      }
      return delivered;
    });
    await inSubscription(events, async (sql) => {
      sqlOf = sql;
      store.finishDelivery(sql, "e-7-1", { state: "delivered", status: 204, error: null, nextAttemptAt: null });
      await deliverDue(roundOf(sql, sink, { rowsVersion: (user) => version.get(user) ?? 0 }));
      expect(states(sql)).toEqual([{ state: "delivered", n: 16 }]);
    });
    expect(requeued).toBe(true);
    expect(sent.filter((s) => s.user === "user-7").map((s) => s.revision)).toEqual([1, 2]);
  });

  it("resends nothing of other users when one user's rows are rewritten, and still counts failures", async () => {
    const version = new Map<string, number>();
    const { sink, sent } = recordingSink((one) => {
      // An erasure of user-11 while these are out.
      if (one.id === "e-5-1") version.set("user-11", 1);
      return one.id === "e-0-1" ? failure : delivered;
    });
    await inSubscription(feedOf(12, 1), async (sql) => {
      await deliverDue(roundOf(sql, sink, { rowsVersion: (user) => version.get(user) ?? 0 }));
      expect(store.deliveryRow(sql, "e-0-1")).toMatchObject({ state: "pending", attempts: 1 });
    });
    expect(sent).toHaveLength(12);
  });

  it("sends none of a user's events while its rows are being rewritten, and the rewritten rows after", async () => {
    // What Subscription.forget does: hold the user back, await D1, rewrite its held rows, let go.
    const version = new Map<string, number>();
    const rewriting = new Set<string>();
    let sqlOf: SqlStorage | null = null;
    let forgot: Promise<void> | null = null;
    const names: { id: string; name: string; during: boolean }[] = [];
    const sink: Sink = {
      wants: () => true,
      deliver: () => Promise.reject(new Error("deliverHeld is used")),
      async deliverHeld(held) {
        const event = JSON.parse(held.json) as { data: { first_name: string } };
        names.push({ id: held.id, name: event.data.first_name, during: rewriting.size > 0 });
        if (held.id === "e-3-1") {
          forgot ??= (async () => {
            const positions = store.heldPositions(sqlOf!, "user-0");
            version.set("user-0", 1);
            rewriting.add("user-0");
            await new Promise((resolve) => setTimeout(resolve, 20));
            const erased = feedOf(8, 3)
              .filter((e) => positions.includes(e.position))
              .map((e) => ({ ...e, data: { first_name: "[erased]" } }) as FeedEvent);
            store.replaceHeld(sqlOf!, positions, erased);
            rewriting.delete("user-0");
          })();
        }
        await new Promise((resolve) => setTimeout(resolve, 3));
        return delivered;
      },
    };
    await inSubscription(feedOf(8, 3), async (sql) => {
      sqlOf = sql;
      await deliverDue(
        roundOf(sql, sink, {
          rowsVersion: (user) => version.get(user) ?? 0,
          heldBack: () => rewriting,
        }),
      );
      await forgot;
    });
    const user0 = names.filter((n) => n.id.startsWith("e-0-"));
    expect(user0.filter((n) => n.during)).toEqual([]);
    // Whatever of user-0 went after the erasure began went erased.
    const afterFirstOfUser3 = names.findIndex((n) => n.id === "e-3-1");
    const later = names.slice(afterFirstOfUser3 + 1).filter((n) => n.id.startsWith("e-0-"));
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((n) => n.name === "[erased]")).toBe(true);
  });

  it("starts nothing once a write fails, and returns only when every send is back", async () => {
    let out = 0;
    let thrown = false;
    let outWhenSettled = -1;
    let sentAtThrow = -1;
    const { sink, sent } = recordingSink(async (one) => {
      out--;
      return one.id === "e-0-1" ? failure : delivered;
    });
    const counting: Sink = {
      ...sink,
      deliverHeld: (held, attempt) => {
        out++;
        return sink.deliverHeld!(held, attempt);
      },
    };
    await inSubscription(feedOf(8, 4), async (sql) => {
      const round = roundOf(sql, counting, {
        onOutcome: (outcome) => {
          if (outcome.outcome === "retry" && !thrown) {
            thrown = true;
            sentAtThrow = sent.length;
            throw new Error("SQLITE_FULL");
          }
        },
      });
      await expect(deliverDue(round)).rejects.toThrow("SQLITE_FULL");
      outWhenSettled = out;
    });
    expect(outWhenSettled).toBe(0);
    expect(sentAtThrow).toBeGreaterThan(0);
    expect(sent).toHaveLength(sentAtThrow);
  });

  it("leaves the subscription's status at the latest answer, not at the latest written", async () => {
    // A pause lands as e-0-1's 2xx comes in: the round starts nothing more, and the 2xx waits to be
    // written at its end; e-1-1's failure comes after it and is written at once.
    let paused = false;
    const { sink } = recordingSink(async (one) => {
      if (one.id === "e-0-1") {
        paused = true;
        return delivered;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
      return failure;
    });
    const notes: string[] = [];
    await inSubscription(feedOf(2, 1), async (sql) => {
      await deliverDue(
        roundOf(sql, sink, { mayContinue: () => !paused, onOutcome: (outcome) => notes.push(outcome.outcome) }),
      );
      expect(states(sql)).toEqual([
        { state: "delivered", n: 1 },
        { state: "pending", n: 1 },
      ]);
    });
    expect(notes).toEqual(["retry"]);
  });

  it("sends again after a replay an event whose 2xx was waiting to be written", async () => {
    // What Subscription.replay does: bump the users pending after `from`, then rewind; the next
    // run's feed read ingests the events again.
    const events = feedOf(10, 1);
    const version = new Map<string, number>();
    let sqlOf: SqlStorage | null = null;
    let replayed = false;
    const { sink, sent } = recordingSink((one) => {
      if (one.id !== "e-0-1" && !replayed && sent.some((s) => s.id === "e-0-1")) {
        for (const user of store.usersPendingAfter(sqlOf!, 0)) version.set(user, (version.get(user) ?? 0) + 1);
        store.rewind(sqlOf!, 0);
        replayed = true;
      }
      return delivered;
    });
    await inSubscription(events, async (sql) => {
      sqlOf = sql;
      await deliverDue(roundOf(sql, sink, { rowsVersion: (user) => version.get(user) ?? 0 }));
      store.ingest(sql, events, events.length, events.length, 0);
      await deliverDue(roundOf(sql, sink));
    });
    expect(replayed).toBe(true);
    expect(sent.filter((s) => s.id === "e-0-1").length).toBeGreaterThanOrEqual(2);
  });

  it("counts a failure, and applies a 410, even when the user's rows were rewritten while it was out", async () => {
    const version = new Map<string, number>();
    const { sink, sent } = recordingSink((one) => {
      if (one.id !== "e-0-1") return delivered;
      version.set("user-0", 1);
      return { outcome: "gone", status: 410, ms: 1 };
    });
    const notes: string[] = [];
    await inSubscription(feedOf(3, 1), async (sql) => {
      await deliverDue(
        roundOf(sql, sink, {
          rowsVersion: (user) => version.get(user) ?? 0,
          mayContinue: () => !notes.includes("gone"),
          onOutcome: (outcome) => notes.push(outcome.outcome),
        }),
      );
      expect(store.deliveryRow(sql, "e-0-1")).toMatchObject({ state: "pending", attempts: 1, last_status: 410 });
    });
    expect(notes).toContain("gone");
    expect(sent.filter((s) => s.id === "e-0-1")).toHaveLength(1);
  });

  it("does not let a skipped answer hide a later 2xx from the status", async () => {
    const answers: Record<string, [number, DeliveryOutcome]> = {
      "user-0": [5, failure],
      "user-1": [15, delivered],
    };
    const { sink } = recordingSink(async (one) => {
      const [ms, outcome] = answers[one.user] ?? [30, { outcome: "skipped", reason: "already sent" }];
      await new Promise((resolve) => setTimeout(resolve, ms));
      return outcome;
    });
    const notes: string[] = [];
    await inSubscription(feedOf(4, 1), (sql) =>
      deliverDue(roundOf(sql, sink, { onOutcome: (outcome) => notes.push(outcome.outcome) })),
    );
    // A skipped answer says nothing of the receiver: it is not noted at all.
    expect(notes.at(-1)).toBe("delivered");
    expect(notes).not.toContain("skipped");
  });

  it("does not send a user's event read ahead once the user is held back", async () => {
    const held = new Set<string>();
    const { sink, sent } = recordingSink((one) => {
      if (one.id === "e-0-1") held.add("user-11");
      return delivered;
    });
    await inSubscription(feedOf(12, 1), (sql) => deliverDue(roundOf(sql, sink, { heldBack: () => held })));
    expect(sent.map((s) => s.user)).not.toContain("user-11");
  });

  it("sends the other users' events while many users are held back", async () => {
    const held = new Set(Array.from({ length: 12 }, (_, u) => `user-${u}`));
    const { sink, sent } = recordingSink(() => delivered);
    await inSubscription(feedOf(20, 1), (sql) => deliverDue(roundOf(sql, sink, { heldBack: () => held })));
    expect(new Set(sent.map((s) => s.user))).toEqual(new Set(Array.from({ length: 8 }, (_, u) => `user-${u + 12}`)));
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
