import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { upsertUserRows } from "../../src/read/queries";
import type { UserRow } from "../../src/read/schema";
import { isSearchIndexMergeRun, maybeMergeSearchIndex } from "../../src/read/search-index";
import { readModelRow } from "./fixtures";

function row(id: string, username: string, email: string, status: UserRow["status"], revision: number): UserRow {
  return readModelRow({ id, username, email, status, createdAt: "2025-03-01T00:00:00.000Z", revision });
}

/** Pages of the search index holding these bytes (a segment's first term is stored whole). */
async function pagesHolding(text: string): Promise<number> {
  const found = await env.DB.prepare(
    "SELECT count(*) AS n FROM users_search_data WHERE instr(block, CAST(? AS BLOB)) > 0",
  )
    .bind(text)
    .first<{ n: number }>();
  return found!.n;
}

const searchFinds = async (needle: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM users_search WHERE users_search MATCH ?")
    .bind(`"${needle}"`)
    .first<{ n: number }>())!.n;

describe("the search index after an erasure", () => {
  it("keeps the erased name's trigrams in its pages, unsearchable, until the day's merge drops them", async () => {
    const id = crypto.randomUUID();
    await env.DB.batch(upsertUserRows(env.DB, [row(id, "qjvzkwhistle", "qjvzk@example.com", "active", 1)]));
    expect(await searchFinds("qjvzkw")).toBe(1);
    await env.DB.batch(upsertUserRows(env.DB, [row(id, "[erased]", "[erased]", "erased", 2)]));

    expect(await searchFinds("qjvzkw")).toBe(0);
    expect(await pagesHolding("qjv")).toBeGreaterThan(0);

    // A cron run outside the merge's slot leaves the index alone; the day's run merges it.
    await maybeMergeSearchIndex([env.DB], Date.parse("2026-12-07T14:05:00Z"));
    expect(await pagesHolding("qjv")).toBeGreaterThan(0);
    await maybeMergeSearchIndex([env.DB], Date.parse("2026-12-07T03:00:00Z"));
    expect(await pagesHolding("qjv")).toBe(0);
    expect(await searchFinds("erased")).toBeGreaterThan(0);
  });

  it("the day's merge recounts the trigrams many users share, and only those", async () => {
    const rows = Array.from({ length: 40 }, (_, i) =>
      row(`count-${i}`, `wqpcommon${i}`, `wqp${i}@example.com`, i < 36 ? "active" : "deleted", 1),
    );
    await env.DB.batch(upsertUserRows(env.DB, rows));
    const counted = async (trigram: string) =>
      (
        await env.DB.prepare("SELECT docs FROM search_trigram_counts WHERE col = 'username' AND trigram = ?")
          .bind(trigram)
          .first<{ docs: number }>()
      )?.docs;
    expect(await counted("wqp")).toBeUndefined();
    await maybeMergeSearchIndex([env.DB], Date.parse("2026-12-07T03:00:00Z"));
    // Every status counts: a search filters by status after the index.
    expect(await counted("wqp")).toBe(40);
    expect(await counted("n12")).toBeUndefined();
  });

  it("merges once a day: only in the first five minutes of 03:00 UTC", () => {
    const runs = Array.from({ length: 288 }, (_, i) => Date.parse("2026-12-07T00:00:00Z") + i * 5 * 60_000);
    expect(runs.filter(isSearchIndexMergeRun).map((t) => new Date(t).toISOString())).toEqual([
      "2026-12-07T03:00:00.000Z",
    ]);
  });
});
