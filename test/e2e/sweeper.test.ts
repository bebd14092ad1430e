import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { confirmedRevision } from "../../src/write/ledger";
import { STALE_MS, sweepOwedStreams } from "../../src/read/sweeper";
import { flushOutbox } from "../../src/write/outbox";
import type { UserStream } from "../../src/write/user-stream";
import { createInput, noMetadata } from "../support/builders";
import { readDb, everyEventQueue } from "../support/shards";

const blackHole: Queue = {
  metrics: () => Promise.reject(new Error("unused")),
  send: () => Promise.reject(new Error("unused")),
  sendBatch: async () => ({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } }),
};

describe("the sweeper", () => {
  it("wakes an object whose alarm was lost while the read side still lacks its events, and it converges", async () => {
    const userId = crypto.randomUUID();
    const stub = env.USER_STREAM.getByName(userId);
    await runInDurableObject(stub, (instance: UserStream) => {
      const publisher = (instance as unknown as { publisher: { publishUnsent(): Promise<void>; claims(): boolean } })
        .publisher;
      vi.spyOn(publisher, "publishUnsent").mockResolvedValue(undefined);
      // The commit leaves its rows unsent, for the flush below.
      vi.spyOn(publisher, "claims").mockReturnValue(false);
    });
    const input = createInput({ username: `swept${userId.slice(0, 8)}` });
    expect((await stub.execute({ userId, input, metadata: noMetadata })).ok).toBe(true);
    // Sent into a queue that loses it, then the alarm is lost too (a process killed while it ran).
    await runInDurableObject(stub, async (_i, state) => {
      await flushOutbox(state, { ...env, ...everyEventQueue(blackHole) }, userId);
      await state.storage.deleteAlarm();
    });
    await evictDurableObject(stub);
    await readDb(userId)
      .prepare("UPDATE streams SET owed_since = ? WHERE user_id = ?")
      .bind(Date.now() - STALE_MS - 1_000, userId)
      .run();

    expect(await sweepOwedStreams(env)).toBeGreaterThanOrEqual(1);

    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).not.toBeNull();
    await vi.waitUntil(
      async () => {
        await runDurableObjectAlarm(stub);
        return (await confirmedRevision(readDb(userId), userId)) === 1;
      },
      { timeout: 20_000, interval: 200 },
    );
  });
});
