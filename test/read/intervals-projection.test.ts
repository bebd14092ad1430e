import { describe, expect, it } from "vitest";
import { foldIntervals, type IntervalState } from "../../src/read/projections/intervals";
import { userCreated, userEvent } from "../support/builders";

const userId = "5f0c1d2e-0000-4000-8000-000000000002";
const at = (s: number) => new Date(Date.parse("2031-01-01T00:00:00.000Z") + s * 1000).toISOString();

describe("the validity intervals projection (pure)", () => {
  it("opens an interval at creation and at each change of username, email or status, closing the previous one", () => {
    const { rows, state, scrub } = foldIntervals(null, [
      userCreated(userId, "sarah", at(0)),
      userEvent(userId, 2, "USER_UPDATED", { first_name: "Sal" }, at(1)),
      userEvent(userId, 3, "USER_UPDATED", { email: "sarah@new.example" }, at(2)),
      userEvent(userId, 4, "USER_LOGGED_IN", { method: "password" }, at(3)),
      userEvent(userId, 5, "USER_SUSPENDED", {}, at(4)),
      userEvent(userId, 6, "USER_CORRECTED", { username: "sarah.k", reason: "typo" }, at(5)),
    ]);
    expect(rows.map((r) => [r.revision, r.username, r.email, r.status, r.role, r.validFrom, r.validTo])).toEqual([
      [1, "sarah", "sarah@example.com", "active", "user", at(0), at(2)],
      [3, "sarah", "sarah@new.example", "active", "user", at(2), at(4)],
      [5, "sarah", "sarah@new.example", "suspended", "user", at(4), at(5)],
      [6, "sarah.k", "sarah@new.example", "suspended", "user", at(5), null],
    ]);
    const { validTo: _, ...open } = rows[3]!;
    expect(state).toEqual(open);
    expect(scrub).toBe(false);
  });

  it("continues from the checkpoint's open interval: closes it when a change comes, writes nothing otherwise", () => {
    const open: IntervalState = {
      userId,
      revision: 3,
      username: "ann",
      email: "ann@example.com",
      status: "active",
      role: "admin",
      validFrom: at(0),
    };
    expect(
      foldIntervals(open, [userEvent(userId, 4, "PASSWORD_CHANGED", { hashing_method: "pbkdf2-sha256" }, at(1))]),
    ).toEqual({ rows: [], state: open, scrub: false });
    const { rows, state } = foldIntervals(open, [userEvent(userId, 4, "USER_DELETED", { reason: "left" }, at(9))]);
    expect(rows).toEqual([
      { ...open, validTo: at(9) },
      { ...open, revision: 4, status: "deleted", validFrom: at(9), validTo: null },
    ]);
    expect(state).toEqual({ ...open, revision: 4, status: "deleted", validFrom: at(9) });
  });

  it("applying the same events to the same checkpoint gives the same rows (redelivery rewrites, never adds)", () => {
    const events = [userCreated(userId, "bo", at(0)), userEvent(userId, 2, "USER_SUSPENDED", {}, at(1))];
    expect(foldIntervals(null, events)).toEqual(foldIntervals(null, events));
  });

  it("after an erasure every interval keeps its status and role, and reads [erased] for username and email", () => {
    const open: IntervalState = {
      userId,
      revision: 1,
      username: "bob",
      email: "bob@example.com",
      status: "active",
      role: "user",
      validFrom: at(0),
    };
    const { rows, state, scrub } = foldIntervals(open, [
      userEvent(userId, 2, "USER_SUSPENDED", {}, at(1)),
      userEvent(userId, 3, "USER_ERASED", {}, at(2)),
    ]);
    expect(scrub).toBe(true);
    expect(rows.map((r) => [r.revision, r.username, r.email, r.status, r.validTo])).toEqual([
      [1, "[erased]", "[erased]", "active", at(1)],
      [2, "[erased]", "[erased]", "suspended", at(2)],
      [3, "[erased]", "[erased]", "erased", null],
    ]);
    expect(state).toMatchObject({ revision: 3, username: "[erased]", email: "[erased]", status: "erased" });
  });

  it("a rebuild from the erased stream cuts the same intervals as the live fold did", () => {
    const live = [
      userCreated(userId, "cy", at(0)),
      userEvent(userId, 2, "USER_UPDATED", { email: "cy@new.example" }, at(1)),
      userEvent(userId, 3, "USER_ERASED", {}, at(2)),
    ];
    // What the stream reads after the erasure: every personal field destroyed, the keys kept.
    const erased = live.map((e) =>
      e.event_type === "USER_CREATED"
        ? { ...e, data: { ...e.data, username: "[erased]", email: "[erased]" } }
        : e.event_type === "USER_UPDATED"
          ? { ...e, data: { email: "[erased]" } }
          : e,
    );
    expect(foldIntervals(null, erased)).toEqual(foldIntervals(null, live));
  });
});
