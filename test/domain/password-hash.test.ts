import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HASH_BOUNDS, readPasswordHash } from "../../src/domain/password-hash";

/**
 * Issue 24: a stored hash is read, and its cost bounded, before anything runs it. Imported hashes
 * came as they were (999,999,999 PBKDF2 iterations: a 147 s login; bcrypt cost 16: 4.6 s).
 */

const SALT = "c2FsdHNhbHRzYWx0c2FsdA=="; // 16 bytes, as ours
const DIGEST = `${"A".repeat(43)}=`; // 32 bytes
const pbkdf2 = (iterations: string | number, salt = SALT, digest = DIGEST) =>
  `pbkdf2-sha256$${iterations}$${salt}$${digest}`;
const BCRYPT_REST = "abcdefghijklmnopqrstuuFZ2EvgDKSEHZQ7uXrbpgLVD6t8N1zWy"; // 22 + 31
const bcrypt = (cost: string, variant = "2b", rest = BCRYPT_REST) => `$${variant}$${cost}$${rest}`;

describe("readPasswordHash: hashes within bounds", () => {
  it("reads ours, with its iterations, from 1 to the Workers maximum", () => {
    expect(readPasswordHash(pbkdf2(1000))).toEqual({
      ok: true,
      hash: { algorithm: "pbkdf2-sha256", iterations: 1000, salt: SALT, digest: DIGEST },
    });
    expect(readPasswordHash(pbkdf2(1))).toMatchObject({ ok: true });
    expect(readPasswordHash(pbkdf2(100_000))).toMatchObject({ ok: true, hash: { iterations: 100_000 } });
  });

  it("reads bcrypt $2a$, $2b$ and $2y$ with costs 4 to 12", () => {
    for (const variant of ["2a", "2b", "2y"]) {
      expect(readPasswordHash(bcrypt("04", variant))).toEqual({ ok: true, hash: { algorithm: "bcrypt", cost: 4 } });
      expect(readPasswordHash(bcrypt("12", variant))).toEqual({ ok: true, hash: { algorithm: "bcrypt", cost: 12 } });
    }
  });

  it("reads an erased user's hash, which an export of its stream carries, as none", () => {
    expect(readPasswordHash("[erased]")).toEqual({ ok: true, hash: { algorithm: "erased" } });
  });

  it("takes other bounds when given", () => {
    const bounds = { ...HASH_BOUNDS, bcryptCost: { min: 4, max: 16 } };
    expect(readPasswordHash(bcrypt("16"), bounds)).toMatchObject({ ok: true });
  });
});

describe("readPasswordHash: refused, naming the part at fault", () => {
  it.each([
    ["PBKDF2 with 999,999,999 iterations", pbkdf2(999_999_999), /iterations 999999999 are outside 1\.\.100000/],
    ["PBKDF2 with 100,001 iterations", pbkdf2(100_001), /outside/],
    ["PBKDF2 with 0 iterations", pbkdf2(0), /not a positive whole number/],
    ["PBKDF2 with -1 iterations", pbkdf2(-1), /not a positive whole number/],
    ["PBKDF2 with iterations in hex", pbkdf2("0x10"), /not a positive whole number/],
    ["PBKDF2 with a salt that is not base64", pbkdf2(1000, "not base64!"), /salt is not base64/],
    ["PBKDF2 with an empty salt", pbkdf2(1000, ""), /salt is not base64/],
    ["PBKDF2 with a 4-byte salt", pbkdf2(1000, "c2FsdA=="), /salt has 4 bytes/],
    ["PBKDF2 with a digest that is not base64", pbkdf2(1000, SALT, "%%%%"), /digest is not base64/],
    ["PBKDF2 with a 4-byte digest", pbkdf2(1000, SALT, "aGFzaA=="), /digest has 4 bytes, not 32/],
    ["PBKDF2 with a fifth part", `${pbkdf2(1000)}$more`, /four parts/],
    ["bcrypt cost 3", bcrypt("03"), /bcrypt cost 3 is outside 4\.\.12/],
    ["bcrypt cost 16", bcrypt("16"), /bcrypt cost 16 is outside/],
    ["bcrypt cost 31", bcrypt("31"), /bcrypt cost 31 is outside/],
    ["bcrypt with a bad salt", bcrypt("10", "2b", `!!${BCRYPT_REST.slice(2)}`), /malformed bcrypt/],
    ["bcrypt cut short", bcrypt("10", "2b", BCRYPT_REST.slice(1)), /malformed bcrypt/],
    ["bcrypt $2x$", bcrypt("10", "2x"), /malformed bcrypt/],
    ["bcrypt with a one-digit cost", `$2b$4$${BCRYPT_REST}`, /malformed bcrypt/],
    ["an unknown algorithm", `argon2id$v=19$${SALT}`, /not a hash of a known algorithm/],
    ["nothing", "", /not a hash of a known algorithm/],
  ])("%s", (_name, stored, problem) => {
    const reading = readPasswordHash(stored);
    expect(reading).toEqual({ ok: false, problem: expect.stringMatching(problem) });
  });

  it("never throws, and never repeats the salt or digest in its reason", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.tuple(fc.string(), fc.string(), fc.string()).map(([n, s, d]) => `pbkdf2-sha256$${n}$${s}$${d}`),
          fc.tuple(fc.string({ maxLength: 3 }), fc.string()).map(([c, rest]) => `$2b$${c}$${rest}`),
        ),
        (stored) => {
          const reading = readPasswordHash(stored);
          if (reading.ok) return;
          for (const part of stored
            .split("$")
            .slice(2)
            .filter((p) => p.length > 3)) {
            expect(reading.problem).not.toContain(part);
          }
        },
      ),
      { seed: 24, numRuns: 500 },
    );
  });
});
