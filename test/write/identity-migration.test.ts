import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, describe, expect, it } from "vitest";
import { identityKey } from "../../src/domain/rules";
import { migrateIdentities } from "../../src/admin/identity-migration";
import { identityRegistry, shardFor } from "../../src/write/identity-shards";
import { createInput, uniqueName } from "../support/builders";
import { claimRows, createUser, directoryHas, rejectionOf, send, settleAlarms, stubFor } from "./helpers";

/**
 * The switch from one registry object per key to the shards (docs/operations.md): claims made in
 * the old objects before it, claims racing the copy, and claims after it. One describe in order:
 * the copy marks every shard of this file's storage copied.
 */

type Old = Awaited<ReturnType<typeof createUser>>;

/**
 * A user as the old code left it: its stream holds its names, their claims are in the per-key
 * objects (claimed long ago), and the shards know nothing of them.
 */
async function fromBeforeTheSwitch(): Promise<Old> {
  const user = await createUser();
  for (const key of keysOf(user)) {
    await runInDurableObject(shardFor(env, key).stub, (_instance, state) => {
      state.storage.sql.exec("DELETE FROM claims WHERE key = ?", key);
    });
    const legacy = env.IDENTITY_REGISTRY.getByName(key);
    expect(await legacy.claim(key, user.userId)).toBe(true);
    await runInDurableObject(legacy, (_instance, state) => {
      state.storage.sql.exec("UPDATE claim SET claimed_at = 1");
    });
  }
  return user;
}

const keysOf = (user: { username: string; email: string }) => [
  identityKey("username", user.username),
  identityKey("email", user.email),
];

/** Every step of the copy, `users` at a time, until it is done. */
async function copyAll(users: number): Promise<number> {
  let cursor = "";
  let adopted = 0;
  for (;;) {
    const step = await migrateIdentities(env, cursor, users);
    adopted += step.adopted;
    if (step.done) return adopted;
    cursor = step.next_cursor!;
  }
}

/** How many of these users' streams hold `key`: 1 for a held key, never 2. */
async function holders(userIds: string[], key: string): Promise<number> {
  const held = await Promise.all(userIds.map(async (id) => (await stubFor(id).heldIdentities()).includes(key)));
  return held.filter(Boolean).length;
}

describe("switching from per-key registry objects to shards", () => {
  afterAll(settleAlarms);
  const old: Old[] = [];
  const everyone: string[] = [];

  it("before the copy: an old user's names stay taken, in any case, and the shard adopts the old claim", async () => {
    for (let i = 0; i < 12; i++) old.push(await fromBeforeTheSwitch());
    everyone.push(...old.map((u) => u.userId));
    const [first] = old as [Old];
    const [usernameKey, emailKey] = keysOf(first) as [string, string];
    expect(await claimRows(usernameKey)).toEqual([]);

    const clash = await send(crypto.randomUUID(), createInput({ username: first.username.toUpperCase() }));
    expect(rejectionOf(clash)).toMatchObject({ code: "IdentityTaken", field: "username" });
    const byEmail = await send(crypto.randomUUID(), createInput({ email: first.email.toUpperCase() }));
    expect(rejectionOf(byEmail)).toMatchObject({ code: "IdentityTaken", field: "email" });
    expect(await claimRows(usernameKey)).toMatchObject([{ owner: first.userId, claimed_at: 1 }]);
    expect(await identityRegistry(env).holder(emailKey)).toBe(first.userId);
  });

  it("during the copy: creates racing it for old and new names leave each name held by exactly one stream", async () => {
    await settleAlarms(); // the old users' outbox alarms register them in the directory
    for (const user of old) expect(await directoryHas(user.userId)).toBe(true);
    const fresh = Array.from({ length: 6 }, () => ({
      username: uniqueName("new"),
      email: `${uniqueName("n")}@example.com`,
    }));
    // Three racers for each old user's username, three for its email; two for each new name.
    const racers = [
      ...old.flatMap((user) => [
        ...Array.from({ length: 3 }, () => createInput({ username: user.username.toUpperCase() })),
        ...Array.from({ length: 3 }, () => createInput({ email: user.email.toUpperCase() })),
      ]),
      ...fresh.flatMap((names) => [
        createInput(names),
        createInput({ ...names, username: names.username.toUpperCase() }),
      ]),
    ].map((input) => ({ userId: crypto.randomUUID(), input }));
    everyone.push(...racers.map((r) => r.userId));

    const [results] = await Promise.all([
      Promise.all(racers.map(({ userId, input }) => send(userId, input))),
      copyAll(3),
    ]);

    const won = racers.filter((_, i) => results[i]!.ok);
    expect(won).toHaveLength(fresh.length); // no old name went to a racer; each new name to one of its two
    for (const user of old) {
      expect((await stubFor(user.userId).heldIdentities()).sort()).toEqual(keysOf(user).sort());
    }
    for (const key of [...old.flatMap(keysOf), ...fresh.flatMap(keysOf)]) {
      expect(await holders(everyone, key)).toBe(1);
      expect(await claimRows(key)).toHaveLength(1);
    }
  });

  it("after the copy: the old objects are not asked, the copied names stay taken, and a second copy writes nothing", async () => {
    expect(await copyAll(100)).toBe(0);
    for (const user of old) {
      const [usernameKey, emailKey] = keysOf(user) as [string, string];
      expect(await identityRegistry(env).holder(usernameKey)).toBe(user.userId);
      expect(await identityRegistry(env).holder(emailKey)).toBe(user.userId);
      const clash = await send(crypto.randomUUID(), createInput({ username: user.username }));
      expect(rejectionOf(clash)).toMatchObject({ code: "IdentityTaken", field: "username" });
    }
    // A claim only an old object has is no longer seen: the copy is the end of the old objects.
    const late = identityKey("username", uniqueName("late"));
    expect(await env.IDENTITY_REGISTRY.getByName(late).claim(late, crypto.randomUUID())).toBe(true);
    expect(await identityRegistry(env).claim(late, crypto.randomUUID())).toBe(true);
    // And a user deleted after the copy frees its names, an erased one leaves nothing of them.
    const [gone, erased] = old as [Old, Old];
    expect((await send(gone.userId, { type: "DeleteUser" })).ok).toBe(true);
    expect((await send(crypto.randomUUID(), createInput({ username: gone.username }))).ok).toBe(true);
    expect((await send(erased.userId, { type: "EraseUser" })).ok).toBe(true);
    for (const key of keysOf(erased)) {
      expect(await claimRows(key)).toEqual([]);
      expect(await env.IDENTITY_REGISTRY.getByName(key).claimOf()).toBeNull();
    }
  });
});
