import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { queryAsOf } from "../../src/read/as-of";
import { findUserRow, upsertUserRows } from "../../src/read/queries";
import { leavePreviousPlaces, lookBefore } from "../../src/read/reshard";
import { listUsers } from "../../src/read/user-list";
import { readDatabaseOf } from "../../src/shards";
import { shardedEnv } from "../support/shards";
import { readModelRow } from "./fixtures";

/**
 * The read side's share of a re-shard (decision 0027) below the routes: a user in two databases
 * for a moment is listed once, as its newest copy; a look that misses in both places finds a user
 * moved between the looks; a user written in its new database leaves its previous one.
 */

const [one, two] = [env.TEST_SHARD_1, env.TEST_SHARD_2];
const FIRST = "2024-01-01T00:00:00.000Z";

async function intervalRow(db: D1Database, userId: string, revision: number, validTo: string | null) {
  await db
    .prepare(
      `INSERT INTO user_intervals (user_id, revision, username, email, status, role, valid_from, valid_to)
       VALUES (?, ?, 'twice', 'twice@example.com', 'active', 'user', '2024-01-01T00:00:00.000Z', ?)`,
    )
    .bind(userId, revision, validTo)
    .run();
}

describe("a user in two read databases at once", () => {
  it("is listed once, as its newest copy, in a page, a cursor walk and a search", async () => {
    const twice = "reshard-twice";
    await one.batch(
      upsertUserRows(one, [readModelRow({ id: twice, username: "twice-old", revision: 1, createdAt: FIRST })]),
    );
    await two.batch(
      upsertUserRows(two, [readModelRow({ id: twice, username: "twice-new", revision: 3, createdAt: FIRST })]),
    );
    const others = ["reshard-a", "reshard-b", "reshard-c"].map((id, i) =>
      readModelRow({ id, createdAt: `2024-0${i + 2}-01T00:00:00.000Z` }),
    );
    await one.batch(upsertUserRows(one, others.slice(0, 2)));
    await two.batch(upsertUserRows(two, others.slice(2)));

    const page = await listUsers([one, two], { page: 1, pageSize: 10 }, "nobody");
    expect(page.rows.map((row) => [row.id, row.username])).toEqual([
      [twice, "twice-new"],
      ...others.map((row) => [row.id, row.username]),
    ]);
    // A page ending on the user: the next starts after it, with no second copy.
    const first = await listUsers([one, two], { page: 1, pageSize: 1 }, "nobody");
    expect(first.rows.map((row) => row.id)).toEqual([twice]);
    const after = await listUsers([one, two], { page: 1, pageSize: 1, after: first.next! }, "nobody");
    expect(after.rows.map((row) => row.id)).toEqual(["reshard-a"]);
    const found = await listUsers([one, two], { page: 1, pageSize: 10, username: "twice" }, "nobody");
    expect(found.rows.map((row) => row.username)).toEqual(["twice-new"]);
  });

  it("has its interval once in an as-of page: the copy its later events already closed", async () => {
    await intervalRow(one, "reshard-interval", 1, null);
    await intervalRow(two, "reshard-interval", 1, "2024-06-01T00:00:00.000Z");
    const { rows } = await queryAsOf([one, two], { asOf: "2024-03-01T00:00:00.000Z", limit: 10 });
    expect(rows.filter((row) => row.userId === "reshard-interval")).toEqual([
      expect.objectContaining({ validTo: "2024-06-01T00:00:00.000Z" }),
    ]);
  });
});

describe("looking for a user during a re-shard", () => {
  // From TEST_SHARD_1 alone to TEST_SHARD_1 and TEST_SHARD_2: the users moving go to TEST_SHARD_2.
  const resharding = shardedEnv({
    READ_DATABASES: "TEST_SHARD_1,TEST_SHARD_2",
    READ_DATABASES_PREVIOUS: "TEST_SHARD_1",
  });
  /** A user id whose read database is `db` in the new layout (TEST_SHARD_2: it moves). */
  const idIn = (db: D1Database, prefix: string) => {
    for (let i = 0; ; i++) if (readDatabaseOf(resharding, `${prefix}-${i}`) === db) return `${prefix}-${i}`;
  };
  const moving = (prefix: string) => idIn(two, prefix);

  it("finds a user moved between its look in the new place and the one in the old", async () => {
    const id = moving("moved-meanwhile");
    const looked: D1Database[] = [];
    const row = await lookBefore(resharding, id, async (db) => {
      looked.push(db as D1Database);
      // The rebuild writes the user in its new database, then removes it from the old, right now.
      if (db === one) await two.batch(upsertUserRows(two, [readModelRow({ id })]));
      return findUserRow(db, id);
    });
    expect(row?.id).toBe(id);
    expect(looked).toHaveLength(2);
    // No re-shard, or a user that does not move: nowhere else to look.
    expect(await lookBefore(shardedEnv({ READ_DATABASES: "TEST_SHARD_1,TEST_SHARD_2" }), id, async () => "x")).toBe(
      undefined,
    );
  });

  it("a list meets a user that moves while the databases answer", async () => {
    const id = moving("moving-under-a-list");
    await one.batch(upsertUserRows(one, [readModelRow({ id, username: "underlist", createdAt: FIRST })]));
    // The new place answers first; then the user moves (written in its new database, removed from
    // its previous one); then the previous place answers: each of the two missed it.
    const move = async () => {
      await two.batch(upsertUserRows(two, [readModelRow({ id, username: "underlist", createdAt: FIRST })]));
      await leavePreviousPlaces(resharding, [id]);
    };
    const racing = () => {
      let newAnswered!: () => void;
      const answered = new Promise<void>((resolve) => (newAnswered = resolve));
      const after = (db: D1Database, before: () => Promise<void>, then: () => void) => ({
        prepare: (query: string) => db.prepare(query),
        batch: async <T>(statements: D1PreparedStatement[]) => {
          await before();
          const result = await db.batch<T>(statements);
          then();
          return result;
        },
      });
      const newFirst = after(two, async () => {}, newAnswered);
      const oldAfterTheMove = after(
        one,
        async () => {
          await answered;
          await move();
        },
        () => {},
      );
      return [newFirst, oldAfterTheMove];
    };

    const page = await listUsers(racing(), { page: 1, pageSize: 10, username: "underlist" }, "nobody", undefined, [
      two,
    ]);
    expect(page.rows.map((row) => row.id)).toEqual([id]);
    // Asked only once, the list misses it: what the second look is for.
    await one.batch(upsertUserRows(one, [readModelRow({ id, username: "underlist", createdAt: FIRST })]));
    await two.prepare("DELETE FROM users WHERE id = ?").bind(id).run();
    const once = await listUsers(racing(), { page: 1, pageSize: 10, username: "underlist" }, "nobody");
    expect(once.rows).toEqual([]);
  });

  it("a user written in its new database leaves its previous one, and no one else does", async () => {
    const id = moving("leaving");
    const stays = idIn(one, "staying");
    for (const user of [id, stays]) {
      await one.batch([
        ...upsertUserRows(one, [readModelRow({ id: user })]),
        one
          .prepare(
            "INSERT INTO streams (user_id, published_revision, confirmed_revision, owed_since) VALUES (?, 1, 1, 0)",
          )
          .bind(user),
      ]);
      await intervalRow(one, user, 1, null);
    }
    await leavePreviousPlaces(resharding, [id, stays]);
    const count = (table: string, column: string, user: string) =>
      one.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`).bind(user).first<number>("n");
    for (const [table, column] of [
      ["users", "id"],
      ["streams", "user_id"],
      ["user_intervals", "user_id"],
    ] as const) {
      expect(await count(table, column, id), table).toBe(0);
      // The other user is in TEST_SHARD_1 in both layouts: its rows are its own.
      expect(await count(table, column, stays), table).toBe(1);
    }
  });
});
