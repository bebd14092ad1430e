import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bulk, JSON_IDS } from "../../src/read/bulk";
import { upsertUserRows } from "../../src/read/queries";
import { projectUser } from "../../src/read/user-projection";
import { userCreated, userEvent } from "../support/builders";

function rowsOf(n: number, prefix: string) {
  return Array.from({ length: n }, (_, i) => projectUser(null, userCreated(`${prefix}-${i}`, `${prefix}${i}`))!);
}

async function stored(ids: string[]) {
  const result = await env.DB.prepare(`SELECT id, first_name AS firstName, revision FROM users WHERE id IN ${JSON_IDS}`)
    .bind(JSON.stringify(ids))
    .all<{ id: string; firstName: string; revision: number }>();
  return result.results;
}

describe("bulk statements (rows as one JSON value, past D1's 100 bound parameters)", () => {
  it("one statement upserts 500 users, each moving only forward", async () => {
    const rows = rowsOf(500, "bulk");
    const statements = upsertUserRows(env.DB, rows);
    expect(statements).toHaveLength(1);
    await env.DB.batch(statements);
    expect(await stored(rows.map((r) => r.id))).toHaveLength(500);

    // A newer row wins; an older one changes nothing.
    const renamed = projectUser(rows[0]!, userEvent(rows[0]!.id, 2, "USER_UPDATED", { first_name: "Newer" }))!;
    const stale = { ...rows[1]!, firstName: "Stale", revision: 0 };
    await env.DB.batch(upsertUserRows(env.DB, [renamed, stale]));
    const [first, second] = await stored([rows[0]!.id, rows[1]!.id]).then((found) =>
      [rows[0]!.id, rows[1]!.id].map((id) => found.find((r) => r.id === id)),
    );
    expect(first).toMatchObject({ firstName: "Newer", revision: 2 });
    expect(second).toMatchObject({ firstName: rows[1]!.firstName, revision: 1 });
  });

  it("cuts the JSON into chunks well under D1's 2 MB per value", () => {
    const rows = Array.from({ length: 1_000 }, (_, i) => ({ i, padding: "x".repeat(1_000) }));
    const statements = bulk(env.DB, `SELECT count(*) FROM json_each(?1)`, rows);
    expect(statements.length).toBeGreaterThanOrEqual(3);
    expect(bulk(env.DB, `SELECT 1 FROM json_each(?1)`, [])).toEqual([]);
  });
});
