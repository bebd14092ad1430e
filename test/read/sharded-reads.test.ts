import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { queryAsOf, type AsOfFilters } from "../../src/read/as-of";
import { heldInReadSide } from "../../src/read/personal-data";
import { findUserRowAs, upsertUserRows } from "../../src/read/queries";
import { rowAtRevision } from "../../src/read/read-your-writes";
import type { UserRow } from "../../src/read/schema";
import { countTrigramsStatements, maybeMergeSearchIndex } from "../../src/read/search-index";
import { listUsers, type ListFilters, type StatusFilter } from "../../src/read/user-list";
import { byReadDatabase, readDatabaseOf, readDatabases } from "../../src/shards";
import { shardedEnv } from "../support/shards";
import { readModelRow } from "./fixtures";

/**
 * Reads over several read databases (docs/decisions/0026, "Reads"): the same rows written once into
 * one database (`DB`) and once spread over three (each row in its `readDatabaseOf`) answer every
 * page, cursor walk, count and search alike; as-of pages merge likewise; a get, a wait and the
 * access report read the user's own database.
 */

/** Three read databases, none of them `DB`: `DB` holds every row, as the one-database layout would. */
const sharded = shardedEnv({ READ_DATABASES: "TEST_SHARD_1,TEST_SHARD_2,TEST_SHARD_3" });
const spread = () => readDatabases(sharded);

const STATUSES: UserRow["status"][] = ["active", "active", "active", "suspended", "deleted", "erased"];
const TOTAL = 300;

/**
 * Rows over two years down to equal seconds (ties go by id), many in a few minutes, so that a page
 * start falls inside a minute whose rows are spread over the databases.
 */
function seedRows(): UserRow[] {
  return Array.from({ length: TOTAL }, (_, i) => {
    const base = Date.UTC(2024, 11, 29, 22, 58) + Math.floor(i / 3) * (i % 5 === 0 ? 7_000 : 3_700_000 + i * 997);
    const status = STATUSES[(i * 7) % STATUSES.length] ?? "active";
    return readModelRow({
      id: `shl-${String((i * 37) % TOTAL).padStart(4, "0")}`,
      username: status === "erased" ? "[erased]" : `Sharder${i}`,
      email: status === "erased" ? "[erased]" : `sharder.${i}@Example.com`,
      status,
      createdAt: new Date(base).toISOString(),
    });
  });
}

async function writeRows(rows: UserRow[]) {
  for (let i = 0; i < rows.length; i += 50) await env.DB.batch(upsertUserRows(env.DB, rows.slice(i, i + 50)));
  for (const { db, items } of byReadDatabase(sharded, rows, (row) => row.id)) {
    for (let i = 0; i < items.length; i += 50) await db.batch(upsertUserRows(db, items.slice(i, i + 50)));
  }
}

/** The same list asked of one database and of three: equal in everything it answers. */
async function both(filters: ListFilters) {
  const one = await listUsers(env.DB, filters, "nobody");
  const three = await listUsers(spread(), filters, "nobody");
  const label = JSON.stringify(filters);
  expect(
    three.rows.map((r) => r.id),
    label,
  ).toEqual(one.rows.map((r) => r.id));
  expect(three.rows, label).toEqual(one.rows);
  expect(three.count, label).toBe(one.count);
  expect(three.next, label).toEqual(one.next);
  return one;
}

/** Searches by page and by cursor, asked of one database and of three (`both`). */
async function everySearchAsOneDatabase() {
  const cases: [StatusFilter, Partial<Record<"username" | "email", string>>][] = [
    ["live", { username: "sharder1" }],
    ["live", { username: "ARDER2" }],
    ["all", { email: "@example.COM" }],
    ["deleted", { email: "r.1" }],
    ["live", { username: "r1", email: "example" }],
    ["all", { username: "1" }],
    ["all", { username: "[erased]" }],
    ["all", { username: "nobody-has-this" }],
    ["live", { username: "sharder12", email: "der.12" }],
  ];
  for (const [status, needles] of cases) {
    const pageSize = 4;
    const { count } = await both({ page: 1, pageSize, status, ...needles });
    for (let page = 2; page <= Math.ceil(count / pageSize) + 1; page++)
      await both({ page, pageSize, status, ...needles });
    let after: ListFilters["after"];
    for (let page = 1; page <= Math.ceil(count / pageSize) + 1; page++) {
      const got = await both({ page, pageSize, status, after, ...needles });
      if (!got.next) break;
      after = got.next;
    }
  }
}

beforeAll(async () => {
  await writeRows(seedRows());
});

describe("lists over several read databases", () => {
  it("the rows are spread: every database holds some, none holds them all", async () => {
    for (const db of spread()) {
      const { n } = (await db.prepare("SELECT count(*) AS n FROM users").first<{ n: number }>())!;
      expect(n).toBeGreaterThan(TOTAL / 6);
      expect(n).toBeLessThan(TOTAL / 2);
    }
  });

  it("every page N, every cursor walk and every count of every status filter is one database's", async () => {
    for (const status of ["live", "active", "suspended", "deleted", "all"] as StatusFilter[]) {
      for (const pageSize of [7, 25]) {
        const { count } = await both({ page: 1, pageSize, status });
        const pages = Math.ceil(count / pageSize) + 1;
        const seen: string[] = [];
        for (let page = 1; page <= pages; page++) {
          seen.push(...(await both({ page, pageSize, status })).rows.map((r) => r.id));
        }
        expect(seen).toHaveLength(count);
        let after: ListFilters["after"];
        for (let page = 1; page <= pages; page++) {
          const got = await both({ page, pageSize, status, after });
          if (!got.next) break;
          after = got.next;
        }
      }
    }
  }, 60_000);

  it("every search, by page and by cursor, finds and counts what one database finds", async () => {
    await everySearchAsOneDatabase();
  });

  it("so does every search once the day's recount has run in the read databases alone (their rarest trigrams)", async () => {
    await Promise.all(spread().map((db) => db.batch(countTrigramsStatements(db))));
    for (const db of spread()) {
      const { n } = (await db.prepare("SELECT count(*) AS n FROM search_trigram_counts").first<{ n: number }>())!;
      expect(n).toBeGreaterThan(0);
    }
    await everySearchAsOneDatabase();
    await Promise.all(spread().map((db) => db.prepare("DELETE FROM search_trigram_counts").run()));
  });

  it("the caller's row comes from the caller's database, listed or not", async () => {
    const callerId = "shl-0042";
    const callerDb = readDatabaseOf(sharded, callerId);
    const listed = await listUsers(spread(), { page: 1, pageSize: 3 }, callerId, callerDb);
    expect(listed.caller).toMatchObject({ status: "active", revision: 1 });
    expect((await listUsers(spread(), { page: 1, pageSize: 3 }, callerId)).caller).toEqual(
      callerDb === spread()[0] ? listed.caller : undefined,
    );
    const others = spread().filter((db) => db !== callerDb);
    expect((await listUsers(others, { page: 1, pageSize: 3 }, callerId, callerDb)).caller).toEqual(listed.caller);
  });
});

describe("one user's reads over several read databases", () => {
  it("a get reads the user's row from its database and the caller's from the caller's", async () => {
    const userId = "shl-0007";
    const userDb = readDatabaseOf(sharded, userId);
    const callerId = seedRows().find((row) => readDatabaseOf(sharded, row.id) !== userDb)!.id;
    const callerDb = readDatabaseOf(sharded, callerId);
    const { row, caller } = await findUserRowAs(userDb, callerId, userId, callerDb);
    expect(row?.id).toBe(userId);
    expect(caller).toBeDefined();
    expect((await findUserRowAs(userDb, callerId, userId)).caller).toBeUndefined();
  });

  it("a waiter for a user of one database is told by the shared look of a waiter on another", async () => {
    const rows = seedRows().filter((row) => row.status === "active");
    const patient = rows.find((row) => readDatabaseOf(sharded, row.id) === env.TEST_SHARD_2)!;
    const eager = rows.find((row) => readDatabaseOf(sharded, row.id) === env.TEST_SHARD_1)!;
    // The patient waiter never looks itself (its first look is a minute out): only the eager
    // waiter's look, which reads every waited-for user in that user's own database, can tell it.
    const patientWait = rowAtRevision(env.TEST_SHARD_2, patient.id, 2, 3_000, {
      policy: { firstMs: 60_000, maxMs: 60_000 },
      database: env.TEST_SHARD_2,
    });
    const eagerWait = rowAtRevision(env.TEST_SHARD_1, eager.id, 2, 3_000, {
      policy: { firstMs: 10, maxMs: 20 },
      database: env.TEST_SHARD_1,
    });
    for (const row of [patient, eager]) {
      const db = readDatabaseOf(sharded, row.id);
      await db.batch(upsertUserRows(db, [{ ...row, revision: 2 }]));
    }
    expect(await eagerWait).toMatchObject({ id: eager.id, revision: 2 });
    expect(await patientWait).toMatchObject({ id: patient.id, revision: 2 });
  });

  it("the access report reads the users row from the user's database, the rest from DB", async () => {
    const userId = "shl-0011";
    const own = readDatabaseOf(sharded, userId);
    await env.DB.prepare("DELETE FROM users WHERE id = ?").bind(userId).run();
    expect((await heldInReadSide(own, env.DB, userId)).read_model).toMatchObject({ id: userId });
    expect((await heldInReadSide(env.DB, env.DB, userId)).read_model).toBeNull();
  });

  it("the day's search-index merge runs in every read database", async () => {
    // Each write leaves a segment of the index; the merge rewrites a database's index into one.
    const segments = async (db: D1Database) =>
      (await db.prepare("SELECT count(DISTINCT segid) AS n FROM users_search_idx").first<{ n: number }>())!.n;
    for (const db of spread()) {
      for (let i = 0; i < 3; i++) {
        const id = `merge-${i}`;
        await db.batch(upsertUserRows(db, [readModelRow({ id, username: `zqxv${i}`, revision: i + 1 })]));
      }
      expect(await segments(db)).toBeGreaterThan(1);
    }
    await maybeMergeSearchIndex(spread(), Date.parse("2026-12-07T03:00:00Z"));
    for (const db of spread()) expect(await segments(db)).toBe(1);
  });
});

describe("as-of pages over several read databases", () => {
  const intervals = Array.from({ length: 90 }, (_, i) => ({
    userId: `asof-${String((i * 29) % 90).padStart(3, "0")}`,
    status: (["active", "suspended", "deleted"] as const)[i % 3],
    email: `Mail${i % 4}@example.com`,
    from: `2030-01-${String(1 + (i % 20)).padStart(2, "0")}T00:00:00.000Z`,
    to: i % 4 === 0 ? `2030-01-${String(21 + (i % 5)).padStart(2, "0")}T00:00:00.000Z` : null,
  }));

  beforeAll(async () => {
    const insert = (db: D1Database, row: (typeof intervals)[number]) =>
      db
        .prepare(
          `INSERT INTO user_intervals (user_id, revision, username, email, status, role, valid_from, valid_to)
           VALUES (?, 1, ?, ?, ?, 'user', ?, ?)`,
        )
        .bind(row.userId, `u-${row.userId}`, row.email, row.status, row.from, row.to);
    await env.DB.batch(intervals.map((row) => insert(env.DB, row)));
    for (const { db, items } of byReadDatabase(sharded, intervals, (row) => row.userId)) {
      await db.batch(items.map((row) => insert(db, row)));
    }
  });

  it("every page of every filter, walked by its cursor, is one database's", async () => {
    const filterSets: Omit<AsOfFilters, "limit" | "after">[] = [
      { asOf: "2030-01-10T00:00:00.000Z" },
      { asOf: "2030-01-22T12:00:00.000Z" },
      { asOf: "2030-01-22T12:00:00.000Z", status: "suspended" },
      { asOf: "2030-01-30T00:00:00.000Z", email: "MAIL1@example.com" },
    ];
    for (const filters of filterSets) {
      for (const limit of [1, 4, 100]) {
        let after: string | undefined;
        let pages = 0;
        do {
          const one = await queryAsOf(env.DB, { ...filters, limit, after });
          const three = await queryAsOf(spread(), { ...filters, limit, after });
          expect(three, JSON.stringify({ filters, limit, after })).toEqual(one);
          after = one.next ?? undefined;
          pages += 1;
        } while (after !== undefined);
        expect(pages).toBeGreaterThan(limit === 100 ? 0 : 1);
      }
    }
  });
});
