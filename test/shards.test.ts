import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  byReadDatabase,
  eventQueueOf,
  listedReadDatabases,
  parseShards,
  previousReadDatabaseOf,
  readDatabaseOf,
  readDatabases,
  shardOf,
} from "../src/shards";
import { shardedEnv, userIdOnShard } from "./support/shards";

describe("the shard layout", () => {
  it("is one queue and one read database by default, the ones the service always had", () => {
    // The layout variables unset, whichever layout the suite runs on (`npm run test:sharded` has no EVENTS).
    const queue = env.EVENTS ?? env.EVENTS_0!;
    const defaults = { ...env, EVENT_QUEUES: undefined, READ_DATABASES: undefined, EVENTS: queue } as unknown as Env;
    expect(readDatabases(defaults)).toEqual([env.DB]);
    expect(readDatabaseOf(defaults, "anyone")).toBe(env.DB);
    expect(eventQueueOf(defaults, "anyone")).toBe(queue);
  });

  it("sends a user to the database shardOf names, and every user to exactly one", () => {
    const sharded = shardedEnv();
    const dbs = readDatabases(sharded);
    expect(dbs).toEqual([env.DB, env.TEST_SHARD_1, env.TEST_SHARD_2, env.TEST_SHARD_3]);
    const perShard = [0, 0, 0, 0];
    for (let i = 0; i < 4_000; i++) {
      const id = `0193${i.toString(16).padStart(4, "0")}-aaaa-7000-8000-000000000000`;
      const db = readDatabaseOf(sharded, id);
      expect(db).toBe(dbs[shardOf(id, 4)]);
      perShard[dbs.indexOf(db)]!++;
    }
    // FNV-1a spreads uuids evenly: no shard far from a quarter.
    for (const n of perShard) expect(n).toBeGreaterThan(800);
  });

  it("groups users by database, keeping their order within each", () => {
    const sharded = shardedEnv();
    const ids = [userIdOnShard(2, "a"), userIdOnShard(0, "b"), userIdOnShard(2, "c")];
    const groups = byReadDatabase(sharded, ids, (id) => id);
    expect(groups.map((g) => [g.index, g.items])).toEqual([
      [2, [ids[0], ids[2]]],
      [0, [ids[1]]],
    ]);
    expect(groups[0]!.db).toBe(env.TEST_SHARD_2);
  });

  it("refuses a layout that names a binding that is missing, of the wrong kind, twice, or none", () => {
    const base = env as unknown as Record<string, unknown>;
    expect(() => parseShards({ ...base, READ_DATABASES: "DB,NOPE" })).toThrow(/READ_DATABASES: no binding NOPE/);
    expect(() => parseShards({ ...base, EVENT_QUEUES: "DB" })).toThrow(/EVENT_QUEUES: no binding DB/);
    expect(() => parseShards({ ...base, READ_DATABASES: "DB,DB" })).toThrow(/twice/);
    expect(() => parseShards({ ...base, READ_DATABASES: " , " })).toThrow(/names no binding/);
    expect(() => parseShards({ ...base, EVENT_QUEUES: "events" })).toThrow(/not a binding name/);
    expect(() => parseShards({ ...base, READ_DATABASES_PREVIOUS: "DB,GONE" })).toThrow(
      /READ_DATABASES_PREVIOUS: no binding GONE/,
    );
  });

  it("knows no previous layout unless a re-shard names one (decision 0027)", () => {
    const sharded = shardedEnv({ READ_DATABASES_PREVIOUS: "" });
    expect(parseShards(sharded as unknown as Record<string, unknown>).previous).toEqual([]);
    expect(previousReadDatabaseOf(sharded, "anyone")).toBeNull();
    expect(listedReadDatabases(sharded)).toEqual(readDatabases(sharded));
  });

  it("during a re-shard, names where the layout being left put a user that moves, and lists visit both layouts", () => {
    // From two databases to four, the first two kept.
    const resharding = shardedEnv({ READ_DATABASES_PREVIOUS: "DB,TEST_SHARD_1" });
    const before = [env.DB, env.TEST_SHARD_1];
    for (let i = 0; i < 200; i++) {
      const id = `user-${i}`;
      const was = before[shardOf(id, 2)]!;
      expect(previousReadDatabaseOf(resharding, id)).toBe(readDatabaseOf(resharding, id) === was ? null : was);
    }
    expect(listedReadDatabases(resharding)).toEqual([env.DB, env.TEST_SHARD_1, env.TEST_SHARD_2, env.TEST_SHARD_3]);
    // From four to two others: every database once, the new ones first.
    const shrinking = shardedEnv({
      READ_DATABASES: "TEST_SHARD_3,TEST_SHARD_2",
      READ_DATABASES_PREVIOUS: "DB,TEST_SHARD_1,TEST_SHARD_2,TEST_SHARD_3",
    });
    expect(listedReadDatabases(shrinking)).toEqual([env.TEST_SHARD_3, env.TEST_SHARD_2, env.DB, env.TEST_SHARD_1]);
  });
});
