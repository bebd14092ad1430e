import type { Policy, UserCommand } from "../domain/commands";
import { decide } from "../domain/decide";
import type { UserEvent } from "../domain/events";
import { identityKey } from "../domain/rules";
import type { UserState } from "../domain/user";
import type { CommandInput, CommandRequest, WriteRejection } from "./protocol";

export interface Services {
  policy: Policy;
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  claim(key: string, owner: string): Promise<boolean>;
  release(key: string, owner: string): Promise<void>;
  /** After an erasure: the registry keeps nothing of the key (its name derives from personal data). */
  forget(key: string, owner: string): Promise<void>;
}

/**
 * A domain command with the facts only I/O can supply (hashes, password checks, uniqueness claims),
 * the condition under which those facts still hold, and what to do once the transaction is over.
 */
export type Prepared =
  | {
      ok: true;
      command: UserCommand;
      stillValid(state: UserState): boolean;
      /** After the transaction, given whether it committed and the state it decided on. */
      settle(committed: boolean, before: UserState): Promise<void>;
    }
  | { ok: false; rejection: WriteRejection };

type Input<T extends CommandInput["type"]> = Extract<CommandInput, { type: T }>;

const always = () => true;
const nothing = async () => {};

export async function prepare(request: CommandRequest, state: UserState, services: Services): Promise<Prepared> {
  const { input } = request;
  switch (input.type) {
    case "CreateUser":
      return prepareCreate(input, request, state, services);
    case "UpdateUser":
      return prepareIdentityChange(input, request.userId, state, services);
    case "ChangePassword":
      return prepareChangePassword(input, state, services);
    case "DeleteUser":
      return plain(input, state, services, async (committed, before) => {
        const user = before.user;
        if (committed && user) await releaseAll(services, request.userId, identityKeys(user));
      });
    case "EraseUser":
      return plain(input, state, services, async (committed, before) => {
        const user = before.user;
        if (!committed || !user) return;
        const keys = identityKeys(user);
        await Promise.allSettled(keys.map((key) => services.forget(key, request.userId)));
      });
    case "RestoreUser":
      return prepareRestore(input, request.userId, state, services);
    case "CorrectUser":
      return prepareIdentityChange(input, request.userId, state, services);
    case "SuspendUser":
    case "ReactivateUser":
      return plain({ type: input.type }, state, services, nothing);
    case "RehashPassword":
      return plain(input, state, services, nothing);
  }
}

async function prepareCreate(
  input: Input<"CreateUser">,
  request: CommandRequest,
  state: UserState,
  services: Services,
): Promise<Prepared> {
  const command: UserCommand = { ...input, password_hash: "", role: request.role ?? "user" };
  const decided = firstEvent(decide(state, command, services.policy));
  if (!decided.ok) return decided;
  if (decided.event.event_type !== "USER_CREATED") throw new Error("create must emit USER_CREATED");
  const { username, email } = decided.event.data;
  const claims = await claimAll(services, request.userId, [
    ["username", username],
    ["email", email],
  ]);
  if (!claims.ok) return claims;
  const password_hash = await services.hash(input.password);
  return {
    ok: true,
    command: { ...command, password_hash },
    stillValid: always,
    settle: async (committed) => {
      if (!committed) await releaseAll(services, request.userId, claims.keys);
    },
  };
}

/**
 * An update or correction that may change the email (or, for corrections, the username): the new
 * value is claimed first; after the change the old one is released, or the new one if it failed.
 */
async function prepareIdentityChange(
  command: Input<"UpdateUser"> | Input<"CorrectUser">,
  userId: string,
  state: UserState,
  services: Services,
): Promise<Prepared> {
  const decided = firstEvent(decide(state, command, services.policy));
  if (!decided.ok) return decided;
  const user = state.user;
  const event = decided.event;
  const changes = event.event_type === "USER_UPDATED" || event.event_type === "USER_CORRECTED" ? event.data : {};
  const changed = (["username", "email"] as const).flatMap((field) => {
    const next = (changes as { username?: string; email?: string })[field];
    return next && identityKey(field, next) !== identityKey(field, user?.[field] ?? "") ? [{ field, next }] : [];
  });
  if (changed.length === 0) return { ok: true, command, stillValid: always, settle: nothing };
  const claims = await claimAll(
    services,
    userId,
    changed.map((c): [Field, string] => [c.field, c.next]),
  );
  if (!claims.ok) return claims;
  return {
    ok: true,
    command,
    stillValid: always,
    // What is released is decided from the state the change applied to, which concurrent changes
    // may have moved since this preparation: that value, unless it is also the new one.
    settle: (committed, before) => {
      if (!committed) return releaseAll(services, userId, claims.keys);
      const replaced = changed.flatMap(({ field, next }) => {
        const old = identityKey(field, before.user?.[field] ?? "");
        return old === identityKey(field, next) ? [] : [old];
      });
      return releaseAll(services, userId, replaced);
    },
  };
}

/** A restore takes the username and email back: refused (409) if someone took either meanwhile. */
async function prepareRestore(
  command: Input<"RestoreUser">,
  userId: string,
  state: UserState,
  services: Services,
): Promise<Prepared> {
  const decided = firstEvent(decide(state, command, services.policy));
  if (!decided.ok) return decided;
  const user = state.user;
  if (!user) throw new Error("a restore is decided only for an existing user");
  const claims = await claimAll(services, userId, [
    ["username", user.username],
    ["email", user.email],
  ]);
  if (!claims.ok) return claims;
  return {
    ok: true,
    command,
    stillValid: always,
    settle: async (committed) => {
      if (!committed) await releaseAll(services, userId, claims.keys);
    },
  };
}

function identityKeys(user: { username: string; email: string }): string[] {
  return [identityKey("username", user.username), identityKey("email", user.email)];
}

async function prepareChangePassword(
  input: Input<"ChangePassword">,
  state: UserState,
  services: Services,
): Promise<Prepared> {
  const seenHash = state.user?.password_hash ?? "";
  const current_password_valid = state.user !== null && (await services.verify(input.current_password, seenHash));
  const command = {
    type: "ChangePassword" as const,
    current_password_valid,
    new_password: input.new_password,
    new_password_same_as_current: current_password_valid && (await services.verify(input.new_password, seenHash)),
    new_password_hash: "",
  };
  const decided = firstEvent(decide(state, command, services.policy));
  if (!decided.ok) return decided;
  return {
    ok: true,
    command: { ...command, new_password_hash: await services.hash(input.new_password) },
    stillValid: (now) => now.user?.password_hash === seenHash,
    settle: nothing,
  };
}

/** A command that needs no I/O: decided once here to fail fast, and again in the transaction. */
function plain(
  command: UserCommand,
  state: UserState,
  services: Services,
  settle: (committed: boolean, before: UserState) => Promise<void>,
): Prepared {
  const decided = firstEvent(decide(state, command, services.policy));
  if (!decided.ok) return decided;
  return { ok: true, command, stillValid: always, settle };
}

function firstEvent(
  decision: ReturnType<typeof decide>,
): { ok: true; event: UserEvent } | { ok: false; rejection: WriteRejection } {
  if (!decision.ok) return decision;
  const event = decision.events[0];
  if (!event) throw new Error("an accepted command emits at least one event");
  return { ok: true, event };
}

export type Field = "username" | "email";

export async function claimAll(
  services: Services,
  owner: string,
  wanted: [Field, string][],
): Promise<{ ok: true; keys: string[] } | { ok: false; rejection: WriteRejection }> {
  const results = await Promise.all(
    wanted.map(async ([field, value]) => {
      const key = identityKey(field, value);
      return { field, value, key, won: await services.claim(key, owner) };
    }),
  );
  const keys = results.filter((r) => r.won).map((r) => r.key);
  const lost = results.find((r) => !r.won);
  if (!lost) return { ok: true, keys };
  await releaseAll(services, owner, keys);
  return { ok: false, rejection: { code: "IdentityTaken", field: lost.field, value: lost.value } };
}

/** Best effort: the registry re-checks with the owner, so a lost release cannot block a key. */
export async function releaseAll(services: Services, owner: string, keys: string[]): Promise<void> {
  await Promise.allSettled(keys.map((key) => services.release(key, owner)));
}
