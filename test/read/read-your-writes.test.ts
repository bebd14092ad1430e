import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { projectBatch } from "../../src/read/consumer";
import {
  JOIN_POLICY,
  mayJoin,
  rememberStreamRevision,
  retryAfterSeconds,
  rowAtRevision,
  waitingNow,
  WAIT_POLICY,
  type Joining,
} from "../../src/read/read-your-writes";
import type { CallerRow } from "../../src/read/queries";
import type { WaitPolicy } from "../../src/read/backoff";
import { userCreated, userEvent } from "../support/builders";
import { fakeMessage } from "./fixtures";
import { readDb } from "../support/shards";

/**
 * Read-your-writes waiting (issue 25): a waiter is told by the projector, backs off when nobody
 * tells it, and shares its D1 looks with the other waiters of the isolate.
 */

/** The real D1 database, counting its round trips (a statement's first/all/run/raw, a batch). */
function countingDb(real: D1Database = env.DB): { db: D1Database; roundTrips: () => number } {
  let count = 0;
  const statement = (real: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(real, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key);
        if (typeof value !== "function") return value;
        if (key === "bind") return (...args: unknown[]) => statement(target.bind(...args));
        if (key === "first" || key === "all" || key === "run" || key === "raw") {
          return (...args: unknown[]) => {
            count += 1;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
  const db = new Proxy(real, {
    get(target, key) {
      if (key === "prepare") return (query: string) => statement(target.prepare(query));
      if (key === "batch") {
        return (statements: D1PreparedStatement[]) => {
          count += 1;
          return target.batch(statements);
        };
      }
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db, roundTrips: () => count };
}

/** A user projected at revision 1. */
async function projectedUser(): Promise<string> {
  const id = crypto.randomUUID();
  await projectBatch([fakeMessage(userCreated(id))], env);
  return id;
}

const renamed = (id: string, revision: number) =>
  fakeMessage(userEvent(id, revision, "USER_UPDATED", { first_name: `F${revision}` }));

/** Looks so slow that only the projector's word can answer before the deadline. */
const NO_LOOKS = { firstMs: 60_000, maxMs: 60_000 };

describe("read-your-writes waiting", () => {
  it("is answered when the projection commits the revision, told by the projector, not by a look", async () => {
    const id = await projectedUser();
    const waiting = rowAtRevision(readDb(id), id, 2, 10_000, { policy: NO_LOOKS });
    const started = Date.now();
    await projectBatch([renamed(id, 2)], env);
    const row = await waiting;
    expect(row).toMatchObject({ id, revision: 2, firstName: "F2" });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(waitingNow()).toMatchObject({ waiters: 0, users: 0 });
  });

  it("a revision below the one projected does not answer a waiter for a later one", async () => {
    const id = await projectedUser();
    const waiting = rowAtRevision(readDb(id), id, 3, 300, { policy: NO_LOOKS });
    await projectBatch([renamed(id, 2)], env);
    expect(await waiting).toBe("timeout");
  });

  it("a waiter nobody tells backs off: a handful of D1 round trips over a second, not one per 10 ms", async () => {
    const id = await projectedUser();
    const { db, roundTrips } = countingDb(readDb(id));
    expect(await rowAtRevision(db, id, 2, 1_000)).toBe("timeout");
    // Looks at about 10, 30, 70, 150, 310, 630 ms and at the deadline: 7 (polling every 10 ms: 100).
    expect(roundTrips()).toBeGreaterThanOrEqual(3);
    expect(roundTrips()).toBeLessThanOrEqual(8);
  });

  it("waiters share their looks: twenty waiting for twenty users cost about what one does", async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => projectedUser()));
    const { db, roundTrips } = countingDb();
    const results = await Promise.all(ids.map((id) => rowAtRevision(db, id, 2, 1_000)));
    expect(results.every((r) => r === "timeout")).toBe(true);
    expect(roundTrips()).toBeLessThanOrEqual(16); // alone, each would make 7: 140
  });

  it("a revision that reaches D1 without the projector's word is found by a look", async () => {
    const id = await projectedUser();
    const waiting = rowAtRevision(readDb(id), id, 2, 5_000);
    await readDb(id).prepare("UPDATE users SET revision = 2 WHERE id = ?").bind(id).run();
    expect(await waiting).toMatchObject({ id, revision: 2 });
  });

  it("ends when the caller leaves", async () => {
    const id = await projectedUser();
    const left = new AbortController();
    const waiting = rowAtRevision(readDb(id), id, 2, 30_000, { signal: left.signal });
    left.abort();
    const started = Date.now();
    expect(await waiting).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("tells the few it turns away to come back after 1 to 3 s, drawn (a crowd: test/read/retry-after.test.ts)", () => {
    expect([0, 0.33, 0.34, 0.66, 0.67, 0.999999].map((r) => retryAfterSeconds(() => r))).toEqual([1, 1, 2, 2, 3, 3]);
  });
});

/**
 * Reads that join (decision 0020, "Amendment: reads that join"): a waiting read for a user the
 * isolate already waits for reads nothing itself; the next shared look reads its caller's row
 * beside the waited-for rows, and the read answers nothing before that row confirmed its caller.
 */
describe("a waiting read that joins the isolate's waiters", () => {
  /** A joiner's caller check that records what it was given (and refuses when told to). */
  function joining(callerId: string, db: D1Database, refuse = false) {
    const seen: Array<CallerRow | undefined> = [];
    const join: Joining = {
      callerId,
      callerDatabase: db,
      confirm: async (caller) => {
        seen.push(caller);
        if (refuse) throw new Error("refused");
      },
    };
    return { join, seen };
  }

  /**
   * A user waited for at revision 2 (its row at 1) by a first waiter that does not look itself,
   * through a counting handle on its read database (`db`), and a caller with its row at 1 in its
   * own (`callerDb`, counted too: in the sharded layout they are two databases, two statements a look).
   */
  async function waitedFor(waitMs: number) {
    const id = await projectedUser();
    const caller = await projectedUser();
    const user = countingDb(readDb(id));
    const callers = countingDb(readDb(caller));
    rememberStreamRevision(id, 2); // as the first waiter's question to the user's object left it
    const first = rowAtRevision(user.db, id, 2, waitMs, { policy: NO_LOOKS });
    expect(mayJoin(id, 2)).toBe(true);
    const roundTrips = () => user.roundTrips() + callers.roundTrips();
    return { id, first, db: user.db, caller, callerDb: callers.db, roundTrips };
  }

  it("does not join a user nobody waits for, nor one whose stream may lack the revision", async () => {
    const id = await projectedUser();
    rememberStreamRevision(id, 2);
    expect(mayJoin(id, 2)).toBe(false); // nobody waits: the stream revision is not even kept
    const first = rowAtRevision(readDb(id), id, 2, 50, { policy: NO_LOOKS });
    rememberStreamRevision(id, 2);
    expect(mayJoin(id, 2)).toBe(true);
    expect(mayJoin(id, 3)).toBe(false); // the object was not asked about 3 (it may answer 422)
    expect(await first).toBe("timeout");
  });

  it("twenty joiners cost no D1 read of their own: one look reads their callers with the waited-for row", async () => {
    const { id, first, db, caller, callerDb, roundTrips } = await waitedFor(2_000);
    const looks = waitingNow().looks;
    const joiners = Array.from({ length: 20 }, () => joining(caller, callerDb));
    const joined = joiners.map(({ join }) => rowAtRevision(db, id, 2, 1_000, { joining: join }));
    // Nothing is read when they join; the first due look (JOIN_POLICY.firstMs) reads for all of them.
    expect(roundTrips()).toBe(0);
    await vi.waitUntil(() => joiners.every(({ seen }) => seen.length === 1), { timeout: 2_000, interval: 5 });
    expect(waitingNow().looks - looks).toBe(1);
    expect(roundTrips()).toBeLessThanOrEqual(2); // one statement per read database
    expect(joiners[0]!.seen[0]).toMatchObject({ status: "active", role: "user", revision: 1 });
    expect((await Promise.all(joined)).every((r) => r === "timeout")).toBe(true);
    // 250, 750 ms and the deadline, shared by all twenty (alone, each joiner would read once: 20).
    expect(waitingNow().looks - looks).toBeLessThanOrEqual(4);
    expect(roundTrips()).toBeLessThanOrEqual(2 * (waitingNow().looks - looks));
    expect(await first).toBe("timeout");
  });

  it("answers its row only once its caller is confirmed, whoever's look or wake brought the row", async () => {
    const { id, first, db, caller, callerDb } = await waitedFor(5_000);
    const { join, seen } = joining(caller, callerDb);
    const joined = rowAtRevision(db, id, 2, 5_000, { joining: join, policy: NO_LOOKS });
    await projectBatch([renamed(id, 2)], env); // the projector's wake: the first waiter's look reads for both
    expect(await joined).toMatchObject({ id, revision: 2 });
    expect(seen).toHaveLength(1);
    expect(await first).toMatchObject({ id, revision: 2 });
  });

  it("a refused caller ends the wait with the refusal, at the first look, not at the deadline", async () => {
    const { id, first, db, caller, callerDb } = await waitedFor(3_000);
    const { join } = joining(caller, callerDb, true);
    const started = Date.now();
    await expect(rowAtRevision(db, id, 2, 3_000, { joining: join })).rejects.toThrow("refused");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(waitingNow().waiters).toBeGreaterThanOrEqual(1); // the first waiter still waits; the joiner left
    expect(await first).toBe("timeout");
  });

  it("times out confirmed: with no look before its deadline it looks itself, and a caller with no row is said so", async () => {
    const { id, first, db, roundTrips } = await waitedFor(1_000);
    const nobody = crypto.randomUUID(); // no row in the read model (the route asks its object then)
    const { join, seen } = joining(nobody, readDb(nobody));
    expect(JOIN_POLICY.firstMs).toBeGreaterThan(100);
    expect(await rowAtRevision(db, id, 2, 100, { joining: join })).toBe("timeout");
    expect(seen).toEqual([undefined]);
    expect(roundTrips()).toBeGreaterThanOrEqual(1);
    expect(await first).toBe("timeout");
  });

  /** Looks made while sixty joiners arrive 16 ms apart (60 a second) and wait 1 s each. */
  async function looksForSixtyArrivals(policy?: WaitPolicy): Promise<number> {
    const { id, first, db, caller, callerDb } = await waitedFor(3_000);
    const looks = waitingNow().looks;
    const joined: Array<Promise<unknown>> = [];
    for (let i = 0; i < 60; i++) {
      joined.push(rowAtRevision(db, id, 2, 1_000, { joining: joining(caller, callerDb).join, policy }));
      await scheduler.wait(16);
    }
    expect((await Promise.all(joined)).every((r) => r === "timeout")).toBe(true);
    expect(await first).toBe("timeout");
    return waitingNow().looks - looks;
  }

  it("sixty joiners arriving over a second share a few looks, not one each 10 ms after it arrives", async () => {
    // About one look per JOIN_POLICY.firstMs over the 2 s of arrivals and waits: 8.
    expect(await looksForSixtyArrivals()).toBeLessThanOrEqual(12);
    // With the waiters' own policy (a first look 10 ms after each arrival), about one per arrival.
    expect(await looksForSixtyArrivals(WAIT_POLICY)).toBeGreaterThanOrEqual(40);
  });
});
