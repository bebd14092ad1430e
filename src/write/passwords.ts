/**
 * PBKDF2-HMAC-SHA256 through WebCrypto, the slow salted KDF that Workers run natively. Workers cap
 * PBKDF2 at 100,000 iterations, so that is the default; the count is stored in each hash, so it can
 * be raised later without breaking old hashes. Format: `pbkdf2-sha256$<iterations>$<salt>$<hash>`.
 */
import bcrypt from "bcryptjs";
import { MAX_ITERATIONS } from "../config";
import { PBKDF2_METHOD, readPasswordHash } from "../domain/password-hash";

export const HASHING_METHOD = PBKDF2_METHOD;

const encoder = new TextEncoder();

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
  return new Uint8Array(bits);
}

export async function hashPassword(password: string, iterations: number): Promise<string> {
  const rounds = Math.min(Math.max(1, Math.floor(iterations)), MAX_ITERATIONS);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(password, salt, rounds);
  return [HASHING_METHOD, rounds, toBase64(salt), toBase64(hash)].join("$");
}

/** A password against a stored hash: or the hash cannot be run, and why (never the hash itself). */
export type PasswordCheck = "match" | "mismatch" | { unusable: string };

/**
 * Runs a stored hash only once it is read and within HASH_BOUNDS (src/domain/password-hash.ts): a
 * hash out of bounds or malformed is `unusable`, never run, never thrown. Worst case per call:
 * bcrypt at cost 12 or PBKDF2 at 100,000 iterations.
 */
export async function checkPassword(password: string, stored: string): Promise<PasswordCheck> {
  const reading = readPasswordHash(stored);
  if (!reading.ok) return { unusable: reading.problem };
  const { hash } = reading;
  if (hash.algorithm === "erased") return "mismatch";
  try {
    if (hash.algorithm === "bcrypt") return (await bcrypt.compare(password, stored)) ? "match" : "mismatch";
    const actual = await derive(password, fromBase64(hash.salt), hash.iterations);
    const expected = fromBase64(hash.digest);
    return actual.length === expected.length && crypto.subtle.timingSafeEqual(actual, expected) ? "match" : "mismatch";
  } catch (error) {
    return { unusable: `${hash.algorithm} verification failed: ${error instanceof Error ? error.name : "error"}` };
  }
}

/** Whether the password matches; a hash that cannot be run matches nothing. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  return (await checkPassword(password, stored)) === "match";
}

/**
 * Imported users (the reference implementation) bring bcrypt hashes (`$2a$`/`$2b$`/`$2y$`): they are
 * verified with bcryptjs, pure JavaScript that runs in Workers, and replaced by our own hash at the
 * first successful login (PASSWORD_REHASHED).
 */
function isBcrypt(stored: string): boolean {
  return /^\$2[aby]\$\d{2}\$/.test(stored);
}

/** Whether a stored hash is not the service's own and should be replaced at the next login. */
export function needsRehash(stored: string): boolean {
  return isBcrypt(stored);
}

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** A well-formed hash no password matches, for answering at the same cost when there is no user. */
export function decoyHash(iterations: number): string {
  const rounds = Math.min(Math.max(1, Math.floor(iterations)), MAX_ITERATIONS);
  return [HASHING_METHOD, rounds, "AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="].join("$");
}
