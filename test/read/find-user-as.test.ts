import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  FIND_CALLER,
  callerOf,
  callerWith,
  findUserRow,
  findUserRowAs,
  upsertUserRows,
  type CallerRow,
} from "../../src/read/queries";
import { listUsers } from "../../src/read/user-list";
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

const caller = readModelRow({ id: "fua-caller", role: "admin", revision: 4, tokensValidFrom: 3 });
const user = readModelRow({ id: "fua-user", status: "suspended", deletedAt: null, lastLoginAt: null });

describe("findUserRowAs in one database", () => {
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

describe("callerWith: a list's count and its caller's row in one statement", () => {
  it("answers the caller's row as FIND_CALLER does, or none, beside the count", async () => {
    await env.DB.batch(upsertUserRows(env.DB, [caller, user]));
    for (const callerId of ["fua-caller", "fua-user", "fua-nobody"]) {
      const row = await callerWith(env.DB, callerId, { n: "SELECT count(*) FROM users WHERE id LIKE ?" }, [
        "fua-%",
      ]).first<Parameters<typeof callerOf>[0] & { n: number }>();
      expect(row?.n, callerId).toBe(2);
      expect(callerOf(row), callerId).toEqual(
        (await env.DB.prepare(FIND_CALLER).bind(callerId).first<CallerRow>()) ?? undefined,
      );
      // And so a list's caller, whichever page or search it asks.
      for (const filters of [{ page: 1 }, { page: 3 }, { page: 1, username: "fua" }]) {
        const list = await listUsers(env.DB, { pageSize: 2, ...filters }, callerId);
        expect(list.caller, `${callerId} ${JSON.stringify(filters)}`).toEqual(callerOf(row));
      }
    }
  });
});
