import type { UserCommand } from "../domain/commands";
import { withFacts, type Facts, type IdentityClaim, type IdentityField, type Plan } from "../domain/plan";
import { identityKey } from "../domain/rules";
import { config } from "../config";
import { identityRegistry } from "./identity-shards";
import { hashPassword, verifyPassword } from "./passwords";
import type { WriteRejection } from "./protocol";

export interface Services {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** Whether `owner` won each key, in order; one registry call per shard the keys fall in. */
  claim(keys: readonly string[], owner: string): Promise<boolean[]>;
  release(keys: readonly string[], owner: string): Promise<void>;
  /** After an erasure: the registry keeps nothing of the keys (they are personal data). */
  forget(keys: readonly string[], owner: string): Promise<void>;
}

/** The registry and the hashing a command's plan may need, for one deployment. */
export function services(env: Env): Services {
  const iterations = config(env).PASSWORD_HASH_ITERATIONS;
  const registry = identityRegistry(env);
  return {
    hash: (password) => hashPassword(password, iterations),
    verify: verifyPassword,
    claim: (keys, owner) => registry.claimMany(keys, owner),
    release: (keys, owner) => registry.releaseMany(keys, owner),
    forget: (keys, owner) => registry.forgetMany(keys, owner),
  };
}

/** The command to decide, and the keys claimed for it (to free if it does not commit). */
export type Prepared = { ok: true; command: UserCommand; claimed: string[] } | { ok: false; rejection: WriteRejection };

/**
 * Performs a plan's I/O: the password check, the claims (before the hash, so a taken name costs no
 * hash), the hash. Nothing is decided here but what only I/O can refuse: a name someone else holds.
 */
export async function prepare(plan: Plan, owner: string, services: Services): Promise<Prepared> {
  const facts: Facts = {};
  if (plan.check) {
    const { password, compare, against } = plan.check;
    facts.currentPasswordValid = await services.verify(password, against);
    facts.newPasswordSameAsCurrent = facts.currentPasswordValid && (await services.verify(compare, against));
  }
  // The plan computed each claim's key: a username's is a Unicode skeleton, not worth twice.
  const claims = await claimKeys(services, owner, plan.claims);
  if (!claims.ok) return claims;
  const refused = facts.currentPasswordValid === false || facts.newPasswordSameAsCurrent === true;
  if (plan.hash && !(plan.hash.unlessRefused && refused)) facts.passwordHash = await services.hash(plan.hash.password);
  return { ok: true, command: withFacts(plan, facts), claimed: claims.keys };
}

export type Field = IdentityField;

type Claimed = { ok: true; keys: string[] } | { ok: false; rejection: WriteRejection };

/** Claims each username or email for `owner`: all of them, or (one is taken) none. */
export async function claimAll(
  services: Pick<Services, "claim" | "release">,
  owner: string,
  wanted: [Field, string][],
): Promise<Claimed> {
  const claims = wanted.map(([field, value]) => ({ field, value, key: identityKey(field, value) }));
  return claimKeys(services, owner, claims);
}

/** `claimAll` for claims whose keys are known already (a plan's). */
async function claimKeys(
  services: Pick<Services, "claim" | "release">,
  owner: string,
  claims: readonly IdentityClaim[],
): Promise<Claimed> {
  const won =
    claims.length === 0
      ? []
      : await services.claim(
          claims.map(({ key }) => key),
          owner,
        );
  const keys = claims.filter((_, i) => won[i]).map(({ key }) => key);
  const lost = claims.find((_, i) => !won[i]);
  if (!lost) return { ok: true, keys };
  await releaseAll(services, owner, keys);
  return { ok: false, rejection: { code: "IdentityTaken", field: lost.field, value: lost.value } };
}

/** Best effort: the registry re-checks with the owner, so a lost release cannot block a key. */
export async function releaseAll(
  services: Pick<Services, "release">,
  owner: string,
  keys: readonly string[],
): Promise<void> {
  if (keys.length > 0) await services.release(keys, owner).catch(() => undefined);
}

/** Best effort, as a release: what an erasure leaves in the registries is forgotten. */
export async function forgetAll(
  services: Pick<Services, "forget">,
  owner: string,
  keys: readonly string[],
): Promise<void> {
  if (keys.length > 0) await services.forget(keys, owner).catch(() => undefined);
}
