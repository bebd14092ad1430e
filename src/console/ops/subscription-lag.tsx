import type { Subscription } from "../admin-api";
import { Busy, ErrorNotice, Link } from "../components";
import type { Polled } from "./poll";
import { LastDelivery, Lag, SubscriptionStatus, subscriptionName } from "./subscription-parts";

/**
 * The operations page's view of the webhook subscriptions: how far behind the feed's end each one
 * is. Their deliveries and what to do about them are on the Subscriptions page.
 */
export function SubscriptionLag({ subs }: { subs: Polled<Subscription[]> }) {
  const rows = subs.data ?? [];
  return (
    <section class="card" aria-labelledby="sub-lag-heading">
      <div class="timeline-head">
        <h2 id="sub-lag-heading">Subscriptions</h2>
        <Link href="/console/subscriptions">Deliveries, pause, replay: the Subscriptions page</Link>
      </div>
      <ErrorNotice error={subs.error} />
      <Busy busy={subs.data === null} class="table-wrap flat">
        <table class="stacked sub-lag">
          <caption class="visually-hidden">Lag of each webhook subscription behind the feed</caption>
          <thead>
            <tr>
              <th scope="col">Subscription</th>
              <th scope="col">Status</th>
              <th scope="col">Lag</th>
              <th scope="col">Last delivery</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((sub) => (
              <tr data-subscription={sub.id}>
                <th scope="row" data-label="Subscription">
                  <Link href={`/console/subscriptions/${sub.id}`}>{subscriptionName(sub)}</Link>
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
              </tr>
            ))}
          </tbody>
        </table>
        {subs.data !== null && rows.length === 0 && <p class="empty">No webhook subscription.</p>}
      </Busy>
    </section>
  );
}
