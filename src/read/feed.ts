import { and, asc, desc, gt, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { EventType, PublicEvent } from "../domain/events";
import { feed } from "./schema";

/** An event of the feed: the public event and its position there. */
export type FeedEvent = PublicEvent & { position: number };

/** The feed's events after `after`, oldest first, at most `limit`, only of `eventTypes` when given. */
export async function readFeed(
  db: D1Database,
  query: { after: number; limit: number; eventTypes?: readonly EventType[] },
): Promise<FeedEvent[]> {
  const types =
    query.eventTypes && query.eventTypes.length > 0 ? inArray(feed.eventType, [...query.eventTypes]) : undefined;
  const rows = await drizzle(db)
    .select({ position: feed.position, event: feed.event })
    .from(feed)
    .where(and(gt(feed.position, query.after), types))
    .orderBy(asc(feed.position))
    .limit(query.limit);
  return rows.map((row) => ({ ...(JSON.parse(row.event) as PublicEvent), position: row.position }));
}

/** The newest position in the feed (0 when empty): where a new subscription starts by default. */
export async function feedEnd(db: D1Database): Promise<number> {
  const [row] = await drizzle(db).select({ position: feed.position }).from(feed).orderBy(desc(feed.position)).limit(1);
  return row?.position ?? 0;
}
