import { describe, expect, it } from "vitest";
import { entryOf, reapplyOnImport, type ErasureEntry } from "../../src/domain/erasure-ledger";
import type { StoredEvent } from "../../src/domain/import";
import { planImport } from "../../src/domain/import";
import { initialState } from "../../src/domain/user";
import { noMetadata, userCreated, userEvent } from "../support/builders";

/**
 * The ledger's pure part: which entry an erasure makes (nothing personal in it), and what an import
 * of a ledger-listed user does with its lines: ends them with the ledger's erasure, keeps an erased
 * backup as it is, refuses lines that cannot be followed by it.
 */

const userId = "6f1f7c36-8a5e-4c55-9a43-1d0e4c1b2a90";
const created = { ...userCreated(userId), data: { ...userCreated(userId).data, password_hash: "x" } } as StoredEvent;
const updated = { ...userEvent(userId, 2, "USER_UPDATED", { last_name: "Byron" }) } as StoredEvent;
const entry: ErasureEntry = {
  user_id: userId,
  event_id: "0f6e9833-091e-4d84-8b08-17957e845b02",
  revision: 3,
  erased_at: "2030-01-02T00:00:00.000Z",
  reason: "request",
  request_id: "req-erase",
  actor_id: "admin-1",
};

describe("the erasure ledger's entries", () => {
  it("an erasure by an admin, by the retention cron and by an import, each with its code; other events none", () => {
    const erased = userEvent(userId, 3, "USER_ERASED", {});
    const byAdmin = {
      ...erased,
      metadata: { ...noMetadata, actor_id: "a", actor_username: "root", reason: "GDPR #1", request_id: "r" },
    };
    expect(entryOf(byAdmin)).toEqual({
      user_id: userId,
      event_id: erased.id,
      revision: 3,
      erased_at: erased.timestamp,
      reason: "request",
      request_id: "r",
      actor_id: "a",
    });
    expect(entryOf({ ...erased, metadata: { ...noMetadata, reason: "retention" } })?.reason).toBe("retention");
    expect(entryOf({ ...erased, metadata: { ...noMetadata, import_request_id: "imp" } })?.reason).toBe("import");
    expect(entryOf(userCreated(userId))).toBeNull();
  });
});

describe("an import of a user the ledger lists", () => {
  it("lines that stop right before the erasure get the ledger's USER_ERASED, which the import plan accepts", () => {
    const result = reapplyOnImport([created, updated], entry, "imp-1");
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const erasure = result.events.at(-1)!;
    expect(erasure).toMatchObject({
      id: entry.event_id,
      event_type: "USER_ERASED",
      revision: 3,
      timestamp: entry.erased_at,
      data: {},
      metadata: { actor_id: "admin-1", actor_username: null, request_id: "req-erase", import_request_id: "imp-1" },
    });
    const plan = planImport(initialState, result.events, new Map(), new Map());
    expect(plan.ok && plan.after.user?.status).toBe("erased");
  });

  it("an erased backup imports as it is", () => {
    const erased = { ...userEvent(userId, 3, "USER_ERASED", {}) } as StoredEvent;
    expect(reapplyOnImport([created, updated, erased], entry, "imp")).toEqual({
      ok: true,
      events: [created, updated, erased],
    });
  });

  it("lines short of the erasure, or past it without it, are refused with the reason", () => {
    const short = reapplyOnImport([created], { ...entry, revision: 5 }, "imp");
    expect(short).toMatchObject({ ok: false, eventId: created.id });
    expect(!short.ok && short.error).toContain("erasure ledger");
    const past = reapplyOnImport([created, updated], { ...entry, revision: 2 }, "imp");
    expect(past).toMatchObject({ ok: false, eventId: updated.id });
  });
});
