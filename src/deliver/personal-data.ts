import { subscription } from "../objects";
import { subscriptionList } from "../read/personal-data";
import type { DeliveryView } from "./protocol";

/** Pending deliveries per subscription in one access report at most. */
const PENDING_MAX = 100;

/** One subscription's part of the access report: what it still owes the receiver about the user. */
export interface PendingDeliveries {
  subscription_id: string;
  url: string;
  status: string;
  /** Each pending delivery holds the event (the public event, no secrets) until it is sent or dead. */
  pending: DeliveryView[];
  /** Whether it has already delivered events of the user: the receiver holds copies. */
  delivered_any: boolean;
}

/**
 * Asks every subscription's object about one user, read only (`deliveries`, never a write): its
 * pending deliveries and whether it delivered any. Subscriptions that hold nothing about the user
 * are left out. A subscription that cannot answer is skipped rather than failing the report.
 */
export async function deliveriesAbout(env: Env, userId: string): Promise<PendingDeliveries[]> {
  const list = await subscriptionList(env.DB);
  const answers = await Promise.all(
    list.map(async (row): Promise<PendingDeliveries | null> => {
      try {
        const object = subscription(env, row.id);
        const [pending, delivered] = await Promise.all([
          object.deliveries({ userId, state: "pending", limit: PENDING_MAX }),
          object.deliveries({ userId, state: "delivered", limit: 1 }),
        ]);
        if (!pending || !delivered) return null;
        const held = {
          subscription_id: row.id,
          url: row.url,
          status: row.status,
          pending: pending.results,
          delivered_any: delivered.results.length > 0,
        };
        return held.pending.length > 0 || held.delivered_any ? held : null;
      } catch {
        return null;
      }
    }),
  );
  return answers.filter((answer) => answer !== null);
}
