import type { PlanInput, Policy, UserCommand } from "./commands";
import {
  correctionRules,
  decide,
  newPasswordRules,
  newUserRules,
  restoreRules,
  updateRules,
  type Checked,
} from "./decide";
import type { Role } from "./events";
import { identitiesAfterRevert } from "./revert";
import { identityKey } from "./rules";
import { isGone, type User, type UserState } from "./user";

/**
 * The I/O a command needs before it can be decided, as data: the write side performs it, then
 * decides once, in its transaction, with the facts it learned (`withFacts`). A plan is made from
 * the state as it was before the I/O; `stillHolds` says whether its facts still apply to the state
 * the transaction sees, and `identitiesToFree` what the registries should let go afterwards.
 */
export interface Plan {
  input: PlanInput;
  role: Role;
  /** Check `password` against the user's current hash `against`; if right, also whether `compare` is it too. */
  check: { password: string; compare: string; against: string } | null;
  /** The password to hash; `unlessRefused`: not needed when the check refused (the command fails anyway). */
  hash: { password: string; unlessRefused: boolean } | null;
  /** Username and email keys this user must hold before the decision. */
  claims: IdentityClaim[];
  /** The facts hold only while the user's password hash is this one (what the check compared with). */
  validWhilePasswordHash: string | null;
  /** The facts hold only while the stream is at this revision (a revert's claims follow from the whole state). */
  validAtRevision: number | null;
}

export type IdentityField = "username" | "email";
export interface IdentityClaim {
  field: IdentityField;
  /** As it will be stored (normalised), for the 409's message. */
  value: string;
  key: string;
}

/** What the I/O found: a hash of `Plan.hash`, and the results of `Plan.check`. */
export interface Facts {
  passwordHash?: string;
  currentPasswordValid?: boolean;
  newPasswordSameAsCurrent?: boolean;
}

/**
 * What `input` needs, or why it cannot succeed whatever the I/O finds (the decider's own rules, so
 * no password is hashed and no name claimed for a command bound to fail). Commands that need no
 * I/O are planned with none and left to the decision.
 */
export function planCommand(state: UserState, input: PlanInput, policy: Policy, role: Role = "user"): Checked<Plan> {
  const plan: Plan = {
    input,
    role,
    check: null,
    hash: null,
    claims: [],
    validWhilePasswordHash: null,
    validAtRevision: null,
  };
  const user = state.user;
  switch (input.type) {
    case "CreateUser": {
      const checked = newUserRules(state, input, policy);
      if (!checked.ok) return checked;
      const { username, email } = checked.value;
      const claims = [claim("username", username), claim("email", email)];
      return ok({ ...plan, claims, hash: { password: input.password, unlessRefused: false } });
    }
    case "UpdateUser": {
      if (!user) return ok(plan);
      const checked = updateRules(user, input);
      if (!checked.ok) return checked;
      return ok({ ...plan, claims: changedIdentities(user, checked.value) });
    }
    case "CorrectUser": {
      if (!user) return ok(plan);
      const checked = correctionRules(user, input);
      if (!checked.ok) return checked;
      return ok({ ...plan, claims: changedIdentities(user, checked.value) });
    }
    case "RestoreUser": {
      if (!user) return ok(plan);
      const checked = restoreRules(user, input);
      if (!checked.ok) return checked;
      // A restore takes the username and email back: refused (409) if someone took either meanwhile.
      return ok({ ...plan, claims: [claim("username", user.username), claim("email", user.email)] });
    }
    case "RevertUser": {
      if (!user) return ok(plan);
      // The revert's own rules first: no name is claimed for a revert bound to be refused.
      const decision = decide(state, input, policy);
      if (!decision.ok) return decision;
      // Then's username and email, where the user does not hold them now: a 409 if someone else does.
      const wanted = identitiesAfterRevert(input.then);
      const held = new Set(heldBy(state));
      const claims = wanted
        ? [claim("username", wanted.username), claim("email", wanted.email)].filter(({ key }) => !held.has(key))
        : [];
      return ok({ ...plan, claims, validAtRevision: state.revision });
    }
    case "ChangePassword": {
      if (!user) return ok(plan);
      const check = { password: input.current_password, compare: input.new_password, against: user.password_hash };
      // A wrong current password must answer first (401 even for a deleted user), so the other
      // rules cannot refuse here; when they will refuse, the new password needs no hash.
      const refused = newPasswordRules(user, input.new_password, policy) !== null;
      const hash = refused ? null : { password: input.new_password, unlessRefused: true };
      return ok({ ...plan, check, hash, validWhilePasswordHash: user.password_hash });
    }
    case "DeleteUser":
    case "EraseUser":
    case "SuspendUser":
    case "ReactivateUser":
    case "RehashPassword":
      return ok(plan);
  }
}

/** The domain command: the input with the facts the I/O found. */
export function withFacts(plan: Plan, facts: Facts): UserCommand {
  const { input } = plan;
  if (input.type === "CreateUser") return { ...input, password_hash: facts.passwordHash ?? "", role: plan.role };
  if (input.type !== "ChangePassword") return input;
  return {
    type: "ChangePassword",
    current_password_valid: facts.currentPasswordValid ?? false,
    new_password: input.new_password,
    new_password_same_as_current: facts.newPasswordSameAsCurrent ?? false,
    new_password_hash: facts.passwordHash ?? "",
  };
}

/**
 * Whether the facts still apply: the password the check compared with is still the user's, and a
 * revert's stream has not moved since it was planned.
 */
export function stillHolds(plan: Plan, state: UserState): boolean {
  if (plan.validAtRevision !== null && state.revision !== plan.validAtRevision) return false;
  return plan.validWhilePasswordHash === null || state.user?.password_hash === plan.validWhilePasswordHash;
}

/**
 * What the registries should let go once the transaction is over, from the state before it and
 * after it (the same state when nothing was committed) and the keys this command claimed: whatever
 * the user held or claimed and no longer holds is released; after an erasure every key the user had
 * is forgotten (the registry's object is named after personal data).
 */
export function identitiesToFree(
  claimed: readonly string[],
  before: UserState,
  after: UserState,
): { release: string[]; forget: string[] } {
  const erased = after.user?.status === "erased" && before.user?.status !== "erased";
  if (erased && before.user) return { release: [], forget: keysOf(before.user) };
  // Most commands touch no identity: skip the keys (a username's is a Unicode skeleton, not free).
  if (claimed.length === 0 && sameIdentities(before.user, after.user)) return { release: [], forget: [] };
  const kept = new Set(heldBy(after));
  const release = [...new Set([...heldBy(before), ...claimed])].filter((key) => !kept.has(key));
  return { release, forget: [] };
}

/** The keys a user holds in the registries: none once deleted or erased. */
export function heldBy(state: UserState): string[] {
  return state.user && !isGone(state.user) ? keysOf(state.user) : [];
}

function sameIdentities(a: User | null, b: User | null): boolean {
  if (!a || !b) return a === b;
  return a.username === b.username && a.email === b.email && isGone(a) === isGone(b);
}

function keysOf(user: User): string[] {
  const keys = identityKeys(user);
  return [keys.username, keys.email];
}

/**
 * A user's username and email keys, computed once per state of the user: a command asks for them
 * while it plans and again when it frees what the user no longer holds, and a username's key is a
 * Unicode skeleton, not free. A state is a value (`evolve` makes a new one), so no entry goes stale.
 */
const identityKeysOf = new WeakMap<User, Record<IdentityField, string>>();
function identityKeys(user: User): Record<IdentityField, string> {
  let keys = identityKeysOf.get(user);
  if (!keys) {
    keys = { username: identityKey("username", user.username), email: identityKey("email", user.email) };
    identityKeysOf.set(user, keys);
  }
  return keys;
}

function claim(field: IdentityField, value: string): IdentityClaim {
  return { field, value, key: identityKey(field, value) };
}

/** The username or email a change gives the user, where it is not the one the user holds. */
function changedIdentities(user: User, changes: { username?: string; email?: string }): IdentityClaim[] {
  return (["username", "email"] as const).flatMap((field) => {
    const next = changes[field];
    if (!next) return [];
    const wanted = claim(field, next);
    return wanted.key === identityKeys(user)[field] ? [] : [wanted];
  });
}

const ok = (plan: Plan): Checked<Plan> => ({ ok: true, value: plan });
