import { beforeAll, describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { PASSWORD } from "../support/builders";
import { craftToken, expectError, nowSeconds } from "./helpers";
import { readDb } from "../support/shards";

/**
 * Get and list check the caller's token against the caller's row in the read model, in the same D1
 * batch as their query, instead of asking the caller's object: a revocation reaches them once it is
 * projected (or once the object has announced it to the ledger). Commands still ask the object.
 */

const REFUSED = { error: "HTTP Error", message: "User not found", type: "HTTPException" };

let admin: { id: string; token: string };

beforeAll(async () => {
  admin = await adminSession();
});

async function userSession() {
  const user = await createUser(admin.token);
  const token = await login(user.username);
  // The login is revision 2: once it is projected, the row speaks for the caller.
  await projectedTo(user.id, 2);
  return { ...user, token };
}

async function row(id: string) {
  return readDb(id)
    .prepare("SELECT revision, tokens_valid_from AS tokensValidFrom FROM users WHERE id = ?")
    .bind(id)
    .first<{ revision: number; tokensValidFrom: number | null }>();
}

function projectedTo(id: string, revision: number) {
  return vi.waitUntil(async () => ((await row(id))?.revision ?? 0) >= revision, { timeout: 5_000, interval: 10 });
}

/** Overwrites the caller's row (as a lagging or old read model would hold it). */
async function setRow(id: string, columns: string) {
  await readDb(id).prepare(`UPDATE users SET ${columns} WHERE id = ?`).bind(id).run();
}

const reads = (id: string) => [`/v1/users/`, `/v1/users/${id}/`];

describe("reads check the token against the read model", () => {
  it("a suspended user's old token is refused on get and list once the suspension is projected", async () => {
    const me = await userSession();
    for (const path of reads(admin.id)) expect((await call("GET", path, { token: me.token })).status).toBe(200);
    expect((await call("POST", `/v1/users/${me.id}/suspend/`, { token: admin.token })).status).toBe(200);
    await projectedTo(me.id, 3);
    expect((await row(me.id))?.tokensValidFrom).toBe(3);
    for (const path of reads(admin.id)) expectError(await call("GET", path, { token: me.token }), 401, REFUSED);
    // Reactivated, the old token stays dead; a new login reads again.
    expect((await call("POST", `/v1/users/${me.id}/reactivate/`, { token: admin.token })).status).toBe(200);
    await projectedTo(me.id, 4);
    for (const path of reads(admin.id)) expectError(await call("GET", path, { token: me.token }), 401, REFUSED);
    const fresh = await login(me.username);
    for (const path of reads(admin.id)) expect((await call("GET", path, { token: fresh })).status).toBe(200);
  });

  it("a password change refuses the old token on commands at once, on reads once projected", async () => {
    const me = await userSession();
    const change = { current_password: PASSWORD, new_password: "another-password-1" };
    expect((await call("PUT", `/v1/users/${me.id}/password/`, { token: me.token, body: change })).status).toBe(200);
    // The command goes to the object, which refuses the token from its own state, projected or not.
    const update = await call("PUT", `/v1/users/${me.id}/`, { token: me.token, body: { first_name: "Old" } });
    expectError(update, 401, REFUSED);
    await projectedTo(me.id, 3);
    for (const path of reads(me.id)) expectError(await call("GET", path, { token: me.token }), 401, REFUSED);
    const fresh = await login(me.username, change.new_password);
    for (const path of reads(me.id)) expect((await call("GET", path, { token: fresh })).status).toBe(200);
  });

  it("the read model decides, not the caller's object: a row that refuses the token refuses the read", async () => {
    const me = await userSession();
    await setRow(me.id, "tokens_valid_from = 1000");
    for (const path of reads(admin.id)) expectError(await call("GET", path, { token: me.token }), 401, REFUSED);
    await setRow(me.id, "tokens_valid_from = 0, status = 'suspended'");
    for (const path of reads(admin.id)) expectError(await call("GET", path, { token: me.token }), 401, REFUSED);
  });

  it("a role other than the token's is the object's: a signed token claiming admin lists no deleted users", async () => {
    const me = await userSession();
    const forged = await craftToken({
      user_id: me.id,
      username: me.username,
      role: "admin",
      exp: nowSeconds() + 600,
      rev: 2,
    });
    const res = await call("GET", "/v1/users/?status=deleted", { token: forged });
    expectError(res, 403, { message: "Insufficient permissions. Admin role required." });
    expect((await call("GET", "/v1/users/", { token: forged })).status).toBe(200);
  });

  it("a new user reads at once: with no row yet, its object answers for the token", async () => {
    const me = await userSession();
    await readDb(me.id).prepare("DELETE FROM users WHERE id = ?").bind(me.id).run();
    for (const path of reads(admin.id)) expect((await call("GET", path, { token: me.token })).status).toBe(200);
  });

  it("a row behind what its object announced, or from before tokens_valid_from existed, leaves the token to the object", async () => {
    const me = await userSession();
    const { revision } = (await row(me.id))!;
    await setRow(me.id, "tokens_valid_from = 1000");
    await readDb(me.id)
      .prepare("UPDATE streams SET published_revision = ? WHERE user_id = ?")
      .bind(revision + 1, me.id)
      .run();
    for (const path of reads(admin.id)) expect((await call("GET", path, { token: me.token })).status).toBe(200);
    await setRow(me.id, "tokens_valid_from = NULL, status = 'suspended'");
    await readDb(me.id)
      .prepare("UPDATE streams SET published_revision = ? WHERE user_id = ?")
      .bind(revision, me.id)
      .run();
    for (const path of reads(admin.id)) expect((await call("GET", path, { token: me.token })).status).toBe(200);
  });
});

describe("the check order holds when the route checks the token itself", () => {
  it("a refused token gets 401 before a 422, a 403 or a 400 the route decides before its I/O", async () => {
    const me = await userSession();
    await setRow(me.id, "tokens_valid_from = 1000");
    expect((await call("POST", `/v1/users/${me.id}/suspend/`, { token: admin.token })).status).toBe(200);
    const cases = [
      call("GET", "/v1/users/?page_size=0", { token: me.token }),
      call("GET", "/v1/users/?status=all", { token: me.token }),
      call("GET", "/v1/users/not-a-uuid/", { token: me.token }),
      call("PUT", `/v1/users/${me.id}/`, { token: me.token, body: { email: "nope" } }),
      call("PUT", `/v1/users/${admin.id}/`, { token: me.token, body: { first_name: "X" } }),
      call("DELETE", `/v1/users/${me.id}/`, { token: me.token }),
      call("PUT", `/v1/users/${me.id}/`, { token: me.token, body: { first_name: "X" }, headers: { "If-Match": "x" } }),
    ];
    for (const res of await Promise.all(cases)) expectError(res, 401, REFUSED);
  });

  it("an accepted token still gets its 422, 403 and 400", async () => {
    const me = await userSession();
    expectError(await call("GET", "/v1/users/?page_size=0", { token: me.token }), 422, {});
    expectError(await call("GET", "/v1/users/?status=all", { token: me.token }), 403, {});
    expectError(await call("DELETE", `/v1/users/${me.id}/`, { token: me.token }), 403, {});
    const body = { first_name: "X" };
    expectError(
      await call("PUT", `/v1/users/${me.id}/`, { token: me.token, body, headers: { "If-Match": "x" } }),
      400,
      {},
    );
  });
});

describe("a user's own history and events: its object checks the token in the same call", () => {
  const own = (id: string) => [`/v1/users/${id}/history/?revision=1`, `/v1/users/${id}/events/`];

  it("a password change refuses the old token at once, projected or not; the new one reads", async () => {
    const me = await userSession();
    for (const path of own(me.id)) expect((await call("GET", path, { token: me.token })).status).toBe(200);
    const change = { current_password: PASSWORD, new_password: "another-password-1" };
    expect((await call("PUT", `/v1/users/${me.id}/password/`, { token: me.token, body: change })).status).toBe(200);
    for (const path of own(me.id)) expectError(await call("GET", path, { token: me.token }), 401, REFUSED);
    const fresh = await login(me.username, change.new_password);
    for (const path of own(me.id)) expect((await call("GET", path, { token: fresh })).status).toBe(200);
  });

  it("a refused token gets 401 before the route's own 422 or 400; an accepted one gets them", async () => {
    const me = await userSession();
    const invalid = (token: string) => [
      call("GET", `/v1/users/${me.id}/events/?limit=0`, { token }),
      call("GET", `/v1/users/${me.id}/history/?timestamp=yesterday`, { token }),
    ];
    const [limit, timestamp] = await Promise.all(invalid(me.token));
    expectError(limit!, 422, {});
    expectError(timestamp!, 400, {});
    expect((await call("POST", `/v1/users/${me.id}/suspend/`, { token: admin.token })).status).toBe(200);
    for (const res of await Promise.all(invalid(me.token))) expectError(res, 401, REFUSED);
  });

  it("an admin reads another user's history and events, and a user cannot", async () => {
    const me = await userSession();
    for (const path of own(me.id)) expect((await call("GET", path, { token: admin.token })).status).toBe(200);
    expectError(await call("GET", `/v1/users/${admin.id}/events/`, { token: me.token }), 403, {});
  });
});
