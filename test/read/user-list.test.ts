import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { upsertUserRows, type D1Reader } from "../../src/read/queries";
import type { UserRow } from "../../src/read/schema";
import { rarestTrigramsMatch } from "../../src/read/rarest-trigrams";
import { countTrigramsStatements } from "../../src/read/search-index";
import { listUsers, type ListFilters, type StatusFilter } from "../../src/read/user-list";
import { readModelRow } from "./fixtures";

const STATUS_SETS: Record<StatusFilter, UserRow["status"][]> = {
  live: ["active", "suspended"],
  active: ["active"],
  suspended: ["suspended"],
  deleted: ["deleted", "erased"],
  all: ["active", "suspended", "deleted", "erased"],
};
const STATUSES: UserRow["status"][] = ["active", "active", "active", "suspended", "deleted", "erased"];
const TOTAL = 240;

/**
 * Rows spread over two years and months, days, hours and minutes, with runs of equal
 * `created_at` (ties go by id) and a few created in the same minute, in a shuffled insertion order.
 */
function seedRows(): UserRow[] {
  const rows: UserRow[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const base = Date.UTC(2024, 11, 29, 22, 58) + Math.floor(i / 3) * (i % 7 === 0 ? 20_000 : 3_700_000 + i * 997);
    const at = new Date(base).toISOString();
    const status = STATUSES[(i * 7) % STATUSES.length] ?? "active";
    const id = `list-${String((i * 37) % TOTAL).padStart(4, "0")}`;
    rows.push(
      readModelRow({
        id,
        username: status === "erased" ? "[erased]" : `Lister${i}`,
        email: status === "erased" ? "[erased]" : `lister.${i}@Example.com`,
        status,
        createdAt: at,
      }),
    );
  }
  return rows.sort((a, b) => ((a.id.charCodeAt(6) * 31) % 7) - ((b.id.charCodeAt(6) * 31) % 7));
}

/** What OFFSET paging over every row answers: the reference the indexed paths must equal. */
async function reference(status: StatusFilter, like: Partial<Record<"username" | "email", string>> = {}) {
  const statuses = STATUS_SETS[status];
  const where = [`status IN (${statuses.map(() => "?").join(", ")})`, "id LIKE 'list-%'"];
  const params: string[] = [...statuses];
  for (const [column, needle] of Object.entries(like)) {
    where.push(`${column} LIKE ? ESCAPE '\\'`);
    params.push(`%${needle.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`);
  }
  const { results } = await env.DB.prepare(`SELECT id FROM users WHERE ${where.join(" AND ")} ORDER BY created_at, id`)
    .bind(...params)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** The list restricted to this file's rows (other files' users may share the database). */
async function ids(filters: ListFilters) {
  const { rows, count, next } = await listUsers(env.DB, filters, "nobody");
  return { ids: rows.map((r) => r.id).filter((id) => id.startsWith("list-")), rows, count, next };
}

const SEARCHES: [StatusFilter, Partial<Record<"username" | "email", string>>][] = [
  ["live", { username: "lister1" }],
  ["live", { username: "ISTER2" }],
  ["all", { email: "@example.COM" }],
  ["deleted", { email: "r.1" }],
  ["live", { username: "r1", email: "example" }],
  ["all", { username: "1" }],
  ["all", { username: "[erased]" }],
  ["live", { username: 'a"b' }],
  ["live", { email: "%" }],
  ["all", { username: "nobody-has-this" }],
];

/** Every page of each search holds what `reference` (LIKE over every row) finds, and counts it. */
async function expectSearchesAsLike(cases = SEARCHES) {
  for (const [status, needles] of cases) {
    const expected = await reference(status, needles);
    const pageSize = 4;
    const all: string[] = [];
    for (let page = 1; page <= Math.ceil(expected.length / pageSize) + 1; page++) {
      const got = await ids({ page, pageSize, status, ...needles });
      expect(got.count, JSON.stringify(needles)).toBe(expected.length);
      all.push(...got.ids);
    }
    expect(all, JSON.stringify(needles)).toEqual(expected);
  }
}

/** A D1 that records what it is asked to prepare, so the plans of the very statements can be read. */
function recording(): { db: D1Reader; statements: { sql: string; params: unknown[] }[] } {
  const statements: { sql: string; params: unknown[] }[] = [];
  const db: D1Reader = {
    prepare: (sql: string) => {
      const entry = { sql, params: [] as unknown[] };
      statements.push(entry);
      const statement = env.DB.prepare(sql);
      return Object.assign(Object.create(statement) as D1PreparedStatement, {
        bind: (...params: unknown[]) => {
          entry.params = params;
          return statement.bind(...params);
        },
      });
    },
    batch: (statements) => env.DB.batch(statements),
  };
  return { db, statements };
}

/** A D1 that counts its round trips: each batch, and each statement run on its own. */
function roundTrips(): { db: D1Reader; trips: () => number } {
  let trips = 0;
  const targets = new WeakMap<object, D1PreparedStatement>();
  const counted = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        if (key === "bind") return (...params: unknown[]) => counted(target.bind(...params));
        if (key === "first" || key === "all" || key === "run" || key === "raw") trips++;
        return (value as (...args: unknown[]) => unknown).bind(target);
      },
    });
    targets.set(proxy, statement);
    return proxy;
  };
  const db: D1Reader = {
    prepare: (sql: string) => counted(env.DB.prepare(sql)),
    batch: (statements) => {
      trips++;
      return env.DB.batch(statements.map((statement) => targets.get(statement) ?? statement));
    },
  };
  return { db, trips: () => trips };
}

async function plansOf(filters: ListFilters) {
  const { db, statements } = recording();
  await listUsers(db, filters, "nobody");
  const plans: string[] = [];
  for (const { sql, params } of statements) {
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .bind(...params)
      .all<{ detail: string }>();
    plans.push(results.map((r) => r.detail).join("; "));
  }
  return plans;
}

beforeAll(async () => {
  const rows = seedRows();
  for (let i = 0; i < rows.length; i += 50) await env.DB.batch(upsertUserRows(env.DB, rows.slice(i, i + 50)));
});

describe("listUsers: pages without OFFSET over every row", () => {
  it("page N of every status filter is OFFSET's page N, and the cursor walk gives the same sequence", async () => {
    // Only this file's rows are in the database for this test file, so whole pages compare.
    for (const status of Object.keys(STATUS_SETS) as StatusFilter[]) {
      const expected = await reference(status);
      for (const pageSize of [3, 10, 25]) {
        const pages = Math.ceil(expected.length / pageSize) + 1;
        const byPage: string[] = [];
        for (let page = 1; page <= pages; page++) {
          const got = await ids({ page, pageSize, status });
          expect(got.count).toBe(expected.length);
          expect(got.ids).toEqual(expected.slice((page - 1) * pageSize, page * pageSize));
          byPage.push(...got.ids);
        }
        expect(byPage).toEqual(expected);

        const byCursor: string[] = [];
        let after: ListFilters["after"];
        for (let page = 1; page <= pages; page++) {
          const got = await ids({ page, pageSize, status, after });
          byCursor.push(...got.ids);
          if (!got.next) break;
          after = got.next;
        }
        expect(byCursor).toEqual(expected);
      }
    }
  });

  it("any page of one database is one D1 round trip, past the end of the list too", async () => {
    const expected = await reference("live");
    for (const page of [1, 2, 9, Math.ceil(expected.length / 10) + 3]) {
      const { db, trips } = roundTrips();
      const got = await listUsers(db, { page, pageSize: 10 }, "nobody");
      expect(trips(), `page ${page}`).toBe(1);
      expect(got.rows.map((r) => r.id).filter((id) => id.startsWith("list-"))).toEqual(
        expected.slice((page - 1) * 10, page * 10),
      );
    }
  });

  it("no statement of a list binds its LIMIT or OFFSET bare, which SQLite would prepare again on every run", async () => {
    // Same rows and plans either way: only the time of preparing shows it (a deep page's statement
    // 2.5 ms instead of 0.2, docs/decisions/0025), so the statements' text is what is checked.
    const bare = /\b(LIMIT|OFFSET)\s+\?\d*(?!\d|\s*\+)/;
    const asked: ListFilters[] = [
      { page: 1, pageSize: 10 },
      { page: 4, pageSize: 10, status: "all" },
      { page: 1, pageSize: 10, after: { createdAt: "2026-01-01T00:00:00.000Z", id: "list-0001" } },
      { page: 2, pageSize: 5, username: "list" },
      { page: 1, pageSize: 5, email: "li" },
    ];
    for (const filters of asked) {
      const { db, statements } = recording();
      await listUsers(db, filters, "nobody");
      expect(statements.length, JSON.stringify(filters)).toBeGreaterThan(0);
      for (const { sql } of statements) expect(sql, JSON.stringify(filters)).not.toMatch(bare);
    }
  });

  it("user_blocks stays equal to counting the rows by period through status and time changes and deletes", async () => {
    await env.DB.prepare("UPDATE users SET status = 'deleted' WHERE id = 'list-0003'").run();
    await env.DB.prepare("UPDATE users SET created_at = '2023-03-03T03:03:03.000Z' WHERE id = 'list-0004'").run();
    await env.DB.prepare("DELETE FROM users WHERE id = 'list-0005'").run();
    for (const size of [7, 10, 13, 16]) {
      const kept = await env.DB.prepare(
        "SELECT status, block, n FROM user_blocks WHERE size = ? AND n <> 0 ORDER BY status, block",
      )
        .bind(size)
        .all();
      const actual = await env.DB.prepare(
        "SELECT status, substr(created_at, 1, ?1) AS block, count(*) AS n FROM users GROUP BY 1, 2 ORDER BY 1, 2",
      )
        .bind(size)
        .all();
      expect(kept.results).toEqual(actual.results);
    }
    const expected = await reference("all");
    expect((await ids({ page: 3, pageSize: 10, status: "all" })).ids).toEqual(expected.slice(20, 30));
  });

  it("a search by substring finds what LIKE finds, in any case, with or without the index's trigrams", async () => {
    await expectSearchesAsLike();
  });

  it("after the day's recount a search asks the index for its needle's rarest trigrams, and still finds what LIKE finds", async () => {
    const askedFor = async (needle: string) => {
      const match = rarestTrigramsMatch([["username", needle]]);
      return (await env.DB.prepare(`SELECT ${match.sql} AS q`)
        .bind(...match.params)
        .first<{ q: string }>())!.q;
    };
    // Before any recount (a new database): the whole needle, one phrase.
    expect(await askedFor("Lister12")).toBe('username : "Lister12"');

    await env.DB.batch(countTrigramsStatements(env.DB));
    const counted = await env.DB.prepare("SELECT trigram, docs FROM search_trigram_counts WHERE col = 'username'").all<{
      trigram: string;
      docs: number;
    }>();
    const docs = new Map(counted.results.map((row) => [row.trigram, row.docs]));
    // `lis` is in every live or deleted lister's name; `r12` in 11 names, too few to be counted.
    expect(docs.get("lis")).toBe(await reference("all", { username: "lis" }).then((found) => found.length));
    expect(docs.has("r12")).toBe(false);
    // The uncounted trigram, then the rarest counted ones: three, not the six of the needle.
    const phrases = (await askedFor("Lister12")).split(" AND ");
    expect(phrases).toHaveLength(3);
    expect(phrases[0]).toBe('username : "r12"');
    expect(phrases).toContain('username : "er1"');
    // A needle of counted trigrams only, a long one, one with a quote: found as LIKE finds them.
    await expectSearchesAsLike([
      ["all", { username: "lister" }],
      ["live", { email: "LISTER.12@EXAMPLE.COM" }],
      ["all", { email: "ister.1" + "0".repeat(40) }],
      ["live", { username: "ter2", email: 'a"b' }],
    ]);
    await env.DB.prepare("DELETE FROM search_trigram_counts").run();
  });

  it("the index's candidates are checked for the needle; a needle that is not ASCII keeps the index's case folding", async () => {
    const rows = [
      readModelRow({ id: "search-elodie", username: "Élodie", email: "élodie@exämple.org" }),
      // Holds the trigram of `zzzz` (`zzz`), not `zzzz`.
      readModelRow({ id: "search-zzz", username: "zzz.zzz", email: "zzz@example.org" }),
    ];
    await env.DB.batch(upsertUserRows(env.DB, rows));
    const found = async (filters: Partial<ListFilters>) =>
      (await listUsers(env.DB, { page: 1, pageSize: 10, ...filters }, "nobody")).rows.map((r) => r.id);
    for (const recounted of [false, true]) {
      if (recounted) await env.DB.batch(countTrigramsStatements(env.DB));
      const label = `recounted: ${recounted}`;
      expect(await found({ username: "éLODIE" }), label).toEqual(["search-elodie"]);
      expect(await found({ email: "EXÄMPLE.ORG" }), label).toEqual(["search-elodie"]);
      expect(await found({ username: "lodie" }), label).toEqual(["search-elodie"]);
      expect(await found({ username: "ZZZZ" }), label).toEqual([]);
      expect(await found({ username: "ZZZ.Z" }), label).toEqual(["search-zzz"]);
    }
    await env.DB.prepare("DELETE FROM search_trigram_counts").run();
    await env.DB.prepare("DELETE FROM users WHERE id IN ('search-elodie', 'search-zzz')").run();
  });

  it("a changed or erased username and email are no longer found by their old values; a deleted row not at all", async () => {
    const row = (await env.DB.prepare("SELECT * FROM users WHERE username = 'Lister10'").first<{ id: string }>())!;
    expect((await ids({ page: 1, pageSize: 10, status: "all", username: "Lister10" })).ids).toContain(row.id);
    await env.DB.prepare("UPDATE users SET username = '[erased]', email = '[erased]', status = 'erased' WHERE id = ?")
      .bind(row.id)
      .run();
    expect((await ids({ page: 1, pageSize: 10, status: "all", username: "Lister10" })).ids).not.toContain(row.id);
    expect((await ids({ page: 1, pageSize: 10, status: "all", email: "lister.10@" })).ids).toEqual([]);
    expect((await ids({ page: 1, pageSize: 100, status: "deleted", username: "[erased]" })).ids).toContain(row.id);
    await env.DB.prepare("DELETE FROM users WHERE id = ?").bind(row.id).run();
    const { n } = (await env.DB.prepare(
      "SELECT count(*) AS n FROM users_search WHERE users_search MATCH 'username : \"[erased]\"'",
    ).first<{ n: number }>())!;
    const erased = await reference("all", { username: "[erased]" });
    expect(n).toBe(erased.length);
  });

  it("a replay or rebuild writing the rows again (guarded upserts, a newer revision, a removed ghost) leaves one index entry per row", async () => {
    const rows = seedRows().filter((row) => row.status === "active");
    const again = rows.map((row) => ({ ...row, email: `again.${row.email}`, revision: row.revision + 1 }));
    for (let i = 0; i < again.length; i += 50) {
      await env.DB.batch(upsertUserRows(env.DB, again.slice(i, i + 50)));
      await env.DB.batch(upsertUserRows(env.DB, again.slice(i, i + 50))); // a duplicate delivery
    }
    const indexed = async (match: string) =>
      (await env.DB.prepare("SELECT count(*) AS n FROM users_search WHERE users_search MATCH ?")
        .bind(match)
        .first<{ n: number }>())!.n;
    const stored = async (like: string) =>
      (await env.DB.prepare("SELECT count(*) AS n FROM users WHERE email LIKE ?").bind(like).first<{ n: number }>())!.n;
    expect(await indexed('email : "again.lister."')).toBe(await stored("again.lister.%"));
    expect(await indexed('email : "again.lister."')).toBeGreaterThan(0);
    expect(await indexed('username : "lister"')).toBe(
      (await env.DB.prepare("SELECT count(*) AS n FROM users WHERE username LIKE '%lister%'").first<{ n: number }>())!
        .n,
    );
  });

  it("EXPLAIN QUERY PLAN: page 1, a deep page and a cursor page walk the index per status and merge; a search reads the trigram index", async () => {
    const list = (plans: string[]) => plans.find((plan) => plan.includes("MATERIALIZE page")) ?? "";
    for (const filters of [
      { page: 1, pageSize: 10 },
      { page: 9, pageSize: 10 },
      { page: 2, pageSize: 10, after: { createdAt: "2025-01-01T00:00:00.000Z", id: "x" } },
      { page: 2, pageSize: 10, status: "active" as const },
    ]) {
      const plan = list(await plansOf(filters));
      expect(plan).toContain("USING COVERING INDEX users_listing (status=?");
      expect(plan).not.toMatch(/SCAN users\b(?! USING)/);
      expect(plan).not.toContain("SCAN user_blocks");
      // Past the walk of the index, only the page's own rows are sorted (at most page_size + 1).
      expect(plan.slice(plan.lastIndexOf("users_listing")).match(/TEMP B-TREE/g) ?? []).toHaveLength(1);
      if ((filters.status ?? "live") === "live") expect(plan).toContain("MERGE (UNION ALL)");
    }
    // A deep page walks `user_blocks` down to its minute and reads from there, in one statement.
    const [deep] = await plansOf({ page: 9, pageSize: 10 });
    expect(deep).toContain("SEARCH user_blocks USING INDEX sqlite_autoindex_user_blocks_1 (size=? AND status=?");
    expect(deep).not.toContain("SCAN user_blocks");
    expect(deep).toContain("(status=? AND created_at>?)");

    const [search, count] = await plansOf({ page: 3, pageSize: 10, username: "lister1", email: "example" });
    for (const plan of [search, count]) {
      expect(plan).toContain("VIRTUAL TABLE INDEX");
      expect(plan).toContain("users USING INTEGER PRIMARY KEY (rowid=?)");
      expect(plan).not.toMatch(/SCAN users\b(?! USING)/);
    }
  });
});
