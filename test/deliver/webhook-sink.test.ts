import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { webhookSink } from "../../src/deliver/webhook-sink";
import type { FeedEvent } from "../../src/read/feed";

/**
 * The request a receiver gets: the sink builds the body from the JSON a delivery row holds, without
 * parsing it; a receiver must get exactly what `{type, timestamp, data: event}` serialises to, and
 * a signature over those bytes.
 */
const secret = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
const previous = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;

const event = {
  id: crypto.randomUUID(),
  aggregate_id: crypto.randomUUID(),
  event_type: "USER_UPDATED",
  version: 1,
  timestamp: "2026-12-07T18:00:00.123Z",
  revision: 3,
  data: { first_name: 'Zoë "the" \u2028 <b>' },
  metadata: { actor_id: null, actor_username: null, request_id: null, idempotency_key: null, reason: null },
  position: 42,
} as unknown as FeedEvent;

function capture() {
  const sent: { headers: Record<string, string>; body: string }[] = [];
  const fetcher = (async (_url: string, init: RequestInit) => {
    sent.push({ headers: init.headers as Record<string, string>, body: init.body as string });
    return new Response(null, { status: 204 });
  }) as unknown as typeof fetch;
  return { sent, fetcher };
}

describe("webhook sink", () => {
  it("sends a held event's JSON as the same bytes as the event serialised, signed with every secret", async () => {
    const { sent, fetcher } = capture();
    const viaFetcher = webhookSink(
      { url: "https://example.com/hook", secrets: [secret, previous], timeoutMs: 1000 },
      fetcher,
    );
    const held = { id: event.id, eventType: event.event_type, timestamp: event.timestamp, json: JSON.stringify(event) };
    expect(await viaFetcher.deliverHeld!(held, 1)).toMatchObject({ outcome: "delivered", status: 204 });
    expect(await viaFetcher.deliver(event, 1)).toMatchObject({ outcome: "delivered", status: 204 });

    const expected = JSON.stringify({ type: "user.updated", timestamp: event.timestamp, data: event });
    expect(sent.map((request) => request.body)).toEqual([expected, expected]);
    for (const request of sent) {
      expect(request.headers["webhook-id"]).toBe(event.id);
      expect(request.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
      // Either secret alone verifies the request, as during a rotation's grace period.
      for (const key of [secret, previous])
        expect(new Webhook(key).verify(request.body, request.headers)).toEqual(JSON.parse(expected));
    }
  });
});
