import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FIND_CALLER, findUserRow, findUserRowAs, upsertUserRows, type CallerRow } from "../../src/read/queries";
import { readModelRow } from "./fixtures";

/**
 * A get's one statement answers what the two it replaced answer: the user's row as `findUserRow`
 * reads it and the caller's as `FIND_CALLER` does (its row and its announced revision), whichever
 * of them exists, and the same row twice when the caller reads itself.
 */

const twoStatements = async (callerId: string, id: string) => ({
  caller: (await env.DB.prepare(FIND_CALLER).bind(callerId).first<CallerRow>()) ?? undefined,
  row: await findUserRow(env.DB, id),
});

describe("findUserRowAs in one database", () => {
  const caller = readModelRow({ id: "fua-caller", role: "admin", revision: 4, tokensValidFrom: 3 });
  const user = readModelRow({ id: "fua-user", status: "suspended", deletedAt: null, lastLoginAt: null });

  it("answers as the two statements it replaced, for each row present or missing", async () => {
    await env.DB.batch(upsertUserRows(env.DB, [caller, user]));
    await env.DB.prepare(
      "INSERT INTO streams (user_id, published_revision, confirmed_revision, owed_since) VALUES (?, 6, 4, 0)",
    )
      .bind(caller.id)
      .run();
    const cases: [string, string][] = [
      [caller.id, user.id],
      [caller.id, caller.id],
      [user.id, caller.id],
      ["fua-nobody", user.id],
      [caller.id, "fua-nobody"],
      ["fua-nobody", "fua-nobody"],
    ];
    for (const [callerId, id] of cases) {
      expect(await findUserRowAs(env.DB, callerId, id), `${callerId} reading ${id}`).toEqual(
        await twoStatements(callerId, id),
      );
    }
    const both = await findUserRowAs(env.DB, caller.id, user.id);
    expect(both.caller).toEqual({ status: "active", role: "admin", tokensValidFrom: 3, revision: 4, published: 6 });
    expect(both.row).toEqual(user);
  });
});
