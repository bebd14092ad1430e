import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ErasureEntry } from "../../src/domain/erasure-ledger";
import { erasureLedger } from "../../src/objects";

/**
 * The ledger object: an erased user is one entry whatever the retries (the erase route and the
 * projector both record it), its first; `among` answers for many users at once; `list` pages in
 * the order recorded.
 */

function entry(overrides: Partial<ErasureEntry> = {}): ErasureEntry {
  return {
    user_id: crypto.randomUUID(),
    event_id: crypto.randomUUID(),
    revision: 4,
    erased_at: "2030-01-01T00:00:00.000Z",
    reason: "request",
    request_id: "req-1",
    actor_id: "admin-1",
    ...overrides,
  };
}

describe("the erasure ledger object", () => {
  it("records an erasure once: a retry or a later record of the same user keeps the first entry", async () => {
    const ledger = erasureLedger(env);
    const first = entry();
    expect(await ledger.record([first])).toBe(1);
    expect(await ledger.record([first, { ...first, event_id: "other", reason: "import" }])).toBe(0);
    expect(await ledger.among([first.user_id, crypto.randomUUID()])).toEqual([first]);
    expect(await ledger.among([])).toEqual([]);
  });

  it("lists in the order recorded, after a sequence number", async () => {
    const ledger = erasureLedger(env);
    const entries = [entry(), entry(), entry()];
    await ledger.record(entries);
    const all = (await ledger.list(0, 1000)).entries;
    const mine = all.filter((e) => entries.some((x) => x.user_id === e.user_id));
    expect(mine.map((e) => e.user_id)).toEqual(entries.map((e) => e.user_id));
    const page = await ledger.list(mine[0]!.seq, 1);
    expect(page.entries.map((e) => e.user_id)).toEqual([entries[1]!.user_id]);
    expect(page.total).toBe(all.length);
  });
});
