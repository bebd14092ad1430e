import { Busy, ColumnHeads, ErrorNotice, Refreshed, Time } from "../components";
import { NewSubscription } from "../ops/new-subscription";
import { usePoll } from "../ops/poll";
import { SubscriptionCells, TroubleCount, listWithTroubles } from "../ops/subscription-parts";

/** As often as the operations page: a retry or a drained backlog shows without a reload. */
export const REFRESH_MS = 2_000;

/**
 * The webhook subscriptions (`/admin/subscriptions`): per subscription its status, how far behind
 * the feed's end it is, its last delivery and how many deliveries are retrying or dead; each links
 * to its own page (deliveries, pause, replay, redeliver, delete). A new one can be created here.
 */
export function SubscriptionsPage() {
  const list = usePoll(listWithTroubles, REFRESH_MS);
  const rows = list.data ?? [];

  return (
    <main id="main" class="page subscriptions">
      <header class="user-head">
        <h1>Subscriptions</h1>
        <Refreshed at={list.at} everyMs={REFRESH_MS} />
      </header>
      <p class="muted">
        Webhooks that receive the feed's events, signed, in each user's order, retried until they are dead. The welcome
        mail travels the same way but is not listed here.
      </p>
      <ErrorNotice error={list.error} />
      <section class="card" aria-labelledby="subs-heading">
        <h2 id="subs-heading">Webhooks</h2>
        <Busy busy={list.data === null} class="table-wrap flat">
          <table class="stacked subs">
            <caption class="visually-hidden">
              Each subscription's status, lag behind the feed, last delivery and troubled deliveries
            </caption>
            <ColumnHeads names={["Subscription", "Status", "Lag", "Last delivery", "Failing deliveries"]} />
            <tbody>
              {rows.map(({ sub, troubles }) => (
                <tr data-subscription={sub.id} class={`sub-row-${sub.status}`}>
                  <SubscriptionCells sub={sub} showUrl />
                  <td data-label="Failing">
                    <div>
                      <TroubleCount troubles={troubles} />
                      {sub.failing_since && (
                        <span class="sub-url">
                          failing since <Time iso={sub.failing_since} />
                        </span>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.data !== null && rows.length === 0 && <p class="empty">No subscription yet.</p>}
        </Busy>
      </section>
      <NewSubscription onCreated={list.refresh} />
    </main>
  );
}
