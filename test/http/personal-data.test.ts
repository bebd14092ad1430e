import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { PASSWORD } from "../support/builders";
import type { ApiResponse } from "../support/api";
import { expectError, responseText } from "./helpers";
import { readDb } from "../support/shards";

/**
 * The access report, `GET /v1/users/{id}/personal-data/`: the user itself or an admin, everything
 * held about the user per store, never a password hash or a secret.
 */

interface Report {
  user_id: string;
  erased: boolean;
  stores: {
    stream: {
      events: { event_type: string; data: Record<string, unknown> }[];
      vault: { fields: Record<string, string> }[];
    };
    identity_registry: { claims: string[] };
    read_model: { user: Record<string, unknown> | null };
    audit_log: { rows: Record<string, unknown>[] };
    feed: { rows: unknown[] };
    dead_letters: { rows: unknown[] };
    pending_deliveries: { subscriptions: unknown[] };
    mail: { rows: unknown[] };
  };
}

let admin: { id: string; token: string };

/**
 * No password, no hash (`pbkdf2-sha256$…`: the event's `hashing_method` may name the method), no
 * `password_hash` field, no signing secret.
 */
function expectNoSecrets(res: ApiResponse<unknown>): void {
  const text = responseText(res);
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(env.JWT_SECRET);
  expect(text).not.toMatch(/pbkdf2-sha256\$/);
  expect(text).not.toContain("password_hash");
}

beforeAll(async () => {
  admin = await adminSession();
});

const projected = (id: string) =>
  vi.waitUntil(
    async () => (await env.DB.prepare("SELECT 1 AS n FROM audit_log WHERE user_id = ?").bind(id).first()) !== null,
    { timeout: 5_000, interval: 10 },
  );

describe("GET /v1/users/{id}/personal-data/", () => {
  it("answers the user itself with every store, and no secret anywhere", async () => {
    const user = await createUser(admin.token, { first_name: "Sarah", last_name: "Connor" });
    const token = await login(user.username);
    await projected(user.id);
    const res = await call<Report>("GET", `/v1/users/${user.id}/personal-data/`, { token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const { stores } = res.body;
    expect(res.body).toMatchObject({ user_id: user.id, erased: false });
    expect(Object.keys(stores).sort()).toEqual(
      [
        "audit_log",
        "dead_letters",
        "feed",
        "identity_registry",
        "mail",
        "pending_deliveries",
        "read_model",
        "stream",
      ].sort(),
    );
    expect(stores.stream.events.map((e) => e.event_type)).toContain("USER_CREATED");
    expect(stores.stream.vault.some((entry) => entry.fields.first_name === "Sarah")).toBe(true);
    expect(stores.identity_registry.claims).toHaveLength(2);
    expect(stores.read_model.user).toMatchObject({ id: user.id, first_name: "Sarah" });
    expect(stores.audit_log.rows.length).toBeGreaterThan(0);
    expectNoSecrets(res);
  });

  it("answers an admin", async () => {
    const user = await createUser(admin.token);
    const res = await call<Report>("GET", `/v1/users/${user.id}/personal-data`, { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.body.user_id).toBe(user.id);
    expectNoSecrets(res);
  });

  it("names what the user did to others: the audit rows it is the actor of", async () => {
    const user = await createUser(admin.token);
    await projected(user.id);
    const res = await call<Report>("GET", `/v1/users/${admin.id}/personal-data/`, { token: admin.token });
    expect(res.status).toBe(200);
    const asActor = (res.body.stores.audit_log as unknown as { as_actor: { user_id: string; event_type: string }[] })
      .as_actor;
    expect(asActor).toContainEqual(expect.objectContaining({ user_id: user.id, event_type: "USER_CREATED" }));
    expectNoSecrets(res);
  });

  it("refuses another plain user (403) and anyone without a token (401)", async () => {
    const user = await createUser(admin.token);
    const other = await createUser(admin.token);
    const token = await login(other.username);
    expectError(await call("GET", `/v1/users/${user.id}/personal-data/`, { token }), 403, { error: "HTTP Error" });
    expectError(await call("GET", `/v1/users/${user.id}/personal-data/`), 401, {});
  });

  it("answers 404 for an unknown user and 400 for an id that is no UUID", async () => {
    const unknown = crypto.randomUUID();
    expectError(await call("GET", `/v1/users/${unknown}/personal-data/`, { token: admin.token }), 404, {});
    expect((await call("GET", `/v1/users/nope/personal-data/`, { token: admin.token })).status).toBe(400);
  });

  it("an erased user's report says what remains: tombstones reading [erased]", async () => {
    const user = await createUser(admin.token, { first_name: "Gone" });
    const erase = await call("POST", `/admin/users/${user.id}/erase`, {
      token: admin.token,
      body: { reason: "Data protection request #1" },
    });
    expect(erase.status, JSON.stringify(erase.body)).toBe(200);
    await vi.waitUntil(
      async () =>
        (
          await readDb(user.id)
            .prepare("SELECT status FROM users WHERE id = ?")
            .bind(user.id)
            .first<{ status: string }>()
        )?.status === "erased",
      { timeout: 5_000, interval: 10 },
    );
    const res = await call<Report>("GET", `/v1/users/${user.id}/personal-data/`, { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.body.erased).toBe(true);
    const text = JSON.stringify(res.body);
    expect(text).not.toContain("Gone");
    expect(text).not.toContain(user.username);
    expect(res.body.stores.stream.vault.every((entry) => entry.fields.first_name === undefined)).toBe(true);
    expect(res.body.stores.identity_registry.claims).toEqual([]);
    expect(res.body.stores.read_model.user).toMatchObject({ status: "erased", username: "[erased]" });
  });
});
