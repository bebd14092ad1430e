import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { upsertUserRows } from "../../src/read/queries";
import { listUsers } from "../../src/read/user-list";
import type { UserRow } from "../../src/read/schema";
import { readModelRow } from "./fixtures";

/** The per-status counts the triggers keep, and what counting the rows says. */
async function counts() {
  const kept = await env.DB.prepare("SELECT status, n FROM user_counts WHERE n <> 0 ORDER BY status").all();
  const actual = await env.DB.prepare("SELECT status, count(*) AS n FROM users GROUP BY status ORDER BY status").all();
  return { kept: kept.results, actual: actual.results };
}

function row(id: string, status: UserRow["status"], revision: number): UserRow {
  const at = `2025-01-01T00:00:${String(revision).padStart(2, "0")}.000Z`;
  return readModelRow({ id, username: `counted-${id}`, status, createdAt: at, revision });
}

describe("user_counts (kept by triggers on users)", () => {
  it("stays equal to counting the rows through inserts, guarded upserts, status changes and deletes", async () => {
    const [a, b, c] = ["count-a", "count-b", "count-c"];
    await env.DB.batch(upsertUserRows(env.DB, [row(a, "active", 1), row(b, "active", 1), row(c, "active", 1)]));
    await env.DB.batch(upsertUserRows(env.DB, [row(a, "deleted", 2), row(b, "suspended", 2)]));
    // A stale upsert is refused by the revision guard: no status change, no count change.
    await env.DB.batch(upsertUserRows(env.DB, [row(a, "active", 1)]));
    await env.DB.prepare("UPDATE users SET updated_at = 'x' WHERE id = ?").bind(c).run(); // not a status change
    await env.DB.prepare("DELETE FROM users WHERE id = ?").bind(b).run(); // a ghost removed by a rebuild
    const { kept, actual } = await counts();
    expect(kept).toEqual(actual);
    expect(actual).toEqual([
      { status: "active", n: 1 },
      { status: "deleted", n: 1 },
    ]);
  });

  it("gives an unfiltered list its count, and a filtered one counts matching rows", async () => {
    await env.DB.batch(upsertUserRows(env.DB, [row("count-d", "active", 1), row("count-e", "suspended", 1)]));
    const live = (await counts()).actual
      .filter((r) => r.status === "active" || r.status === "suspended")
      .reduce((n, r) => n + Number(r.n), 0);
    expect((await listUsers(env.DB, { page: 1, pageSize: 1 }, "nobody")).count).toBe(live);
    expect((await listUsers(env.DB, { page: 1, pageSize: 1, username: "counted-count-e" }, "nobody")).count).toBe(1);
  });
});
