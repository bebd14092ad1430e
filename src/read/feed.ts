import { and, asc, desc, gt, inArray, ne, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { OPS_USER, splitTypes, type OpsAlert, type OpsEventType } from "../domain/alerts";
import { eventSchemas, type EventType, type PublicEvent } from "../domain/events";
import { WaitingPlaces, waitWithBackoff, type WaitPolicy } from "./backoff";
import { feed } from "./schema";

/** An event of the feed: a user's public event, or an operations alert (`ops.*`), and its position there. */
export type FeedEvent = (PublicEvent | OpsAlert) & { position: number };

/** A type the feed holds: a user event's or an alert's. */
export type FeedEventType = EventType | OpsEventType;

/**
 * Which of the feed's rows to read: the given types (none when empty), `"users"` for every user
 * event and no alert, or all rows when absent (a subscription's redelivery reads its one row so).
 */
export type FeedFilter = readonly FeedEventType[] | "users";

const USER_EVENT_TYPES = Object.keys(eventSchemas) as EventType[];

/**
 * A reader's `event_types` (a subscription's, `GET /admin/feed`'s) as a filter: empty is every user
 * event and no alert (alerts are only for those who ask), `ops.*` every alert type.
 */
export function feedFilter(requested: readonly string[]): FeedFilter {
  const { all, user, ops } = splitTypes(requested, USER_EVENT_TYPES);
  return all ? "users" : [...user, ...ops];
}

/** The feed's events after `after`, oldest first, at most `limit`, only those `eventTypes` lets through. */
export async function readFeed(db: D1Database, query: FeedQuery): Promise<FeedEvent[]> {
  const page = pageQuery(db, query);
  return page ? (await page).map(feedEventOf) : [];
}

/**
 * `feedEnd` then `readFeed`, in one D1 round trip. The end is read first, so every position up to
 * it is committed: a page shorter than asked means nothing wanted lies between `after` and the end.
 */
export async function readFeedWithEnd(db: D1Database, query: FeedQuery): Promise<{ end: number; events: FeedEvent[] }> {
  const page = pageQuery(db, query);
  if (!page) return { end: await feedEnd(db), events: [] };
  const [end, rows] = await drizzle(db).batch([endQuery(db), page]);
  return { end: end[0]?.position ?? 0, events: rows.map(feedEventOf) };
}

interface FeedQuery {
  after: number;
  limit: number;
  eventTypes?: FeedFilter;
}

/** The page's query, or null when the filter lets nothing through. */
function pageQuery(db: D1Database, query: FeedQuery) {
  let types: SQL | undefined;
  if (query.eventTypes === "users") types = ne(feed.userId, OPS_USER);
  else if (query.eventTypes) {
    if (query.eventTypes.length === 0) return null;
    types = inArray(feed.eventType, [...query.eventTypes]);
  }
  return drizzle(db)
    .select({ position: feed.position, event: feed.event })
    .from(feed)
    .where(and(gt(feed.position, query.after), types))
    .orderBy(asc(feed.position))
    .limit(query.limit);
}

function endQuery(db: D1Database) {
  return drizzle(db).select({ position: feed.position }).from(feed).orderBy(desc(feed.position)).limit(1);
}

/** The feed's rows at these positions, as they read now (after an erasure: erased). */
export async function feedRowsAt(db: D1Database, positions: readonly number[]): Promise<FeedEvent[]> {
  if (positions.length === 0) return [];
  const rows = await drizzle(db)
    .select({ position: feed.position, event: feed.event })
    .from(feed)
    .where(inArray(feed.position, [...positions]));
  return rows.map(feedEventOf);
}

/** A feed row as subscribers see it: the stored event or alert with its position. */
export function feedEventOf(row: { position: number; event: string }): FeedEvent {
  return { ...(JSON.parse(row.event) as PublicEvent | OpsAlert), position: row.position };
}

/** The newest position in the feed (0 when empty): where a new subscription starts by default. */
export async function feedEnd(db: D1Database): Promise<number> {
  const [row] = await endQuery(db);
  return row?.position ?? 0;
}

/**
 * Long polls held open in this isolate, at most. Each costs a connection and a D1 read per look;
 * past the bound a caller is told to come back rather than queued. Apart from read-your-writes'
 * places: a feed reader holds its place for up to 30 s, which would starve those sub-second waits.
 */
export const MAX_FEED_WAITERS = 32;
const feedWaiters = new WaitingPlaces(MAX_FEED_WAITERS);
/** First re-read after 50 ms, each next one twice as late, up to 500 ms: quick for a busy feed, cheap for a quiet one. */
const FEED_POLICY: WaitPolicy = { firstMs: 50, maxMs: 500 };

/**
 * `readFeed`, holding on while nothing newer exists, for at most `waitMs`: the events as soon as
 * some are there, empty at the deadline (or once `signal` says the caller left), "full" when every
 * waiting place is taken. Polls D1 with a growing pause (`waitWithBackoff`, shared with
 * read-your-writes) rather than waking on each commit: simple and bounded, at the price of up to
 * 500 ms of extra latency after a quiet spell.
 */
export async function waitForFeed(
  db: D1Database,
  query: Parameters<typeof readFeed>[1],
  waitMs: number,
  signal?: AbortSignal,
): Promise<FeedEvent[] | "full"> {
  const events = await readFeed(db, query);
  if (events.length > 0 || waitMs <= 0) return events;
  const release = feedWaiters.take();
  if (!release) return "full";
  // A hang-up cancels the request before its `finally`: the place would never come back.
  signal?.addEventListener("abort", release, { once: true });
  try {
    const found = await waitWithBackoff(
      async () => {
        const more = await readFeed(db, query);
        return more.length > 0 ? more : null;
      },
      { waitMs, policy: FEED_POLICY, signal },
    );
    return found ?? [];
  } finally {
    release();
  }
}
