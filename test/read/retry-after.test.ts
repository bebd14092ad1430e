import { describe, expect, it } from "vitest";
import { COME_BACK_BUDGET, COME_BACK_CAP_S, ComeBacks, comeBackIn } from "../../src/read/retry-after";

/** A seeded source of draws (mulberry32): the same crowd every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many of `told` (seconds, all told at one instant) fall in each second. */
function perSecond(told: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const s of told) counts.set(s, (counts.get(s) ?? 0) + 1);
  return counts;
}

describe("the Retry-After of a turned-away waiting read", () => {
  it("is drawn from 1 to 3 s while few were turned away", () => {
    expect([0, 0.33, 0.34, 0.66, 0.67, 0.999999].map((r) => comeBackIn([], () => r))).toEqual([1, 1, 2, 2, 3, 3]);
    const comeBacks = new ComeBacks();
    const told = Array.from({ length: 20 }, () => comeBacks.tell(1_000_000, seeded(1)));
    expect(Math.max(...told)).toBeLessThanOrEqual(3);
  });

  it("moves past a second already told its budget", () => {
    const told = [0, COME_BACK_BUDGET, COME_BACK_BUDGET, 3];
    expect(comeBackIn(told, () => 0)).toBe(3); // drew 1 s: full, so is 2 s
    expect(comeBackIn([0, 0, 0, COME_BACK_BUDGET], () => 0.9)).toBe(4); // drew 3 s: full; 1 s is not later
  });

  it("sends 300 turned away at once back over 30 s, the budget a second, none later than the cap", () => {
    const comeBacks = new ComeBacks();
    const random = seeded(2);
    const told = Array.from({ length: 300 }, () => comeBacks.tell(5_000_500, random));
    const counts = perSecond(told);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(COME_BACK_BUDGET);
    expect(Math.max(...told)).toBeLessThanOrEqual(COME_BACK_CAP_S);
    expect(told.filter((s) => s <= 3).length).toBeLessThanOrEqual(3 * COME_BACK_BUDGET);
  });

  it("past the cap, spreads the rest evenly over the 30 s rather than after the cap", () => {
    const comeBacks = new ComeBacks();
    const random = seeded(3);
    const told = Array.from({ length: 450 }, () => comeBacks.tell(7_000_000, random));
    const counts = perSecond(told);
    expect(Math.max(...told)).toBe(COME_BACK_CAP_S);
    expect(counts.size).toBe(COME_BACK_CAP_S);
    expect(Math.max(...counts.values())).toBe(15); // 450 / 30
    expect(Math.min(...counts.values())).toBe(15);
  });

  it("forgets the seconds past: a crowd told a minute ago leaves the next few at 1 to 3 s", () => {
    const comeBacks = new ComeBacks();
    const random = seeded(4);
    for (let i = 0; i < 300; i++) comeBacks.tell(9_000_000, random);
    expect(comeBacks.tell(9_000_000, random)).toBeGreaterThan(3);
    const later = Array.from({ length: 5 }, () => comeBacks.tell(9_000_000 + 60_000, random));
    expect(Math.max(...later)).toBeLessThanOrEqual(3);
  });

  it("keeps 300 clients re-asking after each 2 s wait within the budget, where 1 to 3 s made ~75 a second", () => {
    /** Re-asks per second (seconds 10–120) of 300 clients: each waits 2 s, then comes back when told. */
    function reasks(tell: (nowMs: number) => number): number[] {
      const arrivals: number[] = Array.from({ length: 300 }, (_, i) => i * 3); // all in within a second
      const perSecondSeen = new Array<number>(121).fill(0);
      while (arrivals.length > 0) {
        const at = arrivals.shift()!;
        if (at >= 121_000) continue;
        perSecondSeen[Math.floor(at / 1000)]! += 1;
        const timedOut = at + 2_000;
        arrivals.push(timedOut + tell(timedOut) * 1000);
        arrivals.sort((a, b) => a - b);
      }
      return perSecondSeen.slice(10, 121);
    }
    const comeBacks = new ComeBacks();
    const random = seeded(5);
    const scaled = reasks((now) => comeBacks.tell(now, random));
    expect(Math.max(...scaled)).toBeLessThanOrEqual(COME_BACK_BUDGET);
    const average = scaled.reduce((a, b) => a + b, 0) / scaled.length;
    expect(average).toBeGreaterThan(COME_BACK_BUDGET * 0.8); // not idle either: the crowd still re-asks
    const drawn = seeded(6);
    const fixed = reasks(() => comeBackIn([], drawn));
    expect(fixed.reduce((a, b) => a + b, 0) / fixed.length).toBeGreaterThan(60);
  });
});
