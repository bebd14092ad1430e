/**
 * What a stored password hash is, read without running it: its algorithm, its cost, the lengths of
 * its salt and digest. Imported hashes come as they were written elsewhere; a login runs whatever
 * hash its user holds, so a hash must be read, and its cost bounded, before anything verifies it
 * (issue 24: 999,999,999 PBKDF2 iterations took a login 147 s; bcrypt cost 16, 4.6 s).
 *
 * Formats: ours, `pbkdf2-sha256$<iterations>$<salt>$<digest>` (standard base64, padded; the digest
 * is the 32 bytes of SHA-256), and bcrypt's modular crypt `$2a$`/`$2b$`/`$2y$` + two-digit cost + `$`
 * + 22 characters of salt and 31 of digest in bcrypt's base64 alphabet (the reference's hashes).
 */
import { ERASED } from "./events";

export interface HashBounds {
  pbkdf2Iterations: { min: number; max: number };
  bcryptCost: { min: number; max: number };
  /** Bytes of a PBKDF2 salt. */
  saltBytes: { min: number; max: number };
}

/**
 * The bounds the service runs hashes within. PBKDF2: Workers refuse more than 100,000 iterations
 * (decision 0007), and test users are hashed with 10 or 1,000. bcrypt: the reference hashes at 12
 * (its library's default); 4 is bcrypt's own minimum; each step above doubles the work.
 */
export const HASH_BOUNDS: HashBounds = {
  pbkdf2Iterations: { min: 1, max: 100_000 },
  bcryptCost: { min: 4, max: 12 },
  saltBytes: { min: 8, max: 64 },
};

export const PBKDF2_METHOD = "pbkdf2-sha256";
/** PBKDF2-HMAC-SHA256 derives 256 bits: a stored digest of any other length never matches. */
const PBKDF2_DIGEST_BYTES = 32;

export type StoredHash =
  | { algorithm: typeof PBKDF2_METHOD; iterations: number; salt: string; digest: string }
  | { algorithm: "bcrypt"; cost: number }
  /** An erased user's: no hash at all, which no password matches (and an export carries). */
  | { algorithm: "erased" };

/** A hash fit to run, or why not: the reason names the part at fault, never the hash's content. */
export type HashReading = { ok: true; hash: StoredHash } | { ok: false; problem: string };

const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DIGITS = /^[1-9]\d{0,9}$/;

export function readPasswordHash(stored: string, bounds: HashBounds = HASH_BOUNDS): HashReading {
  if (stored === ERASED) return { ok: true, hash: { algorithm: "erased" } };
  if (stored.startsWith("$2")) return readBcrypt(stored, bounds);
  if (stored.startsWith(`${PBKDF2_METHOD}$`)) return readPbkdf2(stored, bounds);
  return refused("not a hash of a known algorithm (pbkdf2-sha256, bcrypt $2a$/$2b$/$2y$)");
}

function readBcrypt(stored: string, bounds: HashBounds): HashReading {
  const match = BCRYPT.exec(stored);
  if (!match)
    return refused("a malformed bcrypt hash: $2a$, $2b$ or $2y$, a two-digit cost, 53 characters of salt and digest");
  const cost = Number(match[1]);
  const { min, max } = bounds.bcryptCost;
  if (cost < min || cost > max) return refused(`bcrypt cost ${cost} is outside ${min}..${max}`);
  return { ok: true, hash: { algorithm: "bcrypt", cost } };
}

function readPbkdf2(stored: string, bounds: HashBounds): HashReading {
  const parts = stored.split("$");
  if (parts.length !== 4) return refused("a malformed pbkdf2-sha256 hash: four parts separated by $");
  const [, rounds = "", salt = "", digest = ""] = parts;
  if (!DIGITS.test(rounds)) return refused("pbkdf2-sha256 iterations are not a positive whole number");
  const iterations = Number(rounds);
  const { min, max } = bounds.pbkdf2Iterations;
  if (iterations < min || iterations > max) {
    return refused(`pbkdf2-sha256 iterations ${iterations} are outside ${min}..${max}`);
  }
  const saltBytes = base64Bytes(salt);
  if (saltBytes === null) return refused("the pbkdf2-sha256 salt is not base64");
  if (saltBytes < bounds.saltBytes.min || saltBytes > bounds.saltBytes.max) {
    return refused(
      `the pbkdf2-sha256 salt has ${saltBytes} bytes, outside ${bounds.saltBytes.min}..${bounds.saltBytes.max}`,
    );
  }
  const digestBytes = base64Bytes(digest);
  if (digestBytes === null) return refused("the pbkdf2-sha256 digest is not base64");
  if (digestBytes !== PBKDF2_DIGEST_BYTES) {
    return refused(`the pbkdf2-sha256 digest has ${digestBytes} bytes, not ${PBKDF2_DIGEST_BYTES}`);
  }
  return { ok: true, hash: { algorithm: PBKDF2_METHOD, iterations, salt, digest } };
}

/** The bytes a padded standard base64 text decodes to, or null if it is not one. */
function base64Bytes(text: string): number | null {
  if (text.length === 0 || !BASE64.test(text)) return null;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

const refused = (problem: string): HashReading => ({ ok: false, problem });
