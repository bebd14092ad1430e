import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { feedEnd, type FeedEvent } from "../../src/read/feed";
import { subscription } from "../../src/objects";
import { adminSession, call } from "../support/api";
import { RECEIVER_PORT } from "../support/receiver-port";

/**
 * The projector hands each wake the feed rows it just committed (src/read/wake-subscriptions.ts).
 * A subscription takes them without reading the feed only when they continue its checkpoint with no
 * hole; the rows below are never written to D1, so a subscription that delivers them can only have
 * taken them from the wake, and one that lost track would find nothing there.
 */
const receiver = `http://127.0.0.1:${RECEIVER_PORT}`;
let token: string;

beforeAll(async () => {
  token = (await adminSession()).token;
});

async function subscribe(name: string, extra: Record<string, unknown> = {}) {
  const res = await call<{ id: string; position: number }>("POST", "/admin/subscriptions", {
    token,
    body: { url: `${receiver}/hook/${name}`, from_position: await feedEnd(env.DB), ...extra },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** Feed rows of one user at these positions, revisions 1, 2, … (never in D1). */
function rows(positions: number[], type: "USER_UPDATED" | "USER_DELETED" = "USER_UPDATED"): FeedEvent[] {
  const userId = crypto.randomUUID();
  return positions.map((position, i) => ({
    id: crypto.randomUUID(),
    aggregate_id: userId,
    event_type: type,
    version: 1,
    timestamp: new Date().toISOString(),
    revision: i + 1,
    data: type === "USER_UPDATED" ? { first_name: `F${i + 1}` } : {},
    metadata: { actor_id: null, actor_username: null, request_id: null, idempotency_key: null, reason: null },
    position,
  })) as FeedEvent[];
}

async function pendingOrDelivered(id: string): Promise<number[]> {
  const page = await subscription(env, id).deliveries({ limit: 100 });
  return (page?.results ?? []).map((d) => d.position).sort((a, b) => a - b);
}

describe("rows handed to a wake", () => {
  it("continuing the checkpoint: taken at once and delivered, without the feed", async () => {
    const sub = await subscribe("pushed");
    const c = sub.position;
    await subscription(env, sub.id).wake(rows([c + 1, c + 2, c + 3]));
    expect(await pendingOrDelivered(sub.id)).toEqual([c + 1, c + 2, c + 3]);
    await vi.waitUntil(async () => ((await (await fetch(`${receiver}/log/pushed`)).json()) as unknown[]).length === 3, {
      timeout: 10_000,
      interval: 50,
    });
    expect((await subscription(env, sub.id).view())?.position).toBe(c + 3);
  });

  it("with a hole after the checkpoint: not taken (the alarm reads the feed instead)", async () => {
    const sub = await subscribe("hole");
    const c = sub.position;
    await subscription(env, sub.id).wake(rows([c + 2, c + 3]));
    expect(await pendingOrDelivered(sub.id)).toEqual([]);
    expect((await subscription(env, sub.id).view())?.position).toBe(c);
  });

  it("rows at or before the checkpoint change nothing; rows of types not asked for only move it", async () => {
    const sub = await subscribe("filtered", { event_types: ["USER_DELETED"] });
    const c = sub.position;
    await subscription(env, sub.id).wake(rows([c - 1, c].filter((p) => p > 0)));
    expect((await subscription(env, sub.id).view())?.position).toBe(c);
    await subscription(env, sub.id).wake(rows([c + 1, c + 2]));
    expect(await pendingOrDelivered(sub.id)).toEqual([]);
    expect((await subscription(env, sub.id).view())?.position).toBe(c + 2);
    await subscription(env, sub.id).wake(rows([c + 3], "USER_DELETED"));
    expect(await pendingOrDelivered(sub.id)).toEqual([c + 3]);
  });
});
