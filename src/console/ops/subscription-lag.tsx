import type { Subscription } from "../admin-api";
import { Busy, ColumnHeads, ErrorNotice, Link } from "../components";
import type { Polled } from "./poll";
import { SubscriptionCells } from "./subscription-parts";

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
          <ColumnHeads names={["Subscription", "Status", "Lag", "Last delivery"]} />
          <tbody>
            {rows.map((sub) => (
              <tr data-subscription={sub.id}>
                <SubscriptionCells sub={sub} />
              </tr>
            ))}
          </tbody>
        </table>
        {subs.data !== null && rows.length === 0 && <p class="empty">No webhook subscription.</p>}
      </Busy>
    </section>
  );
}
