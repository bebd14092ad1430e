import { Webhook } from "standardwebhooks";
import type { FeedEvent } from "../read/feed";
import type { DeliveryOutcome, HeldEvent, Sink } from "./sink";

/** `USER_CREATED` → `user.created`, `PASSWORD_CHANGED` → `user.password_changed`; `ops.*` as they are. */
export function webhookType(eventType: string): string {
  if (eventType.startsWith("ops.")) return eventType;
  return `user.${eventType.replace(/^USER_/, "").toLowerCase()}`;
}

export interface WebhookTarget {
  url: string;
  /** The current secret first; during a rotation's grace period also the previous one. */
  secrets: string[];
  timeoutMs: number;
}

/**
 * One signed POST per event, as the Standard Webhooks specification says. The `webhook-id` is the
 * event id, so a receiver recognises a retry or a replay. Neither the secret nor the body is ever
 * logged: an error says only what the receiver or the network answered.
 */
export function webhookSink(target: WebhookTarget, fetcher: typeof fetch = fetch): Sink {
  // Once per sink (a run), not per delivery: each decodes its secret.
  const signers = target.secrets.map((secret) => new Webhook(secret));
  const sink = {
    wants: () => true,
    deliver: (event: FeedEvent): Promise<DeliveryOutcome> =>
      sink.deliverHeld({
        id: event.id,
        eventType: event.event_type,
        timestamp: event.timestamp,
        json: JSON.stringify(event),
      }),
    async deliverHeld(event: HeldEvent): Promise<DeliveryOutcome> {
      // `JSON.stringify({type, timestamp, data})` to the byte, with the held JSON as `data` unparsed.
      const body = `{"type":${JSON.stringify(webhookType(event.eventType))},"timestamp":${JSON.stringify(event.timestamp)},"data":${event.json}}`;
      const now = new Date();
      // Several `v1,` signatures are allowed by the spec: a receiver holding either secret accepts it.
      const signature = signers.map((signer) => signer.sign(event.id, now, body)).join(" ");
      const started = Date.now();
      try {
        const response = await fetcher(target.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
            "webhook-signature": signature,
          },
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(target.timeoutMs),
        });
        const ms = Date.now() - started;
        // The answer's body is not needed; cancelling frees the connection for the next delivery.
        await response.body?.cancel();
        if (response.status >= 200 && response.status < 300)
          return { outcome: "delivered", status: response.status, ms };
        if (response.status === 410) return { outcome: "gone", status: 410, ms };
        return { outcome: "retry", status: response.status, error: `HTTP ${response.status}`, ms };
      } catch (error) {
        const ms = Date.now() - started;
        const name = error instanceof Error ? error.name : "Error";
        const reason = name === "TimeoutError" ? `no answer within ${target.timeoutMs} ms` : describe(error);
        return { outcome: "retry", status: null, error: reason, ms };
      }
    },
  };
  return sink;
}

/** The network error's own words, bounded: they name the failure, never the request. */
function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 200);
}
