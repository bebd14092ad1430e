import { describe, expect, it } from "vitest";
import type { EventMetadata } from "../../src/domain/events";
import { foldAudit } from "../../src/read/projections/audit";
import { userCreated, userEvent } from "../support/builders";

const userId = "5f0c1d2e-0000-4000-8000-000000000001";
const admin: EventMetadata = {
  actor_id: "ad000000-0000-4000-8000-000000000001",
  actor_username: "root",
  request_id: "req-42",
  idempotency_key: null,
  reason: "left the company",
};

describe("the audit log projection", () => {
  it("given a user renamed and deleted, each row names the user as it was at that event", () => {
    const given = [
      userCreated(userId, "sarah", "2030-01-01T00:00:00.000Z"),
      userEvent(userId, 2, "USER_UPDATED", { email: "sarah@new.example" }),
      userEvent(userId, 3, "USER_CORRECTED", { username: "sarah.k", reason: "typo" }),
      { ...userEvent(userId, 4, "USER_DELETED", { reason: "left the company" }), metadata: admin },
    ];

    const { rows, state, scrub } = foldAudit(null, given);

    expect(rows.map((r) => [r.revision, r.eventType, r.username, r.email])).toEqual([
      [1, "USER_CREATED", "sarah", "sarah@example.com"],
      [2, "USER_UPDATED", "sarah", "sarah@new.example"],
      [3, "USER_CORRECTED", "sarah.k", "sarah@new.example"],
      [4, "USER_DELETED", "sarah.k", "sarah@new.example"],
    ]);
    expect(rows[3]).toMatchObject({
      eventId: given[3]!.id,
      userId,
      actorId: admin.actor_id,
      actorUsername: "root",
      reason: "left the company",
      requestId: "req-42",
      timestamp: given[3]!.timestamp,
    });
    expect(rows[2]!.reason).toBe("typo");
    expect(state).toEqual({ username: "sarah.k", email: "sarah@new.example" });
    expect(scrub).toBe(false);
  });

  it("given the state at a checkpoint, later events continue from it", () => {
    const { rows } = foldAudit({ username: "ann", email: "ann@example.com" }, [
      userEvent(userId, 7, "USER_SUSPENDED"),
      userEvent(userId, 8, "PASSWORD_CHANGED", { hashing_method: "pbkdf2-sha256" }),
    ]);
    expect(rows.map((r) => [r.revision, r.username, r.email])).toEqual([
      [7, "ann", "ann@example.com"],
      [8, "ann", "ann@example.com"],
    ]);
  });

  it("when the user is erased, every row of the batch reads [erased] and the earlier rows are to be scrubbed", () => {
    const { rows, state, scrub } = foldAudit({ username: "bob", email: "bob@example.com" }, [
      {
        ...userEvent(userId, 5, "USER_UPDATED", { first_name: "Bobby" }),
        metadata: { ...admin, actor_id: userId, actor_username: "bob", reason: null },
      },
      { ...userEvent(userId, 6, "USER_ERASED"), metadata: admin },
    ]);
    expect(rows.map((r) => [r.username, r.email])).toEqual([
      ["[erased]", "[erased]"],
      ["[erased]", "[erased]"],
    ]);
    // The user acting on itself was named by its own username: erased too; the admin's name stays.
    expect(rows[0]!.actorUsername).toBe("[erased]");
    expect(rows[1]!.actorUsername).toBe("root");
    expect(state).toEqual({ username: "[erased]", email: "[erased]" });
    expect(scrub).toBe(true);
  });
});
