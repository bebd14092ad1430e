import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { RECEIVER_PORT } from "../support/receiver-port";
import { readDb } from "../support/shards";

/**
 * The access report and the erasure receipt, end to end: a user with events, a welcome mail, a
 * webhook delivered, one pending (its receiver failing) and a dead letter → the report names each
 * store; the erase command's receipt names what it removed and every remaining copy with its end;
 * the report afterwards reads `[erased]`.
 */
const receiver = `http://127.0.0.1:${RECEIVER_PORT}`;
let admin: string;

beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

interface Report {
  erased: boolean;
  stores: {
    stream: { events: { event_type: string }[]; vault: { fields: Record<string, string> }[] };
    identity_registry: { claims: string[] };
    read_model: { user: Record<string, unknown> | null };
    audit_log: { rows: Record<string, unknown>[] };
    feed: { rows: unknown[] };
    dead_letters: { rows: unknown[] };
    pending_deliveries: {
      subscriptions: { subscription_id: string; pending: { event_type: string }[]; delivered_any: boolean }[];
    };
    mail: { rows: Record<string, unknown>[] };
  };
}

interface Receipt {
  message: string;
  revision: number;
  erased_at: string;
  removed: string[];
  remaining: { store: string; until: string | null; what: string; condition: string }[];
}

async function received(name: string): Promise<{ body: string }[]> {
  return (await (await fetch(`${receiver}/log/${name}`)).json()) as { body: string }[];
}

async function subscribe(name: string): Promise<string> {
  const created = await call<{ id: string }>("POST", "/admin/subscriptions", {
    token: admin,
    body: { url: `${receiver}/hook/${name}`, event_types: ["USER_CREATED", "USER_UPDATED"] },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.id;
}

const DAY_MS = 86_400_000;

describe("privacy, end to end", () => {
  it("the report lists every store; the receipt names removed and remaining copies; afterwards [erased]", async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const delivered = await subscribe(`privacy-ok-${tag}`);
    await fetch(`${receiver}/mode/privacy-fail-${tag}`, {
      method: "PUT",
      body: JSON.stringify({ status: 500, times: -1 }),
    });
    const failing = await subscribe(`privacy-fail-${tag}`);

    const user = await createUser(admin, { first_name: "Privacy" });
    const token = await login(user.username);
    expect((await call("PUT", `/v1/users/${user.id}/`, { token, body: { last_name: "Subject" } })).status).toBe(200);
    const mine = (body: string) => body.includes(user.id);
    await vi.waitUntil(async () => (await received(`privacy-ok-${tag}`)).filter((r) => mine(r.body)).length >= 2, {
      timeout: 20_000,
      interval: 100,
    });
    await vi.waitUntil(async () => (await received(`privacy-fail-${tag}`)).some((r) => mine(r.body)), {
      timeout: 20_000,
      interval: 100,
    });
    await vi.waitUntil(
      async () =>
        (await env.DB.prepare("SELECT 1 AS n FROM sent_emails WHERE user_id = ?").bind(user.id).first()) !== null,
      { timeout: 20_000, interval: 100 },
    );
    // A dead letter carrying the user's event, as the projector records one it gave up on.
    await env.DB.prepare(
      `INSERT INTO dead_letters (message_id, aggregate_id, revision, projection, body, attempts, error, failed_at)
       VALUES (?, ?, 1, 'users', ?, 6, 'test: gave up', ?)`,
    )
      .bind(
        crypto.randomUUID(),
        user.id,
        JSON.stringify({ aggregate_id: user.id, data: { email: user.email } }),
        new Date().toISOString(),
      )
      .run();

    const report = await call<Report>("GET", `/v1/users/${user.id}/personal-data/`, { token });
    expect(report.status, JSON.stringify(report.body)).toBe(200);
    const { stores } = report.body;
    expect(report.body.erased).toBe(false);
    expect(stores.stream.events.map((e) => e.event_type)).toEqual(
      expect.arrayContaining(["USER_CREATED", "USER_LOGGED_IN", "USER_UPDATED"]),
    );
    expect(stores.stream.vault.some((entry) => entry.fields.last_name === "Subject")).toBe(true);
    expect(stores.identity_registry.claims).toHaveLength(2);
    expect(stores.read_model.user).toMatchObject({ id: user.id, first_name: "Privacy" });
    expect(stores.audit_log.rows.length).toBeGreaterThanOrEqual(2);
    expect(stores.feed.rows.length).toBeGreaterThanOrEqual(2);
    expect(stores.dead_letters.rows).toHaveLength(1);
    expect(stores.mail.rows).toEqual([expect.objectContaining({ kind: "welcome", recipient: user.email })]);
    const bySubscription = new Map(stores.pending_deliveries.subscriptions.map((s) => [s.subscription_id, s]));
    expect(bySubscription.get(delivered)?.delivered_any).toBe(true);
    expect(bySubscription.get(failing)?.pending.length).toBeGreaterThan(0);

    const erase = await call<Receipt>("POST", `/admin/users/${user.id}/erase`, {
      token: admin,
      body: { reason: "Data protection request #28" },
    });
    expect(erase.status, JSON.stringify(erase.body)).toBe(200);
    const receipt = erase.body;
    expect(receipt).toMatchObject({ message: "User erased successfully", revision: expect.any(Number) });
    const erasedAt = Date.parse(receipt.erased_at);
    expect(Math.abs(erasedAt - Date.now())).toBeLessThan(60_000);
    expect(receipt.removed).toEqual(
      expect.arrayContaining(["stream", "identity_registry", "read_model", "audit_log", "feed", "mail"]),
    );
    const remaining = new Map(receipt.remaining.map((copy) => [copy.store, copy]));
    expect(Date.parse(remaining.get("queue")?.until ?? "")).toBe(erasedAt + 4 * DAY_MS);
    expect(Date.parse(remaining.get("d1_time_travel")?.until ?? "")).toBe(erasedAt + 30 * DAY_MS);
    expect(Date.parse(remaining.get("durable_object_restore_points")?.until ?? "")).toBe(erasedAt + 30 * DAY_MS);
    expect(Date.parse(remaining.get("search_index")?.until ?? "")).toBe(erasedAt + DAY_MS);
    for (const store of ["local_wal", "exports", "dead_letters", `subscription:${delivered}`]) {
      expect(remaining.get(store), store).toMatchObject({ until: null, condition: expect.any(String) });
    }
    expect(remaining.get(`subscription:${failing}:pending`)).toBeDefined();

    await vi.waitUntil(
      async () =>
        (
          await readDb(user.id)
            .prepare("SELECT status FROM users WHERE id = ?")
            .bind(user.id)
            .first<{ status: string }>()
        )?.status === "erased",
      { timeout: 10_000, interval: 50 },
    );
    const after = await call<Report>("GET", `/v1/users/${user.id}/personal-data/`, { token: admin });
    expect(after.status).toBe(200);
    expect(after.body.erased).toBe(true);
    expect(after.body.stores.read_model.user).toMatchObject({ username: "[erased]", email: "[erased]" });
    expect(after.body.stores.mail.rows).toEqual([expect.objectContaining({ recipient: "[erased]" })]);
    expect(after.body.stores.identity_registry.claims).toEqual([]);
    expect(after.body.stores.stream.vault.some((entry) => "email" in entry.fields)).toBe(false);
    const created = after.body.stores.stream.events.find((e) => e.event_type === "USER_CREATED") as unknown as {
      data: Record<string, string>;
    };
    expect(created.data).toMatchObject({ username: "[erased]", email: "[erased]", first_name: "[erased]" });

    for (const id of [delivered, failing]) await call("DELETE", `/admin/subscriptions/${id}`, { token: admin });
  });
});
