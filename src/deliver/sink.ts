import type { FeedEvent } from "../read/feed";

/**
 * Where a subscription's deliveries go: a webhook (`webhook-sink.ts`) or the welcome mail
 * (`mail-sink.ts`). The subscription's object owns ordering, retries, dead deliveries and the
 * checkpoint; a sink only tries one delivery once and says how it went.
 */
export interface Sink {
  /** Whether this sink has anything to do with `event` (a mail sink skips imported users, say). */
  wants(event: FeedEvent): boolean;
  deliver(event: FeedEvent, attempt: number): Promise<DeliveryOutcome>;
  /**
   * The same as `deliver`, from the event as the delivery row holds it (its JSON, unparsed): a sink
   * that only sends the event on (the webhook's) saves parsing and serialising it again per delivery.
   */
  deliverHeld?(event: HeldEvent, attempt: number): Promise<DeliveryOutcome>;
}

/** A held event: the `FeedEvent` as JSON (`JSON.stringify` of it), and the fields its row keeps beside it. */
export interface HeldEvent {
  id: string;
  eventType: string;
  timestamp: string;
  json: string;
}

export type DeliveryOutcome =
  /** Done: the receiver took it (2xx), or the mail went out. */
  | { outcome: "delivered"; status: number | null; ms: number }
  /** Try again later, on the configured schedule, until the attempts run out. */
  | { outcome: "retry"; status: number | null; error: string; ms: number }
  /** The receiver is gone for good (`410 Gone`): the subscription is disabled. */
  | { outcome: "gone"; status: number; ms: number }
  /** Nothing to do after all (the user was erased before the mail went out): counts as delivered. */
  | { outcome: "skipped"; reason: string };
