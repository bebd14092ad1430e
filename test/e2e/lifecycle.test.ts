import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { PublicEvent } from "../../src/domain/events";
import { mailSink } from "../../src/deliver/mail-sink";
import { adminSession, call, createUser, login } from "../support/api";
import type { UserView, UserListBody as UserList, CommandBody as CommandResponse } from "../support/types";
import { PASSWORD } from "../support/builders";
import { readDb } from "../support/shards";

/**
 * The real path: HTTP command → the user's Durable Object → its alarm publishes the outbox → the
 * local queue → the consumer → D1 → the query endpoints. Waiting is done by `?min_revision=`.
 */

let admin: string;
beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

async function readAt(id: string, revision: number) {
  return call<{ user: UserView }>("GET", `/v1/users/${id}/?min_revision=${revision}`, { token: admin });
}

async function listByName(username: string) {
  const res = await call<UserList>("GET", `/v1/users/?username=${username}`, { token: admin });
  expect(res.status).toBe(200);
  return res.body;
}

async function welcomeMails(userId: string) {
  const { results } = await env.DB.prepare(
    "SELECT event_id, recipient, sent_at FROM sent_emails WHERE user_id = ? AND kind = 'welcome'",
  )
    .bind(userId)
    .all<{ event_id: string; recipient: string; sent_at: string }>();
  return results;
}

describe("a user's life, as the read model sees it", () => {
  it("create, update, password change and delete each show up at the revision the command returned", async () => {
    const user = await createUser(admin, { first_name: "Grace", last_name: "Hopper" });
    expect(user.revision).toBe(1);

    const created = await readAt(user.id, user.revision);
    expect(created.status).toBe(200);
    expect(created.body.user).toMatchObject({
      id: user.id,
      username: user.username,
      email: user.email,
      first_name: "Grace",
      last_name: "Hopper",
      role: "user",
      revision: 1,
    });
    expect(created.body.user).not.toHaveProperty("password_hash");
    expect(created.body.user.updated_at).toBe(created.body.user.created_at);
    expect(await listByName(user.username)).toMatchObject({ count: 1, results: [{ id: user.id, revision: 1 }] });

    const token = await login(user.username);
    // The login is revision 2, projected as last_login_at without touching updated_at.
    const loggedIn = await readAt(user.id, 2);
    expect(loggedIn.body.user.last_login_at).toEqual(expect.any(String));
    expect(loggedIn.body.user.updated_at).toBe(created.body.user.updated_at);
    const updated = await call<CommandResponse>("PUT", `/v1/users/${user.id}/`, {
      token,
      body: { first_name: "Amazing", email: `amazing.${user.email}` },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.revision).toBe(3);
    expect(updated.headers.get("ETag")).toBe('"3"');
    const afterUpdate = await readAt(user.id, updated.body.revision);
    expect(afterUpdate.status).toBe(200);
    expect(afterUpdate.body.user).toMatchObject({
      first_name: "Amazing",
      last_name: "Hopper",
      email: `amazing.${user.email}`,
      revision: 3,
    });
    expect(afterUpdate.body.user.created_at).toBe(created.body.user.created_at);
    expect(Date.parse(afterUpdate.body.user.updated_at)).toBeGreaterThanOrEqual(
      Date.parse(created.body.user.updated_at),
    );
    expect(await listByName(user.username)).toMatchObject({
      count: 1,
      results: [{ first_name: "Amazing", revision: 3 }],
    });

    const changed = await call<CommandResponse>("PUT", `/v1/users/${user.id}/password/`, {
      token,
      body: { current_password: PASSWORD, new_password: "battery-staple-2" },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.revision).toBe(4);
    const afterPassword = await readAt(user.id, changed.body.revision);
    expect(afterPassword.status).toBe(200);
    expect(afterPassword.body.user).toMatchObject({ first_name: "Amazing", revision: 4 });
    expect(JSON.stringify(afterPassword.body)).not.toMatch(/battery|password|hash/i);

    const deleted = await call<CommandResponse>("DELETE", `/v1/users/${user.id}/`, {
      token: admin,
      body: { reason: "test" },
    });
    expect(deleted.status).toBe(200);
    expect(deleted.body.revision).toBe(5);
    const afterDelete = await readAt(user.id, deleted.body.revision);
    expect(afterDelete.status).toBe(404);
    expect(await listByName(user.username)).toMatchObject({ count: 0, results: [] });
    const row = await readDb(user.id).prepare("SELECT status, revision FROM users WHERE id = ?").bind(user.id).first();
    expect(row).toEqual({ status: "deleted", revision: 5 });
  });

  it("suspend and reactivate are projected too", async () => {
    const user = await createUser(admin);
    const suspended = await call<CommandResponse>("POST", `/v1/users/${user.id}/suspend/`, {
      token: admin,
      body: { reason: "spam" },
    });
    expect(suspended.status).toBe(200);
    expect((await readAt(user.id, suspended.body.revision)).body.user).toMatchObject({
      status: "suspended",
      revision: 2,
    });
    const reactivated = await call<CommandResponse>("POST", `/v1/users/${user.id}/reactivate/`, {
      token: admin,
      body: { reason: "ok" },
    });
    expect(reactivated.status).toBe(200);
    expect((await readAt(user.id, reactivated.body.revision)).body.user).toMatchObject({
      status: "active",
      revision: 3,
    });
  });

  it("the eventual read and the strong read agree once the read model caught up", async () => {
    const user = await createUser(admin, { last_name: "Strong" });
    const eventual = await readAt(user.id, 1);
    const strong = await call<{ user: UserView }>("GET", `/v1/users/${user.id}/?consistency=strong`, { token: admin });
    expect(strong.status).toBe(200);
    expect(eventual.body.user).toEqual(strong.body.user);
  });
});

describe("the welcome email", () => {
  it("is sent once per user, even when its creation is delivered to the mail sink again", async () => {
    const send = vi.spyOn(env.EMAIL, "send");
    const user = await createUser(admin);
    expect((await readAt(user.id, 1)).status).toBe(200);
    const events: PublicEvent[] = await env.USER_STREAM.getByName(user.id).readStream(1, 100);
    const created = events[0]!;
    // As the mail subscription hands it over, twice (a retry after a crash repeats a delivery).
    const sink = mailSink(env);
    expect(sink.wants({ ...created, position: 1 })).toBe(true);
    await sink.deliver({ ...created, position: 1 }, 1);
    await sink.deliver({ ...created, position: 1 }, 2);

    const mails = await welcomeMails(user.id);
    expect(mails).toMatchObject([{ recipient: user.email, event_id: created.id }]);
    expect(send.mock.calls.filter(([mail]) => (mail as { to?: unknown }).to === user.email).length).toBeLessThanOrEqual(
      1,
    );
    send.mockRestore();
  });
});
