import type { Delivery, DeliveryPage, Subscription, SubscriptionPage } from "../admin-api";
import { api } from "../api";
import { Link, Time } from "../components";
import { duration } from "../format";

/**
 * What the subscriptions page, a subscription's page and the operations page share: the list with
 * each subscription's troubles counted, and the small pieces that show a subscription's state.
 */

/** Deliveries read per state to count the troubles: more than this shows as "500+". */
const COUNT_LIMIT = 500;

export interface Troubles {
  /** Pending deliveries that have failed at least once (retrying). */
  failing: number;
  dead: number;
  /** More than COUNT_LIMIT in a state: the counts are lower bounds. */
  more: boolean;
}

export interface Listed {
  sub: Subscription;
  troubles: Troubles;
}

/** A subscription's failing and dead deliveries, counted from its pending and dead lists. */
export async function troubles(id: string): Promise<Troubles> {
  const [pending, dead] = await Promise.all(
    (["pending", "dead"] as const).map((state) =>
      api<DeliveryPage>(`/admin/subscriptions/${id}/deliveries?state=${state}&limit=${COUNT_LIMIT}`),
    ),
  );
  return {
    failing: (pending?.results ?? []).filter(isFailing).length,
    dead: dead?.results.length ?? 0,
    more: pending?.next_cursor != null || dead?.next_cursor != null,
  };
}

export const isFailing = (delivery: Delivery) => delivery.state === "pending" && delivery.attempts > 0;

/** Every subscription (the first 100: a console is not where thousands are managed). */
export async function listSubscriptions(): Promise<Subscription[]> {
  return (await api<SubscriptionPage>("/admin/subscriptions?limit=100")).results;
}

/** The list with each subscription's troubles, for the subscriptions page. */
export async function listWithTroubles(): Promise<Listed[]> {
  const subs = await listSubscriptions();
  return Promise.all(subs.map(async (sub) => ({ sub, troubles: await troubles(sub.id) })));
}

/** How a subscription is named on a page: its description, else its URL's host and path. */
export function subscriptionName(sub: Subscription): string {
  if (sub.description) return sub.description;
  if (!sub.url) return sub.id;
  try {
    const url = new URL(sub.url);
    return `${url.host}${url.pathname === "/" ? "" : url.pathname}`;
  } catch {
    return sub.url;
  }
}

const STATUS_TEXT: Record<Subscription["status"], string> = {
  active: "active",
  paused: "paused",
  disabled: "disabled (410 Gone)",
};

export function SubscriptionStatus({ status }: { status: Subscription["status"] }) {
  return <span class={`badge sub-${status}`}>{STATUS_TEXT[status]}</span>;
}

/** "3 events behind, oldest owed waits 12.4 s", or "caught up". */
export function Lag({ sub }: { sub: Subscription }) {
  const { events_behind: behind, oldest_undelivered_at: oldest } = sub.lag;
  if (behind === 0 && oldest === null) return <span class="ok-text">caught up</span>;
  return (
    <span>
      {behind} {behind === 1 ? "event" : "events"} behind
      {oldest && <>, oldest owed waits {duration(Math.max(0, Date.now() - Date.parse(oldest)))}</>}
    </span>
  );
}

export function LastDelivery({ sub }: { sub: Subscription }) {
  const last = sub.last_delivery;
  if (!last) return <span class="muted">none yet</span>;
  const ok = last.status_code !== null && last.status_code >= 200 && last.status_code < 300;
  return (
    <span>
      <Time iso={last.at} />{" "}
      <span class={ok ? "ok-text" : "danger-text"}>
        {last.status_code === null ? "no answer" : `HTTP ${last.status_code}`}
      </span>{" "}
      in {duration(last.ms)}
    </span>
  );
}

export function TroubleCount({ troubles: t }: { troubles: Troubles }) {
  if (t.failing === 0 && t.dead === 0) return <span class="muted">none</span>;
  const plus = t.more ? "+" : "";
  return (
    <span class="danger-text">
      {t.failing}
      {plus} retrying, {t.dead}
      {plus} dead
    </span>
  );
}

/** The first cells of a subscription's row: its name (linking to its page), status, lag and last delivery. */
export function SubscriptionCells({ sub, showUrl = false }: { sub: Subscription; showUrl?: boolean }) {
  const name = <Link href={`/console/subscriptions/${sub.id}`}>{subscriptionName(sub)}</Link>;
  return (
    <>
      <th scope="row" data-label="Subscription">
        {showUrl ? (
          <div>
            {name}
            <span class="sub-url">{sub.url}</span>
          </div>
        ) : (
          name
        )}
      </th>
      <td data-label="Status">
        <SubscriptionStatus status={sub.status} />
      </td>
      <td data-label="Lag">
        <Lag sub={sub} />
      </td>
      <td data-label="Last delivery">
        <LastDelivery sub={sub} />
      </td>
    </>
  );
}
