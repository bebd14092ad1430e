import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  journalRefusal,
  queryRefusals,
  suppressedRefusals,
  sweepRefusals,
  type Refusal,
} from "../../src/read/refusals";

const refusal = (overrides: Partial<Refusal> = {}): Refusal => ({
  at: "2026-12-01T10:15:00.000Z",
  actorId: crypto.randomUUID(),
  targetId: crypto.randomUUID(),
  command: "UpdateUser",
  status: 403,
  reason: "not_own_user",
  requestId: `r-${crypto.randomUUID()}`,
  ...overrides,
});

async function count(sql: string, ...binds: unknown[]): Promise<number> {
  return (await env.DB.prepare(sql)
    .bind(...binds)
    .first<{ n: number }>())!.n;
}

describe("the refusals journal's bound", () => {
  it(
    "10,000 refusals from one actor in an hour leave the cap of rows and one count",
    { timeout: 180_000 },
    async () => {
      const actorId = crypto.randomUUID();
      const caps = { perActor: 100, perTarget: 100 };
      const total = 10_000;
      const targets = Array.from({ length: total }, () => crypto.randomUUID());
      let kept = 0;
      // Concurrently, 50 at a time: the bound must hold while writes race, not only one by one.
      for (let start = 0; start < total; start += 50) {
        const batch = Array.from({ length: Math.min(50, total - start) }, (_, i) =>
          journalRefusal(
            env.DB,
            refusal({
              actorId,
              targetId: targets[start + i]!,
              at: `2026-12-01T10:${String((start + i) % 60).padStart(2, "0")}:00.000Z`,
            }),
            caps,
          ),
        );
        kept += (await Promise.all(batch)).filter(Boolean).length;
      }
      expect(kept).toBe(caps.perActor);
      expect(await count("SELECT count(*) AS n FROM refusals WHERE actor_id = ?", actorId)).toBe(caps.perActor);
      // Each refusal aimed at a new id: only the kept ones counted their targets, so the counters are bounded too.
      expect(await count("SELECT count(*) AS n FROM refusal_windows WHERE kind = 'actor' AND key = ?", actorId)).toBe(
        1,
      );
      expect(
        await count(
          "SELECT count(*) AS n FROM refusal_windows WHERE kind = 'target' AND key IN (SELECT value FROM json_each(?))",
          JSON.stringify(targets),
        ),
      ).toBe(caps.perActor);
      expect(await suppressedRefusals(env.DB, { actor: actorId })).toBe(total - caps.perActor);
    },
  );

  it("caps one target's refusals across actors, and starts again the next hour", async () => {
    const targetId = crypto.randomUUID();
    const caps = { perActor: 5, perTarget: 3 };
    const results: boolean[] = [];
    for (const actorId of [crypto.randomUUID(), crypto.randomUUID()]) {
      for (let i = 0; i < 2; i++) results.push(await journalRefusal(env.DB, refusal({ actorId, targetId }), caps));
    }
    expect(results).toEqual([true, true, true, false]);
    expect(await journalRefusal(env.DB, refusal({ targetId, at: "2026-12-01T11:00:00.000Z" }), caps)).toBe(true);
    const { rows } = await queryRefusals(env.DB, { userId: targetId, limit: 10 });
    expect(rows.map((row) => row.at)).toEqual([
      "2026-12-01T11:00:00.000Z",
      "2026-12-01T10:15:00.000Z",
      "2026-12-01T10:15:00.000Z",
      "2026-12-01T10:15:00.000Z",
    ]);
    expect(await suppressedRefusals(env.DB, { userId: targetId })).toBe(1);
  });
});

describe("retention", () => {
  it("the sweep deletes refusals and counters older than the retention days, and only those", async () => {
    const now = Date.parse("2026-12-31T12:00:00.000Z");
    const actorId = crypto.randomUUID();
    const caps = { perActor: 100, perTarget: 100 };
    const old = refusal({ actorId, at: "2026-11-20T09:00:00.000Z" });
    const recent = refusal({ actorId, at: "2026-12-30T09:00:00.000Z" });
    await journalRefusal(env.DB, old, caps);
    await journalRefusal(env.DB, recent, caps);
    expect(await sweepRefusals(env.DB, 30, now)).toBeGreaterThanOrEqual(1);
    const { rows } = await queryRefusals(env.DB, { actor: actorId, limit: 10 });
    expect(rows.map((row) => row.requestId)).toEqual([recent.requestId]);
    expect(await count("SELECT count(*) AS n FROM refusal_windows WHERE key IN (?, ?)", actorId, old.targetId)).toBe(1);
  });
});
