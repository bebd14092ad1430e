import { log } from "../observability";
import { subscription } from "../objects";
import { JSON_IDS } from "./bulk";
import { feedEventOf, type FeedEvent } from "./feed";

/** The built-in mail subscription's id (`MAIL_SUBSCRIPTION_ID` in src/deliver/protocol.ts, a layer above). */
const MAIL = "mail";
/** Bounds the wakes of one batch; more subscriptions than this wait for the cron's sweep. */
const MAX_WAKES = 500;
/** Feed rows handed to each wake at most; a bigger batch is for the subscriptions to read from D1. */
const MAX_PUSHED = 200;

const ACTIVE = `SELECT id FROM subscriptions WHERE status = 'active' ORDER BY id LIMIT ?`;
const FEED_ROWS = `SELECT position, event FROM feed WHERE event_id IN ${JSON_IDS} ORDER BY position`;

/**
 * Tells the subscriptions that the feed has grown: the active ones in D1's `subscriptions` and the
 * welcome mail's. `eventIds` are the events a batch just projected: their feed rows (positions
 * included) are read in the same round trip as the list and handed to each wake, so a subscription
 * that keeps up takes them without reading the feed itself (src/deliver/feed-tail.ts, `takePushed`).
 * A wake only records and arms the object's alarm, so this costs one RPC each. A failed wake does
 * not fail the batch (its events are committed): the object's next wake, or the cron's sweep
 * (src/index.ts), reads the feed from its own checkpoint, so nothing is lost, only later.
 */
export async function wakeSubscriptions(env: Env, eventIds: readonly string[] = []): Promise<void> {
  let ids: string[] = [];
  let pushed: FeedEvent[] | undefined;
  try {
    const list = env.DB.prepare(ACTIVE).bind(MAX_WAKES);
    if (eventIds.length > 0 && eventIds.length <= MAX_PUSHED) {
      const [active, rows] = await env.DB.batch<unknown>([
        list,
        env.DB.prepare(FEED_ROWS).bind(JSON.stringify(eventIds)),
      ]);
      ids = (active!.results as { id: string }[]).map((row) => row.id);
      pushed = (rows!.results as { position: number; event: string }[]).map(feedEventOf);
    } else {
      ids = (await list.all<{ id: string }>()).results.map((row) => row.id);
    }
  } catch (error) {
    log("warn", "could not list subscriptions to wake", { error: String(error) });
  }
  const results = await Promise.allSettled([MAIL, ...ids].map((id) => subscription(env, id).wake(pushed)));
  const failed = results.filter((result) => result.status === "rejected").length;
  if (failed > 0) log("warn", "subscriptions not woken; their alarms or the sweep catch up", { failed });
}
