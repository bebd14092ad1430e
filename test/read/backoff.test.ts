import { describe, expect, it } from "vitest";
import { jitteredBackoff } from "../../src/backoff";
import { redeliveryDelaySeconds } from "../../src/read/backoff";

const policy = { baseMs: 1_000, capMs: 60_000 };

describe("jittered backoff", () => {
  it("keeps half of each exponential step and draws the other half", () => {
    expect([1, 2, 3, 4].map((n) => jitteredBackoff(n, policy, () => 0))).toEqual([500, 1_000, 2_000, 4_000]);
    expect([1, 2, 3, 4].map((n) => jitteredBackoff(n, policy, () => 0.999999))).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it("never passes the cap", () => {
    expect(jitteredBackoff(30, policy, () => 0.999999)).toBe(60_000);
    expect(jitteredBackoff(30, policy, () => 0)).toBe(30_000);
  });

  it("spreads the retries of users failing together over the whole window", () => {
    const draws = Array.from({ length: 10 }, (_, i) => i / 10);
    const delays = draws.map((r) => jitteredBackoff(5, policy, () => r));
    expect(new Set(delays).size).toBe(10);
    expect(Math.min(...delays)).toBe(8_000);
    expect(Math.max(...delays)).toBe(15_200);
  });

  it("redeliveries wait whole seconds: 1 s at first, then a draw from a growing window", () => {
    expect(redeliveryDelaySeconds(1, () => 0.999)).toBe(1);
    expect(redeliveryDelaySeconds(5, () => 0)).toBe(8);
    expect(redeliveryDelaySeconds(5, () => 0.999)).toBe(16);
    expect(redeliveryDelaySeconds(20, () => 0.999)).toBe(60);
  });
});
