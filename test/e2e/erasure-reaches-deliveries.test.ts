import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { subscription } from "../../src/objects";
import { adminSession, call, createUser } from "../support/api";
import { RECEIVER_PORT } from "../support/receiver-port";

/**
 * An erasure reaches the webhook deliveries built before it: a subscription whose receiver keeps
 * failing holds the user's events (pending, then dead); once the erasure is projected, what it holds
 * reads `[erased]`, and what it sends from then on too.
 */
const receiver = `http://127.0.0.1:${RECEIVER_PORT}`;
let admin: string;

beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

async function received(name: string): Promise<{ body: string }[]> {
  return (await (await fetch(`${receiver}/log/${name}`)).json()) as { body: string }[];
}

async function setMode(name: string, status: number, times: number): Promise<void> {
  await fetch(`${receiver}/mode/${name}`, { method: "PUT", body: JSON.stringify({ status, times }) });
}

/** The events the subscription's object holds for the user's deliveries, as stored. */
async function held(subscriptionId: string, userId: string): Promise<string[]> {
  return runInDurableObject(subscription(env, subscriptionId), (_instance, state) =>
    state.storage.sql
      .exec<{ event: string }>("SELECT event FROM deliveries WHERE user_id = ? AND event IS NOT NULL", userId)
      .toArray()
      .map((row) => row.event),
  );
}

describe("an erasure reaches the deliveries a subscription still holds", () => {
  it("swaps the held events for the feed's erased rows, and sends those", async () => {
    const name = `erasure-held-${crypto.randomUUID().slice(0, 8)}`;
    await setMode(name, 500, -1);
    const created = await call<{ id: string }>("POST", "/admin/subscriptions", {
      token: admin,
      body: { url: `${receiver}/hook/${name}`, event_types: ["USER_CREATED", "USER_UPDATED", "USER_ERASED"] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const subscriptionId = created.body.id;

    const user = await createUser(admin, { first_name: "Held" });
    await vi.waitUntil(async () => (await received(name)).some((r) => r.body.includes(user.id)), {
      timeout: 20_000,
      interval: 100,
    });
    const before = await held(subscriptionId, user.id);
    expect(before.length).toBeGreaterThan(0);
    expect(before.join()).toContain(user.email);

    const erase = await call("POST", `/admin/users/${user.id}/erase`, {
      token: admin,
      body: { reason: "Data protection request" },
    });
    expect(erase.status, JSON.stringify(erase.body)).toBe(200);

    await vi.waitUntil(
      async () => {
        const now = await held(subscriptionId, user.id);
        return now.length > 0 && now.every((event) => !event.includes(user.email) && !event.includes(user.username));
      },
      { timeout: 20_000, interval: 100 },
    );
    expect((await held(subscriptionId, user.id)).join()).toContain("[erased]");

    // The receiver recovers: every delivery from now on carries the erased event.
    const sentBefore = (await received(name)).length;
    await setMode(name, 200, -1);
    const deliveries = await call<{ results: { event_id: string; state: string }[] }>(
      "GET",
      `/admin/subscriptions/${subscriptionId}/deliveries?user_id=${user.id}`,
      { token: admin },
    );
    for (const delivery of deliveries.body.results.filter((d) => d.state === "dead")) {
      await call("POST", `/admin/subscriptions/${subscriptionId}/deliveries/${delivery.event_id}/redeliver`, {
        token: admin,
      });
    }
    await vi.waitUntil(
      async () => (await received(name)).slice(sentBefore).some((r) => r.body.includes('"USER_CREATED"')),
      { timeout: 20_000, interval: 100 },
    );
    const after = (await received(name)).slice(sentBefore).filter((r) => r.body.includes(user.id));
    expect(after.every((r) => !r.body.includes(user.email) && !r.body.includes(user.username))).toBe(true);
  });
});
