import { log } from "../observability";
import { subscription } from "../objects";

/** The built-in mail subscription's id (`MAIL_SUBSCRIPTION_ID` in src/deliver/protocol.ts, a layer above). */
const MAIL = "mail";
/** Bounds the wakes of one batch; more subscriptions than this wait for the cron's sweep. */
const MAX_WAKES = 500;

const ACTIVE = `SELECT id FROM subscriptions WHERE status = 'active' ORDER BY id LIMIT ?`;
/**
 * How long a listing of the active subscriptions serves the wakes of the batches after it: under
 * load the projector commits a batch every few milliseconds, and each listing was a D1 query on the
 * database it writes to. A subscription created, resumed or removed in another isolate is seen
 * this much later at most (one created here, at once: `subscriptionsChanged`); a wake it misses
 * meanwhile is made up by the next batch's or the cron's.
 */
const ACTIVE_LISTING_MS = 1_000;

let activeListing: { ids: string[]; until: number } | null = null;

/** Called when a subscription's row changes in this isolate: the next wake lists them again. */
export function subscriptionsChanged(): void {
  activeListing = null;
}

async function activeSubscriptions(env: Env): Promise<string[]> {
  const now = Date.now();
  if (activeListing && activeListing.until > now) return activeListing.ids;
  const ids = (await env.DB.prepare(ACTIVE).bind(MAX_WAKES).all<{ id: string }>()).results.map((row) => row.id);
  activeListing = { ids, until: now + ACTIVE_LISTING_MS };
  return ids;
}
const EVERY = `SELECT id FROM subscriptions ORDER BY id LIMIT ?`;

/**
 * Tells the subscriptions that the feed has grown: the active ones in D1's `subscriptions` and the
 * welcome mail's (`mail: false` when the new events hold no `USER_CREATED`, the only type it reads:
 * each wake costs an alarm run and a D1 read). Wakes carry no rows: handing a batch's feed rows over
 * made each wake record them while the projector's batch waited, which doubled webhook latency
 * (BENCHMARKS.md). A wake only arms the object's alarm, so this costs one RPC each. A failed wake
 * does not fail the batch (its events are committed): the object's next wake, or the cron's sweep
 * (src/index.ts), reads the feed from its own checkpoint, so nothing is lost, only later.
 */
export async function wakeSubscriptions(env: Env, { mail = true } = {}): Promise<void> {
  let ids: string[] = [];
  try {
    ids = await activeSubscriptions(env);
  } catch (error) {
    log("warn", "could not list subscriptions to wake", { error: String(error) });
  }
  const results = await Promise.allSettled([...(mail ? [MAIL] : []), ...ids].map((id) => subscription(env, id).wake()));
  const failed = results.filter((result) => result.status === "rejected").length;
  if (failed > 0) log("warn", "subscriptions not woken; their alarms or the sweep catch up", { failed });
}

/**
 * An erasure reaches the deliveries built before it: every subscription (paused or disabled ones
 * too, and the mail's) swaps the events it still holds of these users for the feed's erased rows.
 * Called after the batch that erased them committed (the feed's rows are rewritten by then). A
 * subscription that cannot be reached keeps its copies until they are sent or dead, as the erasure
 * receipt says; it is logged.
 */
export async function forgetInSubscriptions(env: Env, userIds: readonly string[]): Promise<void> {
  if (userIds.length === 0) return;
  let ids: string[] = [];
  try {
    ids = (await env.DB.prepare(EVERY).bind(MAX_WAKES).all<{ id: string }>()).results.map((row) => row.id);
  } catch (error) {
    log("warn", "could not list subscriptions to reach with an erasure", { error: String(error) });
  }
  const calls = [MAIL, ...ids].flatMap((id) => userIds.map((userId) => subscription(env, id).forget(userId)));
  const failed = (await Promise.allSettled(calls)).filter((result) => result.status === "rejected").length;
  if (failed > 0) log("warn", "an erasure did not reach some subscriptions' held deliveries", { failed });
}

/**
 * After events of these streams reached the feed (a projector's batch, an import's step): the held
 * deliveries of the users erased among them are forgotten, then the subscriptions are woken (the
 * mail's when `mail`).
 */
export async function feedGrew(
  env: Env,
  streams: readonly { userId: string; events: readonly { event_type: string }[] }[],
  { mail }: { mail: boolean },
): Promise<void> {
  const erased = streams.filter((s) => s.events.some((e) => e.event_type === "USER_ERASED")).map((s) => s.userId);
  await forgetInSubscriptions(env, erased);
  if (streams.some((s) => s.events.length > 0)) await wakeSubscriptions(env, { mail });
}
