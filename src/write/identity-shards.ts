import { config } from "../config";
import { shardOf } from "../shards";
import { shardName, type ShardAddress } from "./identity-shard";

// The registry hashes keys as the read side hashes user ids: one function, fixed forever (0023).
export { shardOf };

/** The shard holding `key`, and the address every call to it carries. */
export function shardFor(env: Env, key: string): { stub: ShardStub; at: ShardAddress } {
  const count = config(env).IDENTITY_SHARD_COUNT;
  const index = shardOf(key, count);
  return { stub: env.IDENTITY_SHARDS.getByName(shardName(index)), at: { index, count } };
}

type ShardStub = ReturnType<Env["IDENTITY_SHARDS"]["getByName"]>;

/** Items grouped by their key's shard, in their given order: one call per shard. */
export function byShard<T>(env: Env, items: readonly T[], keyOf: (item: T) => string) {
  const groups = new Map<number, { shard: ReturnType<typeof shardFor>; items: T[] }>();
  for (const item of items) {
    const shard = shardFor(env, keyOf(item));
    const group = groups.get(shard.at.index) ?? { shard, items: [] };
    group.items.push(item);
    groups.set(shard.at.index, group);
  }
  return [...groups.values()];
}

const itself = (key: string) => key;

/** The sharded registry as its callers see it: batches in, one call per shard out. */
export function identityRegistry(env: Env) {
  return {
    /** Claims every key for `owner`: whether each was won, in the keys' order. */
    async claimMany(keys: readonly string[], owner: string): Promise<boolean[]> {
      return this.claimEach(keys.map((key) => ({ key, owner })));
    },
    /**
     * Claims each key for its owner (an import request's users at once): whether each was won, in
     * order. A key asked for two owners is won by one of them (the shard runs its claims in turn).
     */
    async claimEach(claims: readonly { key: string; owner: string }[]): Promise<boolean[]> {
      // By position: one key may come for two owners, and only one of them wins it.
      const won = new Map<{ key: string; owner: string }, boolean>();
      await Promise.all(
        byShard(env, claims, (claim) => claim.key).map(async ({ shard, items }) => {
          const outcomes = await shard.stub.claimMany(shard.at, items);
          items.forEach((claim, i) => won.set(claim, outcomes[i]?.won === true));
        }),
      );
      return claims.map((claim) => won.get(claim) === true);
    },
    async claim(key: string, owner: string): Promise<boolean> {
      return (await this.claimMany([key], owner))[0]!;
    },
    async releaseMany(keys: readonly string[], owner: string): Promise<void> {
      await Promise.all(
        byShard(env, keys, itself).map(({ shard, items }) => shard.stub.releaseMany(shard.at, items, owner)),
      );
    },
    /**
     * After an erasure. The old per-key objects are emptied first: a shard that has not been copied
     * yet would otherwise adopt the erased claim back from them.
     */
    async forgetMany(keys: readonly string[], owner: string): Promise<void> {
      await Promise.all(keys.map((key) => env.IDENTITY_REGISTRY.getByName(key).forget(owner)));
      await Promise.all(
        byShard(env, keys, itself).map(({ shard, items }) => shard.stub.forgetMany(shard.at, items, owner)),
      );
    },
    holder(key: string): Promise<string | null> {
      const shard = shardFor(env, key);
      return shard.stub.holder(shard.at, key);
    },
  };
}
