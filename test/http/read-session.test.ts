import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { readDatabases } from "../../src/shards";
import { adminSession, call, createUser } from "../support/api";
import { expectError } from "./helpers";

/** With several read databases a list reads them all and carries no bookmark (decision 0026). */
const oneDatabase = readDatabases(env).length === 1;

const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;

describe("queries read through a D1 session (x-d1-bookmark)", () => {
  let token: string;
  let userId: string;
  beforeAll(async () => {
    ({ token } = await adminSession());
    ({ id: userId } = await createUser(token));
  });

  it("answers a get with a bookmark, and a list with one when it reads one database", async () => {
    const get = await call("GET", `/v1/users/${userId}/?min_revision=1`, { token });
    expect(get.status).toBe(200);
    expect(get.headers.get("x-d1-bookmark")).toMatch(BOOKMARK);
    const list = await call("GET", "/v1/users/", { token });
    expect(list.status).toBe(200);
    if (oneDatabase) expect(list.headers.get("x-d1-bookmark")).toMatch(BOOKMARK);
    else expect(list.headers.get("x-d1-bookmark")).toBeNull();
  });

  it("accepts a bookmark it gave out and answers with one at least as recent", async () => {
    // A get reads one database in any layout: the user's.
    const path = `/v1/users/${userId}/?min_revision=1`;
    const first = (await call("GET", path, { token })).headers.get("x-d1-bookmark")!;
    await createUser(token); // the projection writes to D1 meanwhile
    const next = await call("GET", path, { token, headers: { "x-d1-bookmark": first } });
    expect(next.status).toBe(200);
    const bookmark = next.headers.get("x-d1-bookmark")!;
    expect(bookmark).toMatch(BOOKMARK);
    // Fixed-width hex groups: string order is bookmark order.
    expect(bookmark >= first).toBe(true);
  });

  it("hands the client's bookmark to D1", async () => {
    // Local D1 has no replicas; it keeps the highest bookmark a session has seen, so a bookmark
    // ahead of the database comes back unchanged only if the session was opened from it.
    const ahead = "0000ffff-00000000-00000000-00000000000000000000000000000000";
    await call("GET", `/v1/users/${userId}/?min_revision=1`, { token }); // projected by now
    const res = await call("GET", `/v1/users/${userId}/`, { token, headers: { "x-d1-bookmark": ahead } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-d1-bookmark")).toBe(ahead);
  });

  it("refuses a malformed bookmark with 400, after authentication", async () => {
    const bad = await call("GET", "/v1/users/", { token, headers: { "x-d1-bookmark": "garbage" } });
    expectError(bad, 400, { error: "Bad Request" });
    expect(bad.headers.get("x-d1-bookmark")).toBeNull();
    const anonymous = await call("GET", "/v1/users/", { headers: { "x-d1-bookmark": "garbage" } });
    expect(anonymous.status).toBe(401);
  });
});
