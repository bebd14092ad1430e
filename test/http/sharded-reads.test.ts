import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { upsertUserRows } from "../../src/read/queries";
import { readDatabaseOf } from "../../src/shards";
import { readModelRow } from "../read/fixtures";
import { shardedEnv } from "../support/shards";
import { adminSession } from "../support/api";

/**
 * The query routes over four read databases (docs/decisions/0026, "Reads"): a get answers from its
 * user's database with that database's bookmark, while the caller's row (its token's check) comes
 * from the caller's; a list and an as-of page merge every database and carry no bookmark, since a
 * bookmark names one database.
 */

const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;
const sharded = shardedEnv();

/** What these tests read of a get, a list and an as-of page. */
interface Answer {
  user: { id: string };
  results: { id: string }[];
  count: number;
}

async function get(path: string, token: string, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://localhost${path}`, { headers: { Authorization: `Bearer ${token}`, ...headers } }),
    sharded,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, bookmark: res.headers.get("x-d1-bookmark"), body: (await res.json()) as Answer };
}

// One user per database, written there as the sharded projector would.
const databases = [env.DB, env.TEST_SHARD_1, env.TEST_SHARD_2, env.TEST_SHARD_3];
const ids = databases.map((db, i) => {
  for (let n = 0; ; n++) {
    const id = `0000000${i}-0000-4000-8000-${String(n).padStart(12, "0")}`;
    if (readDatabaseOf(sharded, id) === db) return id;
  }
});
let token: string;

/** Live users over every database, as counted by hand. */
async function liveUsers(): Promise<number> {
  let n = 0;
  for (const db of databases) {
    n += (await db.prepare("SELECT count(*) AS n FROM users WHERE status IN ('active', 'suspended')").first<{
      n: number;
    }>())!.n;
  }
  return n;
}

beforeAll(async () => {
  // A real admin (its object confirms its token when its row is not in its read database).
  ({ token } = await adminSession());
  const rows = ids.map((id, i) => readModelRow({ id, createdAt: `2020-01-0${i + 1}T00:00:00.000Z` }));
  for (const row of rows) {
    const db = readDatabaseOf(sharded, row.id);
    await db.batch(upsertUserRows(db, [row]));
    await db
      .prepare(
        `INSERT INTO user_intervals (user_id, revision, username, email, status, role, valid_from, valid_to)
         VALUES (?, 1, ?, ?, 'active', ?, ?, NULL)`,
      )
      .bind(row.id, row.username, row.email, row.role, row.createdAt)
      .run();
  }
});

describe("query routes over several read databases", () => {
  it("a get of a user in another database than the caller's answers with the user's database's bookmark", async () => {
    for (const id of ids) {
      const res = await get(`/v1/users/${id}/`, token);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.user.id).toBe(id);
      expect(res.bookmark).toMatch(BOOKMARK);
    }
    // Local D1 keeps a bookmark ahead of the database: it comes back only if the user's session began from it.
    const ahead = "0000ffff-00000000-00000000-00000000000000000000000000000000";
    const res = await get(`/v1/users/${ids[2]}/`, token, { "x-d1-bookmark": ahead });
    expect(res.status).toBe(200);
    expect(res.bookmark).toBe(ahead);
  });

  it("a list merges every database in creation order, counts them all, and carries no bookmark", async () => {
    const all = await get("/v1/users/?page_size=4", token);
    expect(all.status).toBe(200);
    expect(all.body.results.map((u) => u.id)).toEqual(ids);
    expect(all.body.count).toBe(await liveUsers());
    expect(all.bookmark).toBeNull();
    const second = await get("/v1/users/?page=2&page_size=2", token, {
      "x-d1-bookmark": "0000ffff-00000000-00000000-00000000000000000000000000000000",
    });
    expect(second.body.results.map((u) => u.id)).toEqual(ids.slice(2, 4));
    expect(second.bookmark).toBeNull();
    expect((await get("/v1/users/", token, { "x-d1-bookmark": "garbage" })).status).toBe(400);
  });

  it("an as-of page merges every database's intervals in user id order", async () => {
    const res = await get("/admin/users/?as_of=2021-01-01T00:00:00Z", token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.results.map((u) => u.id)).toEqual([...ids].sort());
    expect(res.bookmark).toBeNull();
  });
});
