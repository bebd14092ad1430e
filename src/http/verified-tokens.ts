/**
 * Tokens whose signature this isolate has already verified, by the token itself, so that a client
 * sending the same bearer token again costs a map lookup rather than an HMAC, base64 and JSON
 * decoding (about a tenth of a read's CPU, BENCHMARKS.md). Only what the signature proves is kept:
 * the expiry is checked on every use, and whether the user still accepts the token (revocation) is
 * never cached here, that is the read model's or the user's object's answer on every request.
 *
 * Bounded: past `VERIFIED_TOKENS_KEPT` the oldest entry goes (insertion order), so a client
 * cycling through tokens costs the verification it cost before and no more memory. Each entry
 * remembers the key it was verified with: a token is only ever taken as verified under that key.
 */
export const VERIFIED_TOKENS_KEPT = 1000;

interface Kept<T> {
  key: CryptoKey;
  claims: T;
  /** `exp`, seconds since the epoch: the token is refused from this second on. */
  exp: number;
}

const kept = new Map<string, Kept<unknown>>();

/**
 * The claims of `token` as `verify` made them when it was last verified under `key` and is not
 * expired yet; else `verify`'s answer, kept when it is claims with an `exp` (null: refused).
 */
export async function verifiedOnce<T extends object>(
  token: string,
  key: CryptoKey,
  verify: () => Promise<{ claims: T; exp: number } | null>,
): Promise<T | null> {
  const now = Math.floor(Date.now() / 1000);
  const entry = kept.get(token) as Kept<T> | undefined;
  if (entry && entry.key === key) return entry.exp > now ? entry.claims : null;
  const verified = await verify();
  if (!verified) return null;
  if (kept.size >= VERIFIED_TOKENS_KEPT) kept.delete(kept.keys().next().value!);
  kept.set(token, { key, claims: Object.freeze(verified.claims), exp: verified.exp });
  return verified.claims;
}

/** How many verified tokens this isolate keeps now (for tests). */
export function verifiedTokensKept(): number {
  return kept.size;
}
