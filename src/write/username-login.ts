import { config } from "../config";
import { identityKey } from "../domain/rules";
import { userStream } from "../objects";
import { identityRegistry } from "./identity-shards";
import { MAX_FAILURES, WINDOW_MS } from "./login-throttle";
import { decoyHash, verifyPassword } from "./passwords";
import type { LoginResult } from "./protocol";

/**
 * A login by username: the name's registry shard finds the user, whose own object checks the password
 * and throttles its failures; a name nobody holds is answered here, as slowly and as throttled.
 */
export async function logInByUsername(
  env: Env,
  username: string,
  password: string,
  requestId: string | null,
): Promise<LoginResult & { holder: string | null }> {
  const key = identityKey("username", username);
  const userId = await identityRegistry(env).holder(key);
  // `holder`: whose login was refused, for the refusals journal's target (never told the caller).
  return userId
    ? { ...(await userStream(env, userId).authenticate(password, requestId)), holder: userId }
    : { ...(await failUnknownLogin(env, key, password, Date.now())), holder: null };
}

/**
 * Failed logins of usernames nobody holds, throttled without storing anything per guessed name.
 *
 * 1. In this isolate: the same rule as a real user's object (MAX_FAILURES in WINDOW_MS → 429 with
 *    the same Retry-After), in a map bounded to MAX_NAMES entries, the oldest dropped first.
 * 2. Across isolates: the `UNKNOWN_LOGINS` rate-limiting binding (5 a minute per name, per location,
 *    eventually consistent), so spreading guesses over isolates still hits a limit.
 *
 * Trade-off (docs/security.md): nothing durable is created by a guess, at the price of a softer
 * bound than a real user's: an isolate restart or an eviction from the map forgets failures, and the
 * binding is permissive by design. A real user's object keeps its strict, durable 15-minute count.
 */
export const MAX_NAMES = 10_000;

const failures = new Map<string, number[]>();

async function failUnknownLogin(env: Env, key: string, password: string, now: number): Promise<LoginResult> {
  const recent = (failures.get(key) ?? []).filter((at) => at > now - WINDOW_MS);
  if (recent.length >= MAX_FAILURES) {
    return { ok: false, reason: "throttled", retryAfterSeconds: retryAfter(recent, now) };
  }
  const { success } = await env.UNKNOWN_LOGINS.limit({ key });
  if (!success) return { ok: false, reason: "throttled", retryAfterSeconds: 60 };
  remember(key, [...recent, now]);
  // As slow as a wrong password for a real user, so the timing tells nothing either.
  await verifyPassword(password, decoyHash(config(env).PASSWORD_HASH_ITERATIONS));
  return { ok: false, reason: "invalid" };
}

function remember(key: string, times: number[]) {
  failures.delete(key); // re-inserted last: Map order is the eviction order
  failures.set(key, times);
  while (failures.size > MAX_NAMES) {
    const oldest = failures.keys().next().value;
    if (oldest === undefined) break;
    failures.delete(oldest);
  }
}

function retryAfter(times: number[], now: number): number {
  const oldest = Math.min(...times);
  return Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000));
}
