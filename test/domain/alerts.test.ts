import { describe, expect, it } from "vitest";
import {
  deadLetterAlertId,
  errorSummary,
  failingAlert,
  lagAlertId,
  lagChecks,
  OPS_EVENT_TYPES,
  splitTypes,
} from "../../src/domain/alerts";

const USER_TYPES = ["USER_CREATED", "USER_UPDATED"] as const;

describe("which alerts a reader asked for", () => {
  it("empty means every user event and no alert", () => {
    expect(splitTypes([], USER_TYPES)).toEqual({ all: true, user: [], ops: [] });
  });

  it("ops.* means every alert type; a user type alone means no alert", () => {
    expect(splitTypes(["ops.*"], USER_TYPES)).toEqual({ all: false, user: [], ops: [...OPS_EVENT_TYPES] });
    expect(splitTypes(["USER_CREATED"], USER_TYPES)).toEqual({ all: false, user: ["USER_CREATED"], ops: [] });
    expect(splitTypes(["USER_UPDATED", "ops.dead_letter"], USER_TYPES)).toEqual({
      all: false,
      user: ["USER_UPDATED"],
      ops: ["ops.dead_letter"],
    });
  });
});

describe("projection lag", () => {
  const threshold = 60_000;

  it("lags only past the threshold, and says by how much", () => {
    const checks = lagChecks(
      [
        { name: "users", users_behind: 3, oldest_owed_age_ms: 61_000 },
        { name: "audit", users_behind: 1, oldest_owed_age_ms: 60_000 },
        { name: "feed", users_behind: 0, oldest_owed_age_ms: null },
      ],
      threshold,
    );
    expect(checks.map((c) => [c.projection, c.lagging])).toEqual([
      ["users", true],
      ["audit", false],
      ["feed", false],
    ]);
    expect(checks[0]!.facts).toEqual({ projection: "users", lag_seconds: 61, users_behind: 3, threshold_seconds: 60 });
  });

  it("ids name the incident, so each incident has one", () => {
    expect(lagAlertId("users", "2026-12-06T20:00:00.000Z")).toBe(
      "ops.projection_lagging:users:2026-12-06T20:00:00.000Z",
    );
    expect(deadLetterAlertId(7, "2026-12-06T20:00:00.000Z")).toBe("ops.dead_letter:7:2026-12-06T20:00:00.000Z");
  });
});

describe("failing subscriptions", () => {
  const since = "2026-12-06T20:00:00.000Z";
  const sinceMs = Date.parse(since);
  const thresholds = { ms: 3_600_000, attempts: 5 };
  const sub = { id: "s1", status: "active", failing_since: since };
  const worst = { event_id: "e1", attempts: 2, last_status: 500, last_error: "HTTP 500" };

  it("alerts once failing longer than the threshold, with the facts", () => {
    expect(failingAlert(sub, sinceMs, worst, sinceMs + 3_599_000, thresholds)).toBeNull();
    const alert = failingAlert(sub, sinceMs, worst, sinceMs + 3_600_000, thresholds);
    expect(alert).toEqual({
      id: `ops.subscription_failing:s1:${since}`,
      data: {
        subscription_id: "s1",
        failing_since: since,
        failing_seconds: 3600,
        event_id: "e1",
        attempts: 2,
        last_status: 500,
        last_error: "HTTP 500",
        threshold_seconds: 3600,
        threshold_attempts: 5,
      },
    });
  });

  it("alerts as soon as one delivery failed the configured number of times", () => {
    expect(failingAlert(sub, sinceMs, { ...worst, attempts: 5 }, sinceMs + 1000, thresholds)?.id).toBe(
      `ops.subscription_failing:s1:${since}`,
    );
  });

  it("does not alert for a subscription that is not failing, paused or disabled", () => {
    expect(failingAlert({ ...sub, failing_since: null }, NaN, worst, sinceMs * 2, thresholds)).toBeNull();
    expect(failingAlert({ ...sub, status: "paused" }, sinceMs, worst, sinceMs * 2, thresholds)).toBeNull();
    expect(failingAlert({ ...sub, status: "disabled" }, sinceMs, worst, sinceMs * 2, thresholds)).toBeNull();
  });

  it("keeps only the error's first line, bounded", () => {
    expect(errorSummary(`TypeError: x\n    at y`)).toBe("TypeError: x");
    expect(errorSummary("e".repeat(500))).toHaveLength(200);
    expect(errorSummary(null)).toBeNull();
  });
});
