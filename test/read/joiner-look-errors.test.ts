import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { projectBatch } from "../../src/read/consumer";
import { mayJoin, rememberStreamRevision, rowAtRevision, type Joining } from "../../src/read/read-your-writes";
import { userCreated } from "../support/builders";
import { fakeMessage } from "./fixtures";
import { readDb } from "../support/shards";

async function projectedUser(): Promise<string> {
  const id = crypto.randomUUID();
  await projectBatch([fakeMessage(userCreated(id))], env);
  return id;
}
const NO_LOOKS = { firstMs: 60_000, maxMs: 60_000 };

/** A database whose statements fail (a D1 error on that shard). */
function failingDb(real: D1Database): D1Database {
  return new Proxy(real, {
    get(target, key) {
      if (key === "prepare")
        return () => ({
          bind: () => ({
            all: async () => {
              throw new Error("D1_ERROR: overloaded");
            },
          }),
        });
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A database whose next statement waits for `open()` before going to D1. */
function gatedDb(real: D1Database) {
  let release!: () => void;
  let gated = false;
  const gate = new Promise<void>((r) => (release = r));
  const db = new Proxy(real, {
    get(target, key) {
      if (key === "prepare")
        return (q: string) => {
          const s = target.prepare(q);
          return {
            bind: (...a: unknown[]) => {
              const b = s.bind(...a);
              return {
                all: async () => {
                  gated = true;
                  await gate;
                  return b.all();
                },
              };
            },
          };
        };
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db, open: () => release(), started: () => gated };
}

describe("a shared look with a failing database", () => {
  it("a D1 error on a joiner's caller database fails a plain waiter that needs nothing from it", async () => {
    const id = await projectedUser();
    const caller = await projectedUser();
    rememberStreamRevision(id, 2);
    const plain = rowAtRevision(readDb(id), id, 2, 1_500, { policy: NO_LOOKS });
    const join: Joining = { callerId: caller, callerDatabase: failingDb(readDb(caller)), confirm: async () => {} };
    const joined = rowAtRevision(readDb(id), id, 2, 1_500, { joining: join, policy: NO_LOOKS }).catch(
      (e: unknown) => e,
    );
    // The plain waiter is woken by the projector (revision 2 without a row): its shared look reads the joiner's caller too.
    await readDb(id).prepare("UPDATE users SET revision = 2 WHERE id = ?").bind(id).run();
    const { projected } = await import("../../src/read/read-your-writes");
    projected(id, 2);
    const result = await plain.catch((e: unknown) => e);
    await joined;
    expect(result).toMatchObject({ id, revision: 2 });
  });

  it("a refusing joiner does not affect another joiner nor the plain waiter", async () => {
    const id = await projectedUser();
    const caller = await projectedUser();
    rememberStreamRevision(id, 2);
    const plain = rowAtRevision(readDb(id), id, 2, 2_000, { policy: NO_LOOKS });
    const bad: Joining = {
      callerId: caller,
      callerDatabase: readDb(caller),
      confirm: async () => {
        throw new Error("refused");
      },
    };
    const good: Joining = { callerId: caller, callerDatabase: readDb(caller), confirm: async () => {} };
    const j1 = rowAtRevision(readDb(id), id, 2, 2_000, { joining: bad }).catch((e: unknown) => e);
    const j2 = rowAtRevision(readDb(id), id, 2, 2_000, { joining: good });
    await readDb(id).prepare("UPDATE users SET revision = 2 WHERE id = ?").bind(id).run();
    expect(String(await j1)).toContain("refused");
    expect(await j2).toMatchObject({ id, revision: 2 });
    expect(await plain).toMatchObject({ id, revision: 2 });
  });

  it("a joiner told its row by a look that started before it joined, whose own look failed, answers only at the deadline", async () => {
    const id = await projectedUser();
    const caller = await projectedUser();
    rememberStreamRevision(id, 2);
    await readDb(id).prepare("UPDATE users SET revision = 2 WHERE id = ?").bind(id).run();
    // L1: a plain waiter's look, held in D1 (started before the joiner joined).
    const g = gatedDb(readDb(id));
    const plain = rowAtRevision(g.db, id, 2, 3_000, { policy: { firstMs: 5, maxMs: 5 } });
    await vi.waitUntil(() => g.started(), { timeout: 2_000, interval: 1 });
    await scheduler.wait(5);
    expect(mayJoin(id, 2)).toBe(true);
    const joinedAt = Date.now();
    const join: Joining = { callerId: caller, callerDatabase: readDb(caller), confirm: async () => {} };
    const joined = rowAtRevision(readDb(id), id, 2, 3_000, { joining: join });
    await scheduler.wait(5);
    // L2: another waiter (for another user) looks after the joiner joined, and fails (D1 error).
    const other = await projectedUser();
    rememberStreamRevision(other, 2);
    const failing = rowAtRevision(failingDb(readDb(other)), other, 2, 3_000, {
      policy: { firstMs: 1, maxMs: 1 },
    }).catch((e: unknown) => e);
    expect(String(await failing)).toContain("D1_ERROR");
    g.open(); // L1 completes: tells the row to both; the plain waiter answers and leaves
    expect(await plain).toMatchObject({ id, revision: 2 });
    const row = await joined;
    const took = Date.now() - joinedAt;
    expect(row).toMatchObject({ id, revision: 2 });
    expect(took).toBeLessThan(1_000);
  });
});
