import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { projectBatch } from "../../src/read/consumer";
import { retryAfterSeconds, rowAtRevision, waitingNow } from "../../src/read/read-your-writes";
import { userCreated, userEvent } from "../support/builders";
import { fakeMessage } from "./fixtures";
import { readDb } from "../support/shards";

/**
 * Read-your-writes waiting (issue 25): a waiter is told by the projector, backs off when nobody
 * tells it, and shares its D1 looks with the other waiters of the isolate.
 */

/** The real D1 database, counting its round trips (a statement's first/all/run/raw, a batch). */
function countingDb(): { db: D1Database; roundTrips: () => number } {
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
  const db = new Proxy(env.DB, {
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
    const { db, roundTrips } = countingDb();
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

  it("tells a turned-away crowd to come back over 1 to 3 s, not all after the same second", () => {
    expect([0, 0.33, 0.34, 0.66, 0.67, 0.999999].map((r) => retryAfterSeconds(() => r))).toEqual([1, 1, 2, 2, 3, 3]);
    const drawn = new Set(Array.from({ length: 300 }, () => retryAfterSeconds()));
    expect([...drawn].sort()).toEqual([1, 2, 3]);
  });
});
