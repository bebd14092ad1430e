import { beforeAll, describe, expect, it, vi } from "vitest";
import type { RequestTrail } from "../../src/admin/request-schemas";
import { adminSession, call } from "../support/api";
import { newUserBody } from "../support/builders";
import { RECEIVER_PORT } from "../support/receiver-port";

/**
 * A request's trail, the whole way: a create through HTTP → the user's object → the real queue →
 * the consumer's projections → the mail subscription's welcome and a webhook subscription's POST
 * to a real receiver (test/node-support/receiver.ts); the trail names each of them.
 */
const receiver = `http://127.0.0.1:${RECEIVER_PORT}`;
let admin: string;

beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

async function trail(requestId: string): Promise<RequestTrail | null> {
  const res = await call<RequestTrail>("GET", `/admin/requests/${requestId}`, { token: admin });
  return res.status === 200 ? res.body : null;
}

describe("a request's trail, end to end", () => {
  it("a create's trail: its event, applied by every projection, the welcome mail and the webhook delivery", async () => {
    const hook = await call<{ id: string }>("POST", "/admin/subscriptions", {
      token: admin,
      body: { url: `${receiver}/hook/trail`, event_types: ["USER_CREATED"] },
    });
    expect(hook.status).toBe(201);

    const requestId = `support-call-${crypto.randomUUID()}`;
    const body = newUserBody();
    const created = await call<{ user_id: string }>("POST", "/v1/users/", {
      token: admin,
      body,
      headers: { "X-Request-Id": requestId },
    });
    expect(created.status).toBe(200);
    const userId = created.body.user_id;

    // Done when every projection holds the event, the welcome is sent and the webhook delivered.
    let done: RequestTrail | null = null;
    await vi.waitUntil(
      async () => {
        const found = await trail(requestId);
        const settled =
          found !== null &&
          found.events.every((e) => e.projections.every((p) => p.state === "applied")) &&
          found.mail.some((m) => m.state === "sent") &&
          found.deliveries.some((d) => d.subscription_id === hook.body.id && d.state === "delivered");
        if (settled) done = found;
        return settled;
      },
      { timeout: 20_000, interval: 100 },
    );
    const result = done! as RequestTrail;

    expect(result.events).toHaveLength(1);
    const [event] = result.events;
    expect(event).toMatchObject({
      user_id: userId,
      event_type: "USER_CREATED",
      revision: 1,
      position: expect.any(Number),
      data: expect.objectContaining({ username: body.username, email: body.email }),
    });
    expect(event!.projections.map((p) => p.name).sort()).toEqual(["audit", "feed", "intervals", "users"]);
    for (const projection of event!.projections) expect(projection.checkpoint).toBeGreaterThanOrEqual(1);

    expect(result.mail).toEqual([
      expect.objectContaining({
        event_id: event!.event_id,
        user_id: userId,
        kind: "welcome",
        state: "sent",
        recipient: body.email,
        sent_at: expect.any(String),
      }),
    ]);
    const delivery = result.deliveries.find((d) => d.subscription_id === hook.body.id);
    expect(delivery).toMatchObject({
      url: `${receiver}/hook/trail`,
      event_id: event!.event_id,
      position: event!.position,
      user_id: userId,
      event_type: "USER_CREATED",
      state: "delivered",
      last_status: 200,
    });
  });

  it("an update's trail has no welcome, and no delivery where the subscription does not want the event", async () => {
    const hook = await call<{ id: string }>("POST", "/admin/subscriptions", {
      token: admin,
      body: { url: `${receiver}/hook/trail-created-only`, event_types: ["USER_CREATED"] },
    });
    expect(hook.status).toBe(201);
    const created = await call<{ user_id: string }>("POST", "/v1/users/", { token: admin, body: newUserBody() });
    const requestId = `support-call-${crypto.randomUUID()}`;
    const updated = await call("PUT", `/v1/users/${created.body.user_id}/`, {
      token: admin,
      body: { last_name: "Trail" },
      headers: { "X-Request-Id": requestId },
    });
    expect(updated.status).toBe(200);

    let done: RequestTrail | null = null;
    await vi.waitUntil(
      async () => {
        const found = await trail(requestId);
        const settled = found !== null && found.events.every((e) => e.projections.every((p) => p.state === "applied"));
        if (settled) done = found;
        return settled;
      },
      { timeout: 20_000, interval: 100 },
    );
    const result = done! as RequestTrail;
    expect(result.events.map((e) => [e.event_type, e.revision])).toEqual([["USER_UPDATED", 2]]);
    expect(result.mail).toEqual([]);
    expect(result.deliveries.filter((d) => d.subscription_id === hook.body.id)).toEqual([]);
  });

  it("an id a caller sent with two commands, another between them: both events, both deliveries", async () => {
    const hook = await call<{ id: string }>("POST", "/admin/subscriptions", {
      token: admin,
      body: { url: `${receiver}/hook/trail-updates`, event_types: ["USER_UPDATED"] },
    });
    expect(hook.status).toBe(201);
    const created = await call<{ user_id: string }>("POST", "/v1/users/", { token: admin, body: newUserBody() });
    const reused = `reused-${crypto.randomUUID()}`;
    for (const [name, requestId] of [
      ["One", reused],
      ["Two", `other-${crypto.randomUUID()}`],
      ["Three", reused],
    ] as const) {
      const res = await call("PUT", `/v1/users/${created.body.user_id}/`, {
        token: admin,
        body: { first_name: name },
        headers: { "X-Request-Id": requestId },
      });
      expect(res.status).toBe(200);
    }

    let done: RequestTrail | null = null;
    await vi.waitUntil(
      async () => {
        const found = await trail(reused);
        const settled =
          found !== null &&
          found.deliveries.filter((d) => d.subscription_id === hook.body.id && d.state === "delivered").length === 2;
        if (settled) done = found;
        return settled;
      },
      { timeout: 20_000, interval: 100 },
    );
    const result = done! as RequestTrail;
    expect(result.events.map((e) => e.revision)).toEqual([2, 4]);
    expect(
      result.deliveries
        .filter((d) => d.subscription_id === hook.body.id)
        .map((d) => d.event_id)
        .sort(),
    ).toEqual(result.events.map((e) => e.event_id).sort());
  });
});
