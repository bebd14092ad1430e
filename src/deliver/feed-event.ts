import type { PublicEvent } from "../domain/events";

/** An event of the feed: the public event and its position there (`GET /admin/feed`, webhook bodies). */
export type FeedEvent = PublicEvent & { position: number };
