import { describe, expect, it } from "vitest";
import wranglerToml from "../../wrangler.toml?raw";
import { MAX_ITERATIONS, parseConfig } from "../../src/config";
import { HASH_BOUNDS } from "../../src/domain/password-hash";
import { HASHING_METHOD, decoyHash, hashPassword, verifyPassword } from "../../src/write/passwords";

/**
 * The hash cost. Tests run with PASSWORD_HASH_ITERATIONS=1000 (vitest.config.ts: they create
 * hundreds of users); production's value and the cap are checked here.
 */

const costOf = (stored: string) => Number(stored.split("$")[1]);

describe("password hashes", () => {
  it("are salted PBKDF2 records with their cost: the same password hashes differently each time", async () => {
    const [a, b] = await Promise.all([hashPassword("correct-horse-1", 1000), hashPassword("correct-horse-1", 1000)]);
    expect(a).toMatch(new RegExp(`^${HASHING_METHOD}\\$1000\\$[A-Za-z0-9+/=]{24}\\$[A-Za-z0-9+/=]{44}$`));
    expect(a).not.toBe(b);
    expect(await verifyPassword("correct-horse-1", a)).toBe(true);
    expect(await verifyPassword("correct-horse-2", a)).toBe(false);
  });

  it("are capped at the 100,000 iterations Workers allow, and such a hash verifies", async () => {
    expect(MAX_ITERATIONS).toBe(100_000);
    // A stored hash of ours must pass the bounds a login reads it with.
    expect(HASH_BOUNDS.pbkdf2Iterations.max).toBe(MAX_ITERATIONS);
    const stored = await hashPassword("correct-horse-1", 1_000_000);
    expect(costOf(stored)).toBe(MAX_ITERATIONS);
    expect(await verifyPassword("correct-horse-1", stored)).toBe(true);
    expect(costOf(await hashPassword("x", 0))).toBe(1);
  });

  it("verify with the cost stored in them, so the configured cost can change", async () => {
    const old = await hashPassword("correct-horse-1", 10);
    expect(costOf(old)).toBe(10);
    expect(await verifyPassword("correct-horse-1", old)).toBe(true);
  });

  it("refuse what is not one of ours", async () => {
    expect(await verifyPassword("x", "")).toBe(false);
    expect(await verifyPassword("x", "bcrypt$10$salt$hash")).toBe(false);
  });

  it("for unknown usernames, the decoy costs what a real hash costs", () => {
    expect(costOf(decoyHash(1000))).toBe(1000);
    expect(costOf(decoyHash(1_000_000))).toBe(MAX_ITERATIONS);
  });

  it("cost the maximum in production: wrangler.toml sets it, and configuration refuses more", () => {
    const configured = /^PASSWORD_HASH_ITERATIONS\s*=\s*"(\d+)"/m.exec(wranglerToml)?.[1];
    expect(Number(configured)).toBe(MAX_ITERATIONS);
    const vars = {
      PASSWORD_MIN_LENGTH: "8",
      READ_YOUR_WRITES_WAIT_MS: "2000",
      SNAPSHOT_EVERY: "100",
      REBUILD_USERS_PER_STEP: "200",
      JWT_SECRET: "a-secret-of-at-least-16-characters",
      MAIL_FROM: "welcome@users.example",
    };
    expect(parseConfig({ ...vars, PASSWORD_HASH_ITERATIONS: configured }).PASSWORD_HASH_ITERATIONS).toBe(100_000);
    expect(() => parseConfig({ ...vars, PASSWORD_HASH_ITERATIONS: "100001" })).toThrow(/PASSWORD_HASH_ITERATIONS/);
  });
});
