import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { identityKey } from "../../src/domain/rules";
import { shardName, type IdentityShard } from "../../src/write/identity-shard";
import { identityRegistry, shardFor, shardOf } from "../../src/write/identity-shards";
import { uniqueName } from "../support/builders";
import { claimRows, createUser, expectOk, send, settleAlarms } from "./helpers";

const COUNT = 16; // wrangler.toml's IDENTITY_SHARD_COUNT, which the tests run with

/** `n` fresh keys that all land in shard `index`. */
function keysIn(index: number, n: number): string[] {
  const keys: string[] = [];
  while (keys.length < n) {
    const key = identityKey("username", uniqueName("k"));
    if (shardOf(key, COUNT) === index) keys.push(key);
  }
  return keys;
}

const shard = (index: number) => env.IDENTITY_SHARDS.getByName(shardName(index));

describe("placing a key in a shard", () => {
  it("is FNV-1a of the key's UTF-8 bytes modulo the count: the published test vectors, so it never drifts", () => {
    // FNV-1a 32-bit of "", "a", "foobar": 0x811c9dc5, 0xe40c292c, 0xbf9cf968.
    expect(shardOf("", 1_000)).toBe(0x811c9dc5 % 1_000);
    expect(shardOf("a", 1_000)).toBe(0xe40c292c % 1_000);
    expect(shardOf("foobar", 1_000)).toBe(0xbf9cf968 % 1_000);
    expect(shardOf("username:alice", 16)).toBe(3);
    // Bytes, not UTF-16 units: a non-ASCII key is hashed as UTF-8 (é is 0xc3 0xa9).
    expect(shardOf("é", 1_000)).toBe(shardOf("\u00e9", 1_000));
  });

  it("spreads keys evenly: 16,000 keys, every shard within 10 % of 1,000", () => {
    const counts = new Array<number>(COUNT).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf(identityKey("email", `user${i}@example.com`), COUNT)]!++;
    for (const n of counts) expect(Math.abs(n - 1_000)).toBeLessThan(100);
  });
});

describe("one shard, many keys", () => {
  afterEach(settleAlarms);

  it("claims a batch in one call: the owner wins every free key, another owner none of them", async () => {
    const [a, b, c, d] = keysIn(5, 4) as [string, string, string, string];
    const at = { index: 5, count: COUNT };
    const first = crypto.randomUUID();
    const second = crypto.randomUUID();
    expect(
      await shard(5).claimMany(
        at,
        [a, b, c].map((key) => ({ key, owner: first })),
      ),
    ).toEqual([a, b, c].map((key) => ({ key, won: true })));
    // Pending (younger than PENDING_MS): refused to anyone else, a fresh key in the same batch still won.
    const outcomes = await shard(5).claimMany(
      at,
      [a, b, c, d].map((key) => ({ key, owner: second })),
    );
    expect(outcomes.map((o) => o.won)).toEqual([false, false, false, true]);
    // The owner's retry of its own batch is fine.
    expect(
      (
        await shard(5).claimMany(
          at,
          [a, b].map((key) => ({ key, owner: first })),
        )
      ).every((o) => o.won),
    ).toBe(true);
  });

  it("one key claimed for two owners in one call (an import request's users): exactly one wins, once copied too", async () => {
    const [key] = keysIn(6, 1) as [string];
    const at = { index: 6, count: COUNT };
    // Copied: no old object to ask, so nothing awaits between reading the key and writing it.
    await shard(6).markCopied(at);
    const [first, second] = [crypto.randomUUID(), crypto.randomUUID()];
    const outcomes = await shard(6).claimMany(at, [
      { key, owner: first },
      { key, owner: second },
    ]);
    expect(outcomes.map((o) => o.won)).toEqual([true, false]);
    expect(await claimRows(key)).toMatchObject([{ owner: first }]);
  });

  it("answers a call's claims by position: of two owners of one key, the one the shard gave it is told so", async () => {
    const [key] = keysIn(7, 1) as [string];
    const [first, second] = [crypto.randomUUID(), crypto.randomUUID()];
    // The second holds it already (a pending claim): the first loses, the second's claim is its own again.
    expect(await identityRegistry(env).claimEach([{ key, owner: second }])).toEqual([true]);
    expect(
      await identityRegistry(env).claimEach([
        { key, owner: first },
        { key, owner: second },
      ]),
    ).toEqual([false, true]);
  });

  it("forgets only the owner's rows: after an erasure nothing of its keys stays, others' claims do", async () => {
    const [mine, theirs] = keysIn(7, 2) as [string, string];
    const at = { index: 7, count: COUNT };
    const owner = crypto.randomUUID();
    const other = crypto.randomUUID();
    await shard(7).claimMany(at, [
      { key: mine, owner },
      { key: theirs, owner: other },
    ]);
    await shard(7).forgetMany(at, [mine, theirs], owner);
    expect(await claimRows(mine)).toEqual([]);
    expect(await claimRows(theirs)).toMatchObject([{ key: theirs, owner: other }]);
  });

  it("an erased user's names leave no row in any shard, and are free again", async () => {
    const user = await createUser();
    const keys = [identityKey("username", user.username), identityKey("email", user.email)];
    await identityRegistry(env).forgetMany(keys, crypto.randomUUID()); // someone else's forget: nothing goes
    for (const key of keys) expect(await claimRows(key)).toMatchObject([{ owner: user.userId }]);
    expectOk(await send(user.userId, { type: "EraseUser" }));
    for (const key of keys) expect(await claimRows(key)).toEqual([]);
    expect(await identityRegistry(env).claimMany(keys, crypto.randomUUID())).toEqual([true, true]);
  });

  it("releases mark the owner's claims expired, not gone: the next claimant still asks the owner", async () => {
    const user = await createUser();
    const key = identityKey("username", user.username);
    await identityRegistry(env).releaseMany([key], user.userId);
    expect(await claimRows(key)).toMatchObject([{ owner: user.userId, claimed_at: 0 }]);
    // The user still holds the name in its stream: the expired claim is not handed out.
    expect(await identityRegistry(env).claim(key, crypto.randomUUID())).toBe(false);
    expect(await identityRegistry(env).holder(key)).toBe(user.userId);
  });
});

describe("the shard count is fixed once claims exist", () => {
  it("a call with another count is refused, by a shard that has claims and by one that never had any", async () => {
    const [key] = keysIn(0, 1) as [string];
    await shard(0).claimMany({ index: 0, count: COUNT }, [{ key, owner: crypto.randomUUID() }]);
    // Called on the instance, not over RPC: a rejecting RPC leaks an unhandled rejection in the test
    // pool even when handled (cloudflare/workers-sdk#14736).
    const refused = (index: number, count: number) =>
      runInDurableObject(shard(index), async (instance: IdentityShard) => {
        const error = await instance.holder({ index, count }, key).then(
          () => null,
          (e: unknown) => String(e),
        );
        return error;
      });
    expect(await refused(0, 8)).toMatch(/IDENTITY_SHARDS is 8 but the claims were placed over 16/);
    // Shard 40 of 64 never existed: it asks shard 0, which knows the count the keys were placed with.
    expect(await refused(40, 64)).toMatch(/IDENTITY_SHARDS is 64 but the claims were placed over 16/);
    // And did not record the wrong count on the way.
    expect(await refused(40, 64)).toMatch(/IDENTITY_SHARDS is 64/);
    expect(await shardFor(env, key).stub.holder(shardFor(env, key).at, key)).toBeNull();
  });
});
