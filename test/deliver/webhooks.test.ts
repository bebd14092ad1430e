import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { feedEnd } from "../../src/read/feed";
import { subscription } from "../../src/objects";
import { adminSession, call } from "../support/api";
import { RECEIVER_PORT } from "../support/receiver-port";

/**
 * Webhook subscriptions against a real HTTP receiver (test/node-support/receiver.ts, in Node). Feed rows
 * are written straight into D1, as the feed projection would, so these tests are about the
 * subscription object: ingest, order, signatures, retries, pause, 410, dead and redeliver.
 */
const receiver = `http://127.0.0.1:${RECEIVER_PORT}`;
let token: string;

interface Logged {
  headers: Record<string, string>;
  body: string;
  status: number;
}

beforeAll(async () => {
  token = (await adminSession()).token;
});

async function received(name: string): Promise<Logged[]> {
  return (await (await fetch(`${receiver}/log/${name}`)).json()) as Logged[];
}

async function answer(name: string, status: number, times: number): Promise<void> {
  await fetch(`${receiver}/mode/${name}`, { method: "PUT", body: JSON.stringify({ status, times }) });
}

/** `count` events of one new user, appended to the feed in revision order. */
async function appendEvents(userId: string, count: number, from = 1): Promise<void> {
  for (let revision = from; revision < from + count; revision++) {
    const event = {
      id: crypto.randomUUID(),
      aggregate_id: userId,
      event_type: revision === 1 ? "USER_CREATED" : "USER_UPDATED",
      version: 1,
      timestamp: new Date().toISOString(),
      revision,
      data: revision === 1 ? { username: "u", email: "u@example.com" } : { first_name: `F${revision}` },
      metadata: { actor_id: null, actor_username: null, request_id: null, idempotency_key: null, reason: null },
    };
    await env.DB.prepare(
      "INSERT INTO feed (event_id, user_id, revision, event_type, timestamp, event) VALUES (?, ?, ?, ?, ?, ?)",
    )
      .bind(event.id, userId, revision, event.event_type, event.timestamp, JSON.stringify(event))
      .run();
  }
}

async function subscribe(name: string, extra: Record<string, unknown> = {}) {
  const res = await call<{ id: string; secret: string; position: number; status: string }>(
    "POST",
    "/admin/subscriptions",
    { token, body: { url: `${receiver}/hook/${name}`, from_position: await feedEnd(env.DB), ...extra } },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** Each user's revisions as received, in arrival order, after checking every signature. */
function byUser(requests: Logged[], secret: string): Map<string, number[]> {
  const users = new Map<string, number[]>();
  for (const request of requests.filter((r) => r.status === 200)) {
    const payload = new Webhook(secret).verify(request.body, request.headers) as {
      type: string;
      data: { aggregate_id: string; revision: number; id: string };
    };
    expect(request.headers["webhook-id"]).toBe(payload.data.id);
    users.set(payload.data.aggregate_id, [...(users.get(payload.data.aggregate_id) ?? []), payload.data.revision]);
  }
  return users;
}

const inOrder = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("webhook subscriptions", () => {
  it("delivers a burst of 5 users × 6 events, signed, each user's in revision order", async () => {
    const sub = await subscribe("burst");
    expect(sub.secret).toMatch(/^whsec_/);
    const users = Array.from({ length: 5 }, () => crypto.randomUUID());
    await Promise.all(users.map((user) => appendEvents(user, 6)));
    await subscription(env, sub.id).wake();
    await vi.waitUntil(async () => (await received("burst")).length >= 30, { timeout: 20_000, interval: 100 });
    const got = byUser(await received("burst"), sub.secret);
    for (const user of users) expect(got.get(user)).toEqual(inOrder(6));
    // The receiver logs a request before its answer reaches the subscription, which only then
    // records the delivery: the lag reaches 0 right after the 30th arrives, not necessarily before.
    const lag = async () =>
      (await call<{ lag: { events_behind: number } }>("GET", `/admin/subscriptions/${sub.id}`, { token })).body.lag;
    await vi.waitUntil(async () => (await lag()).events_behind === 0, { timeout: 5_000, interval: 50 });
    expect(JSON.parse((await received("burst"))[0]!.body).type).toMatch(/^user\./);
  });

  it("retries a failing receiver and delivers everything once it recovers", async () => {
    await answer("flaky", 500, 2);
    const sub = await subscribe("flaky");
    const user = crypto.randomUUID();
    await appendEvents(user, 3);
    await subscription(env, sub.id).wake();
    await vi.waitUntil(async () => (await received("flaky")).filter((r) => r.status === 200).length >= 3, {
      timeout: 20_000,
      interval: 100,
    });
    expect(byUser(await received("flaky"), sub.secret).get(user)).toEqual([1, 2, 3]);
  });

  it("sends nothing while paused, then the backlog in order after resume", async () => {
    const sub = await subscribe("paused");
    expect((await call("PATCH", `/admin/subscriptions/${sub.id}`, { token, body: { status: "paused" } })).status).toBe(
      200,
    );
    const user = crypto.randomUUID();
    await appendEvents(user, 4);
    await subscription(env, sub.id).wake();
    await vi.waitUntil(
      async () => {
        const page = await call<{ results: unknown[] }>(
          "GET",
          `/admin/subscriptions/${sub.id}/deliveries?state=pending`,
          {
            token,
          },
        );
        return page.body.results.length === 4;
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(await received("paused")).toEqual([]);
    await call("PATCH", `/admin/subscriptions/${sub.id}`, { token, body: { status: "active" } });
    await vi.waitUntil(async () => (await received("paused")).length >= 4, { timeout: 10_000, interval: 100 });
    expect(byUser(await received("paused"), sub.secret).get(user)).toEqual(inOrder(4));
  });

  it("disables the subscription on 410 Gone", async () => {
    await answer("gone", 410, -1);
    const sub = await subscribe("gone");
    await appendEvents(crypto.randomUUID(), 2);
    await subscription(env, sub.id).wake();
    await vi.waitUntil(
      async () =>
        (await call<{ status: string }>("GET", `/admin/subscriptions/${sub.id}`, { token })).body.status === "disabled",
      { timeout: 10_000, interval: 100 },
    );
    expect((await received("gone")).length).toBe(1);
  });

  it("lists a dead delivery, does not let it block the user's next event, and redelivers it", async () => {
    await answer("dead", 500, 3);
    const sub = await subscribe("dead");
    const user = crypto.randomUUID();
    await appendEvents(user, 2);
    await subscription(env, sub.id).wake();
    type Page = { results: { event_id: string; state: string; attempts: number }[] };
    await vi.waitUntil(
      async () =>
        (await call<Page>("GET", `/admin/subscriptions/${sub.id}/deliveries?state=dead`, { token })).body.results
          .length === 1,
      { timeout: 20_000, interval: 200 },
    );
    const dead = (await call<Page>("GET", `/admin/subscriptions/${sub.id}/deliveries?state=dead`, { token })).body
      .results[0]!;
    expect(dead.attempts).toBe(3);
    await vi.waitUntil(async () => (await received("dead")).some((r) => r.status === 200), { timeout: 10_000 });
    const again = await call<{ state: string }>(
      "POST",
      `/admin/subscriptions/${sub.id}/deliveries/${dead.event_id}/redeliver`,
      { token },
    );
    expect(again.status).toBe(200);
    expect(again.body.state).toBe("pending");
    await vi.waitUntil(async () => (await received("dead")).filter((r) => r.status === 200).length === 2, {
      timeout: 10_000,
    });
    const ok = (await received("dead")).filter((r) => r.status === 200);
    expect(ok.map((r) => r.headers["webhook-id"])).toContain(dead.event_id);
  });
});
