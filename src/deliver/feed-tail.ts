import { feedFilter, readFeedWithEnd } from "../read/feed";
import type { Sink } from "./sink";
import { ingest, readSettings } from "./subscription-store";

/** Feed events read per D1 query, and queries per run: one run stays short, the alarm comes back for more. */
export const PAGE = 200;
const PAGES_PER_RUN = 5;

/**
 * Reads the feed after the checkpoint and records a pending delivery for each wanted event.
 * `stale` says that a replay, a filter change or a deletion happened while D1 was being read: the
 * page is then dropped, not written over the newer settings. Returns whether more may be waiting.
 */
export async function tailFeed(
  db: D1Database,
  sql: SqlStorage,
  storage: DurableObjectStorage,
  options: { sink: Sink; stale: () => boolean },
): Promise<{ more: boolean }> {
  for (let page = 0; page < PAGES_PER_RUN; page++) {
    const settings = readSettings(sql);
    if (!settings) return { more: false };
    // Empty: every user event, no alert; `ops.*` or an alert's type: those alerts too.
    const types = feedFilter(JSON.parse(settings.event_types) as string[]);
    const { end, events } = await readFeedWithEnd(db, { after: settings.checkpoint, limit: PAGE, eventTypes: types });
    if (options.stale()) return { more: true };
    const last = events[events.length - 1]?.position ?? settings.checkpoint;
    const full = events.length === PAGE;
    const checkpoint = full ? last : Math.max(end, last);
    const wanted = events.filter((event) => options.sink.wants(event));
    storage.transactionSync(() => ingest(sql, wanted, checkpoint, Math.max(end, last), Date.now()));
    if (!full) return { more: false };
  }
  return { more: true };
}
