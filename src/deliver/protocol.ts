import type { FeedEvent } from "../read/feed";

/**
 * The RPC surface of a subscription's object (`Subscription`, one per subscription id, reached
 * through `subscription(env, id)` in src/objects.ts). The object owns the subscription's settings,
 * secret, checkpoint in the feed and its deliveries; its row in D1's `subscriptions` table mirrors
 * the settings for listing and for the projector, which wakes active subscriptions after a batch.
 * The welcome mail is the built-in subscription `MAIL_SUBSCRIPTION_ID`, whose sink is `send_email`.
 */
export interface SubscriptionRpc {
  /** Creates the subscription (idempotent for the same id and settings); the secret is returned only here. */
  create(input: NewSubscription): Promise<SubscriptionView & { secret: string | null }>;
  /** Null when no subscription has this id (never created, or deleted). */
  view(): Promise<SubscriptionView | null>;
  /** Pause (`paused`), resume (`active`), move or re-filter. */
  update(patch: SubscriptionPatch): Promise<SubscriptionView | null>;
  /** Deletes the subscription, its deliveries and its secret. */
  remove(): Promise<boolean>;
  /** Delivers again every event after `fromPosition` (repeats carry the same `webhook-id`). */
  replay(fromPosition: number): Promise<SubscriptionView | null>;
  rotateSecret(): Promise<{ secret: string } | null>;
  /** Null when no subscription has this id. */
  deliveries(query: DeliveryQuery): Promise<{ results: DeliveryView[]; next_cursor: number | null } | null>;
  /**
   * Sends one delivery again (a dead or delivered one, or a pending one ahead of its schedule): it is
   * pending and due now, with its attempts counted afresh, and goes out in its user's order.
   */
  redeliver(eventId: string): Promise<DeliveryView | null>;
  /**
   * The feed has grown: arms the alarm, which reads the feed from the checkpoint and delivers.
   * Returns at once, so the projector's wakes cost it one RPC each. On `MAIL_SUBSCRIPTION_ID` it
   * first creates the mail subscription if it does not exist.
   */
  wake(): Promise<void>;
  /**
   * The user was erased, and the feed's rows of the user rewritten: each delivery still holding one
   * of the user's events (pending or dead) takes the feed's erased version instead, or none if the
   * feed no longer has it. Resolves how many were rewritten.
   */
  forget(userId: string): Promise<number>;
}

export const MAIL_SUBSCRIPTION_ID = "mail";

export interface NewSubscription {
  id: string;
  kind: "webhook" | "mail";
  /** The webhook's target; null for mail. */
  url: string | null;
  /** Event types (`USER_CREATED`, …) or `ops.*`; empty: every user event. */
  eventTypes: string[];
  description: string | null;
  /** Deliver the feed's events after this position. */
  fromPosition: number;
}

export interface SubscriptionPatch {
  status?: "active" | "paused";
  url?: string;
  eventTypes?: string[];
}

export type SubscriptionStatus = "active" | "paused" | "disabled";

export interface SubscriptionView {
  id: string;
  kind: "webhook" | "mail";
  url: string | null;
  event_types: string[];
  description: string | null;
  status: SubscriptionStatus;
  /** Every event of the feed up to here is delivered, dead or not wanted. */
  position: number;
  lag: { events_behind: number; oldest_undelivered_at: string | null };
  last_delivery: { at: string; status_code: number | null; ms: number } | null;
  failing_since: string | null;
  created_at: string;
}

export type DeliveryState = "pending" | "delivered" | "dead";

export interface DeliveryQuery {
  state?: DeliveryState;
  userId?: string;
  /** `next_cursor` of the previous page. */
  cursor?: number;
  limit: number;
}

export interface DeliveryView {
  event_id: string;
  position: number;
  user_id: string;
  event_type: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  state: DeliveryState;
}

export type { FeedEvent };
