import { planImport, type StoredEvent } from "../domain/import";
import { heldBy } from "../domain/plan";
import { initialState } from "../domain/user";
import { identityRegistry } from "../write/identity-shards";

/**
 * The usernames and emails an import request's users will hold, claimed for all of them at once:
 * one registry call per shard for the request instead of one or two per user, each from the user's
 * own object (issue 26). What a user will hold is what its lines make of an empty stream; its object
 * uses the claim only if its own plan ends with exactly these keys, and lets go of any it does not
 * hold once done (src/write/stream-import.ts). Two users of the request who want one name: the
 * first in the file wins it, the other's object claims it again and is refused by name.
 * Returns the keys won per user, and when they were claimed.
 */
export async function claimForImport(
  env: Env,
  users: readonly (readonly [string, readonly StoredEvent[]])[],
): Promise<Map<string, { keys: string[]; at: number }>> {
  const wanted = new Map<string, string[]>();
  for (const [userId, events] of users) {
    const plan = planImport(initialState, events, new Map(), new Map());
    if (plan.ok) wanted.set(userId, heldBy(plan.after));
  }
  const claims = [...wanted].flatMap(([owner, keys]) => keys.map((key) => ({ key, owner })));
  // Before the call: every claim is stamped no earlier, so the objects' age check errs on the safe side.
  const at = Date.now();
  const won = await identityRegistry(env).claimEach(claims);
  // A user who lost one of its keys claims them again in its object, which is refused by name and
  // lets go of the ones won here.
  const claimed = new Map<string, { keys: string[]; at: number }>();
  claims.forEach(({ key, owner }, i) => {
    if (won[i]) claimed.set(owner, { keys: [...(claimed.get(owner)?.keys ?? []), key], at });
  });
  return claimed;
}
