import { afterEach, describe, expect, it, vi } from "vitest";
import { checkPassword, hashPassword } from "../../src/write/passwords";
import { DIGEST, SALT, UNUSABLE_HASHES, userWithHash } from "../support/hashes";
import { importInto, settleAlarms, stubFor } from "./helpers";

/**
 * Issue 24: a login runs the hash its user holds, and an imported hash came as it was written.
 * Here the hash is stored in the user's object as the object's import stores it (the HTTP import
 * refuses such lines now: test/http/bounded-input.test.ts); each must fail like a wrong password,
 * quickly, with a warning naming the user, never a 500 or a 147 s login.
 */

describe("a login against a stored hash out of bounds or malformed", () => {
  afterEach(async () => {
    vi.restoreAllMocks();
    await settleAlarms();
  });

  it.each(UNUSABLE_HASHES)("%s: fails like a wrong password, at once, and warns naming the user", async (_n, hash) => {
    const events = userWithHash(hash);
    expect(await importInto(events)).toMatchObject({ ok: true, imported: 1 });
    const warn = vi.spyOn(console, "warn");
    const started = Date.now();
    const result = await stubFor(events[0]!.aggregate_id).authenticate("any-password-1");
    expect(result).toEqual({ ok: false, reason: "invalid" });
    expect(Date.now() - started).toBeLessThan(1_000);
    const lines = warn.mock.calls.map((call) => String(call[0]));
    const line = lines.find((text) => text.includes("stored password hash refused"));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: "warn", user_id: events[0]!.aggregate_id });
    const secretParts = hash
      .split("$")
      .slice(2)
      .filter((part) => part.length > 3);
    for (const part of secretParts) expect(line).not.toContain(part);
  });

  it("counts as a failure for the throttle, like a wrong password", async () => {
    const events = userWithHash(`pbkdf2-sha256$999999999$${SALT}$${DIGEST}`);
    await importInto(events);
    const stub = stubFor(events[0]!.aggregate_id);
    for (let i = 0; i < 5; i++) expect(await stub.authenticate("x")).toEqual({ ok: false, reason: "invalid" });
    expect(await stub.authenticate("x")).toMatchObject({ ok: false, reason: "throttled" });
  });
});

describe("checkPassword", () => {
  it("runs a hash within bounds, and says why one is unusable instead of throwing", async () => {
    const ours = await hashPassword("correct-horse-1", 10);
    expect(await checkPassword("correct-horse-1", ours)).toBe("match");
    expect(await checkPassword("correct-horse-2", ours)).toBe("mismatch");
    for (const [, hash] of UNUSABLE_HASHES) {
      expect(await checkPassword("x", hash)).toEqual({ unusable: expect.any(String) });
    }
  });
});
