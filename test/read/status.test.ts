import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { projectionStatus } from "../../src/read/projection-status";

/** `env` whose D1 adds up the rows each batch read (D1 reports `rows_read` per statement). */
function countingEnv(): { env: Env; rowsRead: () => number } {
  let read = 0;
  const db = new Proxy(env.DB, {
    get(target, key) {
      if (key === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const results = await target.batch(statements);
          for (const result of results) read += result.meta.rows_read ?? 0;
          return results;
        };
      }
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { env: { ...env, DB: db } as Env, rowsRead: () => read };
}

async function statusCost(): Promise<{ rows: number; status: Awaited<ReturnType<typeof projectionStatus>> }> {
  const counting = countingEnv();
  const status = await projectionStatus(counting.env);
  return { rows: counting.rowsRead(), status };
}

/** `n` users fully projected and confirmed: rows in `users`, audit checkpoints and the ledger. */
async function seedSettledUsers(prefix: string, n: number): Promise<void> {
  const ids = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n}) SELECT '${prefix}-' || x AS id FROM c`;
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO users (id, username, email, first_name, last_name, role, status, created_at, updated_at, revision)
       SELECT id, id, id || '@example.com', 'F', 'L', 'user', 'active', '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', 3 FROM (${ids})`,
    ),
    env.DB.prepare(
      `INSERT INTO checkpoints (projection, user_id, revision, state) SELECT 'audit', id, 3, '{}' FROM (${ids})`,
    ),
    env.DB.prepare(
      `INSERT INTO streams (user_id, published_revision, confirmed_revision, owed_since) SELECT id, 3, 3, 0 FROM (${ids})`,
    ),
  ]);
}

describe("the projection status", () => {
  it("reads only what is owed: the same rows with 100 users as with 20,100", async () => {
    const owedSince = Date.now() - 7_000;
    await env.DB.batch([
      env.DB.prepare("INSERT INTO streams VALUES ('owed-a', 4, 2, ?), ('owed-b', 9, 0, ?)").bind(
        owedSince,
        owedSince + 1,
      ),
      env.DB.prepare("INSERT INTO checkpoints VALUES ('audit', 'owed-a', 4, '{}')"),
    ]);
    await seedSettledUsers("few", 100);
    const few = await statusCost();

    await seedSettledUsers("many", 20_000);
    const many = await statusCost();

    // D1 counts every row a query reads: the owed streams, their checkpoints, the heads, the letters.
    expect(few.rows).toBeGreaterThan(0);
    expect(many.rows).toBe(few.rows);
    expect(many.status).toMatchObject({ users_behind: 2, outbox: { backlog: 11, users: 2 } });
    const [users, audit] = many.status.projections;
    expect(users).toMatchObject({ name: "users", users_behind: 2 });
    expect(audit).toMatchObject({ name: "audit", users_behind: 1 });
    expect(users!.oldest_owed_age_ms).toBeGreaterThanOrEqual(7_000);
  });

  it("counts owed streams through the partial index, never by scanning users", async () => {
    const plan = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM streams WHERE confirmed_revision < published_revision",
    ).all<{ detail: string }>();
    expect(plan.results.map((row) => row.detail).join("\n")).toMatch(/USING (COVERING )?INDEX streams_owed/);
  });
});
