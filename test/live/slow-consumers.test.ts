import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { StoredEvent } from "../../src/domain/import";
import { CLOSE, LIMITS } from "../../src/live/protocol";
import type { UserStream } from "../../src/write/user-stream";
import { userWithHash } from "../support/hashes";
import { expectOk, plantEvents, settleAlarms, stubFor, update } from "../write/helpers";
import { run, watchObject } from "./helpers";

/**
 * Issue 24: 20 sockets that stopped reading a 7 MB stream were never closed, and the runtime's
 * memory grew. workerd's server-side sockets report no `bufferedAmount` (the property does not
 * exist on them, checked below), so the object counts what it sent since the client's last `ping`:
 * a reading client pings every LIMITS.pingEveryBytes, one that stopped reading does not.
 */

const SALTED = `pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA==$${"A".repeat(43)}=`;

/** A user's stream of `count` events after its creation, each with `padding` characters in its data. */
async function streamOf(count: number, padding: number) {
  const [created] = userWithHash(SALTED);
  const userId = created!.aggregate_id;
  const updates: StoredEvent[] = Array.from({ length: count }, (_, i) => ({
    ...created!,
    id: crypto.randomUUID(),
    event_type: "USER_UPDATED",
    revision: i + 2,
    data: { first_name: `F${i}`, padding: "p".repeat(padding) },
  }));
  // Padded past any field cap: the gate would refuse them, and the limit must hold anyway.
  await plantEvents([created!, ...updates]);
  return { userId, stub: stubFor(userId), head: count + 1 };
}

const self = (userId: string) => ({ watcher: userId, authRevision: 1, fromRevision: 1 });

describe("a watcher that stops reading", () => {
  afterEach(settleAlarms);

  it("the runtime reports no backlog of a server-side socket here", async () => {
    const { userId, stub } = await streamOf(1, 10);
    const watcher = await watchObject(stub, self(userId));
    await vi.waitUntil(() => watcher.caughtUp());
    const seen = await runInDurableObject(stub, (_instance: UserStream, state) =>
      state.getWebSockets().map((ws) => "bufferedAmount" in ws),
    );
    expect(seen).toEqual([false]);
    watcher.ws.close(1000, "done");
  });

  it(`live: closed with ${CLOSE.tooSlow.code} past ${LIMITS.maxQueuedBytes} bytes without a ping; a reading one stays`, async () => {
    // 12 events of 100 KB: the catch-up sends them as one page, 1.2 MB.
    const { userId, stub, head } = await streamOf(12, 100_000);
    const silent = await watchObject(stub, self(userId), { pings: false });
    const reading = await watchObject(stub, self(userId));
    await vi.waitUntil(() => silent.caughtUp() && reading.caughtUp() && reading.pongs > 0, { timeout: 10_000 });
    expectOk(await update(userId, { first_name: "Next" }));
    expect(await silent.untilClosed()).toEqual(CLOSE.tooSlow);
    expect(silent.revisions()).toEqual(run(1, head));
    await reading.until(head + 1);
    expect(reading.revisions()).toEqual(run(1, head + 1));
    expect(reading.closed).toBeNull();
    reading.ws.close(1000, "done");
  });

  it(`catch-up: pauses at ${LIMITS.catchUpHighWater} bytes without a ping, closes after ${LIMITS.catchUpStallMs} ms; a reading one gets it all`, async () => {
    // 400 events of 1 KB: four pages; the third crosses the high-water mark.
    const { userId, stub, head } = await streamOf(400, 1_000);
    const silent = await watchObject(stub, self(userId), { pings: false });
    const reading = await watchObject(stub, self(userId));
    await vi.waitUntil(() => reading.caughtUp(), { timeout: 10_000 });
    expect(reading.revisions()).toEqual(run(1, head));
    expect(await silent.untilClosed(LIMITS.catchUpStallMs + 5_000)).toEqual(CLOSE.tooSlow);
    // It got what fits under the high-water mark, a page at a time, no more, without a gap.
    const got = silent.revisions();
    expect(got).toEqual(run(1, got.length));
    expect(got.length).toBeLessThan(head);
    expect(silent.caughtUp()).toBeUndefined();
    reading.ws.close(1000, "done");
  }, 30_000);
});
