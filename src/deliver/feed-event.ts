export type { FeedEvent } from "../read/feed";
